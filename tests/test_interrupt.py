"""kill -9 in the middle of convert, simulate, analyze and train.

Each test starts the command in a child process over a previous output (``--overwrite``),
waits until the child has written part of the new one (chunks in the record, epochs in
the checkpoint: polled, not slept), kills it with SIGKILL, then checks that (a) the
previous output is byte for byte intact, (b) nothing else sits under the final name, and
(c) ``--resume`` finishes with the same result as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import symbreak
from symbreak.cli import main
from symbreak.storage.atomic import RECORD_NAME, TEMP_MARK, ChunkRecord, partial_path, partial_store
from symbreak.storage.lock import LOCK_NAME
from symbreak.storage.safe_output import make_marked_folder

TESTS = Path(__file__).parent


def _helper(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree_hash(path: Path) -> str:
    """SHA-256 over the relative names and bytes of every file under ``path``."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        digest.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def kill_when(args: list[str], ready: Callable[[], bool], env: dict | None = None,
              timeout: float = 300.0) -> None:
    """Run ``symbreak ARGS`` in a child and SIGKILL it as soon as ``ready()``; fail if the
    child ends (or the timeout passes) first."""
    child = subprocess.Popen([sys.executable, "-m", "symbreak", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "SYMBREAK_PROGRESS": "0", **(env or {})})
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if child.poll() is not None:
                pytest.fail(f"the child ended (status {child.returncode}) before it could "
                            f"be killed mid-way: {child.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the child wrote nothing to interrupt within the timeout")
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def chunks_done(store: Path) -> int:
    record = ChunkRecord.read(store / RECORD_NAME)
    return 0 if record is None else len(record["done"])


def resumed_count(err: str) -> tuple[int, int]:
    """(chunks kept, chunks in all) from the resume message."""
    match = re.search(r"resuming: (\d+) of (\d+) chunks", err)
    assert match, err
    return int(match[1]), int(match[2])


# ----------------------------------------------------------------------------- convert
def test_convert_killed_then_resumed(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = rng.poisson(30, (64, 80, 64, 64)).astype(np.uint16)  # 42 MB
    np.save(tmp_path / "in.npy", data)
    np.save(tmp_path / "old.npy", data[:2, :2])
    out, ref = tmp_path / "out.zarr", tmp_path / "ref.zarr"
    assert main(["convert", str(tmp_path / "old.npy"), str(out)]) == 0
    before = tree_hash(out)
    options = ["--bin", "2", "--chunks", "4,80,-1,-1", "--no-progress"]  # 16 chunks
    partial = partial_store(out)

    kill_when(["convert", str(tmp_path / "in.npy"), str(out), "--overwrite", *options],
              lambda: chunks_done(partial) >= 1)

    assert tree_hash(out) == before  # (a) the previous output is intact
    names = {p.name for p in tmp_path.iterdir()}  # (b) nothing else under a final name
    assert names <= {"in.npy", "old.npy", "out.zarr", partial_path(out).name, "out.zarr.lock"}
    done = chunks_done(partial)
    assert 1 <= done < 16

    # a resume against other settings is refused and keeps the partial store
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "in.npy"), str(out), "--overwrite", "--resume",
                 "--bin", "4", "--chunks", "4,80,-1,-1", "--no-progress"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert chunks_done(partial) == done

    assert main(["convert", str(tmp_path / "in.npy"), str(out), "--overwrite", "--resume",
                 *options]) == 0
    kept, total = resumed_count(capsys.readouterr().err)
    assert (kept, total) == (done, 16)
    assert main(["convert", str(tmp_path / "in.npy"), str(ref), *options]) == 0

    # (c) the same bytes as an independent binning and as an uninterrupted conversion
    truth = data.reshape(64, 80, 32, 2, 32, 2).sum(axis=(3, 5), dtype=np.uint32)
    got = symbreak.load(out).to_numpy()
    assert got.dtype == np.uint32 and np.array_equal(got, truth)
    assert np.array_equal(symbreak.load(ref).to_numpy(), truth)
    attrs = [json.loads((p / "zarr.json").read_text())["attributes"]["symbreak"]
             for p in (out, ref)]
    for info in attrs:  # the resumed store keeps the killed run's provenance times
        info["provenance"] = [{k: v for k, v in step.items() if k != "time"}
                              for step in info["provenance"]]
    assert attrs[0] == attrs[1]
    assert {p.name for p in tmp_path.iterdir()} == {"in.npy", "old.npy", "out.zarr", "ref.zarr"}


