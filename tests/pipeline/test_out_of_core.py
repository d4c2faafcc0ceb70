"""A data set 1.6x larger than a hard memory cap goes through ``symbreak analyze``.

The cap is a Linux memory cgroup (v1 or v2) around the analysis process: exceeding it gets
the process killed by the kernel, so finishing is the proof. Its results on a few scan rows
equal the same stages run in memory on those rows alone. Needs root (to make a cgroup);
skipped elsewhere.
"""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr
import xarray as xr

import symbreak
from symbreak import preprocess as pp
from symbreak.dataset import Dataset4D
from symbreak.preprocess.settings import PreprocessSettings

pytestmark = pytest.mark.slow

CAP = 1024 * 2**20  # bytes the analysis process may use
SCAN, K = 320, 64  # 320 x 320 scan of 64 x 64 float32: 1.68 GB, 1.6 x the cap
BUDGET = "256MB"
SUBSET = slice(100, 104)


def _cgroup_root() -> tuple[Path, str, str] | None:
    """(parent folder, limit file, procs file) of a writable memory cgroup hierarchy."""
    v1 = Path("/sys/fs/cgroup/memory")
    if (v1 / "memory.limit_in_bytes").exists() and os.access(v1, os.W_OK):
        return v1, "memory.limit_in_bytes", "cgroup.procs"
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").exists() and os.access(v2, os.W_OK) and \
            "memory" in (v2 / "cgroup.subtree_control").read_text():
        return v2, "memory.max", "cgroup.procs"
    return None


@contextlib.contextmanager
def memory_cgroup(limit: int):
    root = _cgroup_root()
    if root is None:
        pytest.skip("no writable memory cgroup (needs root on Linux)")
    parent, limit_file, procs = root
    group = parent / f"symbreak-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / limit_file).write_text(str(limit))
        swap = group / "memory.memsw.limit_in_bytes"
        if swap.exists():
            with contextlib.suppress(OSError):
                swap.write_text(str(limit))
        yield group / procs
    finally:
        group.rmdir()


def _write_scan(path: Path) -> None:
    """A bright-field disk deflected by a smooth field, written one scan row at a time."""
    ky, kx = np.mgrid[:K, :K].astype(np.float32) - (K - 1) / 2
    store = zarr.create_array(str(path / "data.zarr"), shape=(SCAN, SCAN, K, K), chunks=(4, SCAN, K, K),
                              dtype=np.float32, compressors=None, zarr_format=3)
    rng = np.random.default_rng(0)
    cols = np.arange(SCAN)
    for row in range(0, SCAN, 4):
        block = np.empty((4, SCAN, K, K), np.float32)
        for i in range(4):
            dy = 2 * np.sin(2 * np.pi * (row + i) / 40)
            dx = 2 * np.cos(2 * np.pi * cols / 40)
            r = np.sqrt((ky[None] - dy) ** 2 + (kx[None] - dx[:, None, None]) ** 2)
            block[i] = 100 / (1 + np.exp((r - 12) * 2))
        block += rng.random(block.shape, dtype=np.float32) * 5
        store[row:row + 4] = block


@pytest.fixture(scope="module")
def big_scan(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    _write_scan(folder)
    return folder / "data.zarr"


def test_analysis_of_data_larger_than_the_memory_cap(big_scan, tmp_path):
    size = SCAN * SCAN * K * K * 4
    assert size >= 1.5 * CAP
    out = tmp_path / "out"
    command = [sys.executable, "-m", "symbreak", "analyze", str(big_scan), "--out", str(out),
               "--memory-budget", BUDGET, "--epochs", "1", "--com-reference", "center",
               "--energy", "80000", "--semiangle", "20", "--angular-sampling", "1",
               "--scan-step", "0.2", "--detector-center", "31.5,31.5", "--no-report", "--quiet"]
    log = tmp_path / "stderr.txt"
    with memory_cgroup(CAP) as procs, open(log, "w") as err:
        def join() -> None:
            procs.write_text(str(os.getpid()))
        child = subprocess.Popen(command, preexec_fn=join, stdout=subprocess.DEVNULL,
                                 stderr=err, env={**os.environ, "SYMBREAK_PROGRESS": "0"})
        _, status, usage = os.wait4(child.pid, 0)  # the peak of this child alone
        child.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024
    assert child.returncode == 0, (child.returncode, log.read_text()[-3000:])
    assert 0 < peak < CAP
    results = xr.open_zarr(out / "results.zarr")
    assert results.attrs["rrvae_streamed"] == 1
    print("peak RSS", peak / 2**20, "MiB; per stage", results.attrs["peak_memory_mib"])

    # the same stages in memory on four scan rows alone
    data = symbreak.load(big_scan, energy=80000, semiangle=20, angular_sampling=1,
                         scan_step=0.2, detector_center=(31.5, 31.5))
    sub = Dataset4D(np.asarray(data.to_dask()[SUBSET]), data.calibration)
    settings = json.loads(results.attrs["settings"])
    det = settings["detectors"]
    images = symbreak.virtual_images(sub, detectors={"bf": det["bf"], "adf": det["adf"]},
                                     units=det["detector_units"], progress=False)
    np.testing.assert_allclose(results.bf.values[SUBSET], images["bf"].values, rtol=1e-6)
    com = symbreak.com(sub, reference="center", units="mrad", progress=False)
    np.testing.assert_allclose(results.com_x.values[SUBSET], com["com_x"].values,
                               rtol=1e-5, atol=1e-6)
    model = symbreak.RotationalVAE.load(out / "model")
    pre = pp.preprocess(data, PreprocessSettings(**settings["preprocess"]), progress=False)
    latents = model.transform(np.asarray(pre.to_dask()[SUBSET]))
    np.testing.assert_allclose(results.latent_angle.values[SUBSET],
                               latents.latent_angle.values, atol=1e-4)
    np.testing.assert_allclose(results.latent_z.values[:, SUBSET], latents.latent_z.values,
                               rtol=1e-4, atol=1e-4)
