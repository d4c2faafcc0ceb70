"""Training under ``torchrun --nproc_per_node 2`` (CPU, gloo) with DistributedDataParallel
against one process: same global batch, so the same optimisation up to which patterns share
a batch and the latent noise; the validation loss agrees within 5 %."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbreak.vae import RotationalVAE

pytestmark = pytest.mark.slow
EPOCHS = 6


def _patterns(path: Path) -> Path:
    """800 off-centre Gaussian spots at random angles (24 x 24 px)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24] - 11.5
    a = rng.uniform(-np.pi, np.pi, 800)
    spots = np.exp(-((xx[None] - 5 * np.cos(a)[:, None, None]) ** 2
                     + (yy[None] - 5 * np.sin(a)[:, None, None]) ** 2) / 8)
    np.save(path, spots.astype(np.float32))
    return path


def _train(data: Path, out: Path, nproc: int, *extra: str) -> subprocess.CompletedProcess:
    args = ["train", str(data), "--out", str(out), "--epochs", str(EPOCHS), "--seed", "0",
            "--no-progress", "--checkpoint-dir", str(out) + ".ckpt", "--restarts", "0",
            *extra]  # 6 epochs are too few for a fit: no restarts in these mechanics tests
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if nproc == 1:
        command = [sys.executable, "-m", "symbreak", *args]
    else:
        assert torchrun, "torchrun is installed with torch"
        command = [torchrun, "--standalone", f"--nproc_per_node={nproc}", "-m", "symbreak",
                   *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    data = _patterns(base / "spots.npy")
    done = {n: _train(data, base / f"model{n}", n) for n in (1, 2)}
    done["1s"] = _train(data, base / "model1s", 1, "--streaming", "on")
    done["2s"] = _train(data, base / "model2s", 2, "--streaming", "on")
    for n, run in done.items():
        assert run.returncode == 0, (n, run.stderr[-3000:])
    return base, done


def test_two_process_ddp_matches_one_process(runs):
    base, _ = runs
    one = RotationalVAE.load(base / "model1")
    two = RotationalVAE.load(base / "model2")
    assert one.n_epochs_ == two.n_epochs_ == EPOCHS
    assert two.best_validation_loss_ == pytest.approx(one.best_validation_loss_, rel=0.05)
    first = [h["val_loss"] for h in (one.history_[0], two.history_[0])]
    assert first[1] == pytest.approx(first[0], rel=0.05)


def test_two_process_ddp_streaming_matches_one_process(runs):
    """Each process streams its own share of the chunks through a DataLoader worker; the
    reference is one process streaming (it drops the same last partial batches)."""
    base, _ = runs
    one = RotationalVAE.load(base / "model1s")
    streamed = RotationalVAE.load(base / "model2s")
    assert streamed.n_epochs_ == EPOCHS
    assert streamed.best_validation_loss_ == pytest.approx(one.best_validation_loss_,
                                                           rel=0.10)


def test_only_rank_zero_writes(runs):
    base, done = runs
    assert done[2].stdout.count("model saved to") == 1
    assert sorted(p.name for p in (base / "model2").iterdir()) == [
        ".symbreak-output", ".symbreak-owner.json", "config.json",
        "model.safetensors"]  # the marker and its proof: symbreak wrote it
    ckpt = sorted(p.name for p in (base / "model2.ckpt").iterdir())
    assert ckpt == ["checkpoint.pt"]  # no per-rank or temporary files
    config = json.loads((base / "model2" / "config.json").read_text())
    assert config["data"]["n_train"] + config["data"]["n_validation"] == 800


def test_ddp_resume_refuses_another_process_count(runs, tmp_path):
    base, _ = runs
    shutil.copytree(base / "model2.ckpt", tmp_path / "m.ckpt")
    run = _train(base / "spots.npy", tmp_path / "m", 1, "--resume")
    assert run.returncode != 0
    assert "same number" in run.stderr and "Traceback" not in run.stderr