def test_leftover_without_resume_is_replaced_and_hdf5_cannot_resume(tmp_path, capsys,
                                                                    monkeypatch):
    from symbreak.errors import SettingsError
    from symbreak.io import stream

    data = np.arange(4 * 5 * 6 * 6, dtype=np.uint16).reshape(4, 5, 6, 6)
    out = tmp_path / "out.zarr"
    original, written = stream._write_chunk, []

    def interrupt_after_two(*args, **kwargs):
        if len(written) >= 2:
            raise KeyboardInterrupt
        original(*args, **kwargs)
        written.append(1)

    monkeypatch.setattr(stream, "_write_chunk", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        stream.write_output(symbreak.as_dataset(data), out, chunks=(1, 5, 6, 6))
    monkeypatch.setattr(stream, "_write_chunk", original)
    assert not out.exists() and chunks_done(partial_store(out)) >= 1
    assert "run again with --resume" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="other input"):
        stream.write_output(symbreak.as_dataset(data + 1), out, chunks=(1, 5, 6, 6),
                            resume=True)

    stream.write_output(symbreak.as_dataset(data), out, chunks=(1, 5, 6, 6))
    assert "pass --resume" in capsys.readouterr().err
    assert np.array_equal(symbreak.load(out).to_numpy(), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
    assert not any(p.name == RECORD_NAME for p in out.iterdir())

    with pytest.raises(SettingsError, match="resume needs zarr output"):
        stream.write_output(symbreak.as_dataset(data), tmp_path / "out.h5", resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
    make_marked_folder(partial_path(tmp_path / "out.h5"), "unfinished output")  # killed HDF5
    partial_store(tmp_path / "out.h5").write_bytes(b"\x89HDF half a file")
    stream.write_output(symbreak.as_dataset(data), tmp_path / "out.h5")
    err = capsys.readouterr().err
    assert "replacing the unfinished output" in err and "--resume" not in err
    assert np.array_equal(symbreak.load(tmp_path / "out.h5").to_numpy(), data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "out.zarr"]


# ----------------------------------------------------------------------------- simulate
SIMULATION = {"scan_shape": (8, 8), "scan_step": 0.3, "detector_pixels": 32,
              "max_angle": 40.0, "dose": 1e4, "seed": 3}
SIMULATION_ARGS = ["graphene", "--scan-shape", "8", "8", "--scan-step", "0.3",
                   "--detector-pixels", "32", "--max-angle", "40", "--dose", "1e4",
                   "--seed", "3"]
BUDGET = "256KB"  # one scan row per chunk: 8 chunks to interrupt between


@pytest.mark.slow
def test_simulate_killed_then_resumed_is_bit_identical(tmp_path, capfd):
    from symbreak.engine import budget_scope

    out = tmp_path / "sim.zarr"
    symbreak.save(np.ones((2, 2, 4, 4), np.float32), out)
    before = tree_hash(out)
    partial = partial_store(out)

    kill_when(["simulate", *SIMULATION_ARGS, "--out", str(out), "--overwrite"],
              lambda: chunks_done(partial) >= 1, env={"SYMBREAK_MEMORY_BUDGET": BUDGET})

    assert tree_hash(out) == before
    assert {p.name for p in tmp_path.iterdir()} <= {"sim.zarr", partial_path(out).name,
                                                  "sim.zarr.lock"}
    done = chunks_done(partial)
    assert 1 <= done < 8
    capfd.readouterr()
    with budget_scope(BUDGET):
        resumed = symbreak.simulate("graphene", out=out, overwrite=True, resume=True,
                                    **SIMULATION)
        reference = symbreak.simulate("graphene", **SIMULATION).to_numpy()
    assert resumed_count(capfd.readouterr().err) == (done, 8)
    got = resumed.to_numpy()
    assert got.shape == (8, 8, 32, 32) and got.sum() > 0
    assert got.tobytes() == reference.tobytes()
    assert {p.name for p in tmp_path.iterdir()} == {"sim.zarr"}


# ----------------------------------------------------------------------------- analyze
ANALYZE = ["--pca-components", "2", "--manifold-size", "3", "--no-report", "--quiet"]


def epochs_done(folder: Path) -> int:
    from symbreak.vae.train import CHECKPOINT, read_checkpoint

    try:
        return len(read_checkpoint(folder / CHECKPOINT)["history"])
    except (OSError, RuntimeError, ValueError, KeyError, EOFError):  # not there yet
        return 0


@pytest.mark.slow
def test_analyze_killed_then_resumed(tmp_path):
    import xarray as xr

    scan = _helper("pipeline_synthetic", TESTS / "pipeline" / "conftest.py").synthetic_scan()
    source = symbreak.save(scan, tmp_path / "scan.zarr")
    run, epochs = tmp_path / "run", 40
    assert main(["analyze", str(source), "--out", str(run), "--epochs", "2", *ANALYZE]) == 0
    finished = {p.name: tree_hash(p) for p in run.iterdir()}

    kill_when(["analyze", str(source), "--out", str(run), "--overwrite", "--epochs",
               str(epochs), *ANALYZE], lambda: epochs_done(run / ".checkpoints") >= 2)

    assert {p.name: tree_hash(p) for p in run.iterdir() if p.name in finished} == finished
    left = {p.name for p in run.iterdir()} - set(finished)
    assert left <= {".checkpoints", LOCK_NAME}, left
    assert not [p for p in run.iterdir() if p.name.startswith(TEMP_MARK)]
    done = epochs_done(run / ".checkpoints")
    assert 2 <= done < epochs

    assert main(["analyze", str(source), "--out", str(run), "--overwrite", "--resume",
                 "--epochs", str(epochs), *ANALYZE]) == 0
    resumed = xr.open_zarr(run / "results.zarr")
    reference = symbreak.analyze(scan, epochs=epochs, pca_components=2, manifold_size=3,
                                 progress=False)
    assert resumed.sizes["epoch"] == reference.sizes["epoch"]
    np.testing.assert_allclose(resumed["history_val_loss"].values,
                               reference["history_val_loss"].values, rtol=1e-6)
    np.testing.assert_allclose(resumed["latent_z"].values, reference["latent_z"].values,
                               rtol=1e-5, atol=1e-6)
    assert {p.name for p in run.iterdir()} == set(finished)


# ----------------------------------------------------------------------------- train
TRAIN = ["--latent-dim", "1", "--hidden", "16", "--batch-size", "32", "--seed", "0",
         "--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.mark.slow
def test_train_killed_then_resumed(tmp_path):
    dipoles = _helper("vae_synthetic", TESTS / "vae" / "vae_synthetic.py")
    rng = np.random.default_rng(1)
    X = dipoles.dipole_patterns(rng.uniform(-np.pi, np.pi, 256), rng.uniform(0, 1, 256),
                                size=16)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    model, ref, epochs = tmp_path / "model", tmp_path / "ref", 16
    data = str(tmp_path / "X.npy")
    assert main(["train", data, "--out", str(model), "--epochs", "1", *TRAIN]) == 0
    before = tree_hash(model)
    checkpoints = tmp_path / "model.checkpoints"

    kill_when(["train", data, "--out", str(model), "--overwrite", "--epochs", str(epochs),
               *TRAIN], lambda: epochs_done(checkpoints) >= 2)

    assert tree_hash(model) == before
    names = {p.name for p in tmp_path.iterdir()}
    # the lock file stays after a kill -9 (the kernel releases the lock itself; the next
    # run takes it over and removes it)
    assert names - {"model.lock"} == {"X.npy", "model", "model.checkpoints"}, names
    done = epochs_done(checkpoints)
    assert 2 <= done < epochs

    assert main(["train", data, "--out", str(model), "--overwrite", "--resume",
                 "--epochs", str(epochs), *TRAIN]) == 0
    assert main(["train", data, "--out", str(ref), "--epochs", str(epochs), *TRAIN]) == 0
    got = json.loads((model / "config.json").read_text())["history"]
    want = json.loads((ref / "config.json").read_text())["history"]
    assert len(got) == len(want) > done
    np.testing.assert_allclose([h["val_loss"] for h in got], [h["val_loss"] for h in want],
                               rtol=1e-6)
    assert not (tmp_path / "model.lock").exists()  # the resumed run removed the stale lock


def test_resume_on_a_dask_cluster(tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    from symbreak.io import stream

    data = np.random.default_rng(2).integers(0, 500, (6, 4, 8, 8)).astype(np.int32)
    out = tmp_path / "out.zarr"
    original, written = stream._write_chunk, []

    def interrupt_after_two(*args, **kwargs):
        if len(written) >= 2:
            raise KeyboardInterrupt
        written.append(original(*args, **kwargs))

    monkeypatch.setattr(stream, "_write_chunk", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        stream.write_output(symbreak.as_dataset(data), out, chunks=(1, 4, 8, 8))
    monkeypatch.setattr(stream, "_write_chunk", original)
    record = ChunkRecord.read(partial_store(out) / RECORD_NAME)
    assert record is not None and 1 <= len(record["done"]) < 6
    finished, as_completed = [], distributed.as_completed  # futures recorded here

    def recorded(futures):
        for future in as_completed(futures):
            finished.append(future)
            yield future

    monkeypatch.setattr(distributed, "as_completed", recorded)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=":0"):
        stream.write_output(symbreak.as_dataset(data), out, chunks=(1, 4, 8, 8), resume=True)
    assert resumed_count(capsys.readouterr().err) == (len(record["done"]), 6)
    assert len(finished) == 6 - len(record["done"])
    assert np.array_equal(symbreak.load(out).to_numpy(), data)



def test_the_chunk_record_saves_by_count_and_takes_no_marks_once_closed(tmp_path, monkeypatch):
    saves = []
    record = ChunkRecord(tmp_path / RECORD_NAME, {"input": "x"}, (8, 16))  # 128 chunks
    monkeypatch.setattr(record, "_save", lambda: saves.append(len(record.done)))
    for number in range(10):
        record.mark(number)
    assert saves == [2, 4, 6, 8, 10]  # every 128 // 64 chunks, whatever the clock says
    record.close()
    record.mark(10)
    assert saves[-1] == 10 and 10 not in record.done
