"""A results folder written by hand (no training): the report must read only this."""

import json
import warnings

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.analysis.settings import AnalyzeSettings

NY, NX, K = 12, 14, 16
STEP = 0.25


STRIDE = 2  # the explorer keeps every 2nd probe position
EXPLORER = ("explorer_y", "explorer_x")
EXPLORER_ATTRS = {"units": "1", "low": -0.5, "high": 1.5, "stride": STRIDE, "levels": 255}


def explorer_codes(rng: np.random.Generator) -> np.ndarray:
    """8-bit patterns at every STRIDE-th probe position: random, so that every pixel of a
    drawn pattern tells which position it came from."""
    return rng.integers(0, 256, size=(-(-NY // STRIDE), -(-NX // STRIDE), K, K), dtype=np.uint8)


def fake_results() -> xr.Dataset:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:NY, :NX] * STEP
    angle = np.arctan2(y - 1.5, x - 1.7)
    mag = np.hypot(y - 1.5, x - 1.7)
    scan = ("scan_y", "scan_x")
    settings = AnalyzeSettings.from_options(crop=K, bf=(0, 9), adf=(13, 20), detector_units="mrad")
    v = {
        "raw_mean_pattern": (("detector_ky", "detector_kx"), rng.random((24, 24)) + 1, {"units": "counts"}),
        "mean_pattern": (("ky", "kx"), rng.random((K, K)), {"units": "counts"}),
        "bf": (scan, 100 - mag, {"units": "counts"}),
        "adf": (scan, mag, {"units": "counts"}),
        "com_x": (scan, mag * np.cos(angle), {"units": "mrad"}),
        "com_y": (scan, mag * np.sin(angle), {"units": "mrad"}),
        "com_magnitude": (scan, mag, {"units": "mrad"}),
        "com_angle": (scan, angle, {"units": "rad"}),
        "pca_scores": (("component",) + scan, rng.normal(size=(3, NY, NX)), {"units": "a.u."}),
        "pca_components": (("component", "ky", "kx"), rng.normal(size=(3, K, K)), {"units": "a.u."}),
        "pca_explained_variance_ratio": ("component", [0.5, 0.3, 0.1], {"units": "1"}),
        "latent_angle": (scan, angle, {"units": "rad"}),
        "latent_z": (("latent",) + scan, rng.normal(size=(2, NY, NX)), {"units": "1"}),
        "latent_z_sd": (("latent",) + scan, rng.random((2, NY, NX)), {"units": "1"}),
        "reconstruction_error": (scan, rng.random((NY, NX)), {"units": "intensity^2"}),
        "manifold": (("manifold_y", "manifold_x", "ky", "kx"), rng.random((9, 9, K, K)), {"units": "a.u."}),
        "history_train_loss": ("epoch", np.linspace(10, 1, 5), {"units": "a.u."}),
        "history_val_loss": ("epoch", np.linspace(11, 2, 5), {"units": "a.u."}),
        "explorer_pattern": (EXPLORER + ("ky", "kx"), explorer_codes(rng), EXPLORER_ATTRS),
        "explorer_reconstruction": (EXPLORER + ("ky", "kx"), explorer_codes(rng),
                                    EXPLORER_ATTRS),
        "truth_probe_x": (scan, x + 10.0, {"units": "Å"}),
        "truth_probe_y": (scan, y + 20.0, {"units": "Å"}),
        "truth_atom_x": ("atom", [10.5, 11.0, 50.0], {"units": "Å"}),
        "truth_atom_y": ("atom", [20.5, 21.5, 50.0], {"units": "Å"}),
        "truth_atom_number": ("atom", [6, 6, 6], {"units": ""}),
        "truth_defect_x": ("defect", [11.7], {"units": "Å"}),
        "truth_defect_y": ("defect", [21.5], {"units": "Å"}),
    }
    mrad = np.arange(K) * 1.5 - 11.25
    coords = {
        "scan_y": ("scan_y", np.arange(NY) * STEP, {"units": "Å"}),
        "scan_x": ("scan_x", np.arange(NX) * STEP, {"units": "Å"}),
        "ky": ("ky", mrad, {"units": "mrad"}), "kx": ("kx", mrad, {"units": "mrad"}),
        "detector_ky": ("detector_ky", np.arange(24) * 1.5 - 17.25, {"units": "mrad"}),
        "detector_kx": ("detector_kx", np.arange(24) * 1.5 - 17.25, {"units": "mrad"}),
        "explorer_y": ("explorer_y", np.arange(0, NY, STRIDE) * STEP, {"units": "Å"}),
        "explorer_x": ("explorer_x", np.arange(0, NX, STRIDE) * STEP, {"units": "Å"}),
        "manifold_y": ("manifold_y", np.linspace(-1.6, 1.6, 9)),
        "manifold_x": ("manifold_x", np.linspace(-1.6, 1.6, 9)),
    }
    attrs = {
        "input_file": "fake.h5", "input_checksum": "sha256:0", "input_shape": [NY, NX, 24, 24],
        "input_dtype": "float32", "symbreak_version": "0", "created": "now",
        "calibration": json.dumps({"energy": 60e3, "semiangle": 9.0, "angular_sampling": [1.5, 1.5],
                                   "detector_center": [11.5, 11.5]}),
        "settings": settings.to_json(), "versions": json.dumps({"numpy": np.__version__}),
        "provenance": json.dumps([{"step": "crop", "size": K}]),
        "timings": json.dumps({"COM": 0.1, "rrVAE": 2.0}),
    }
    return xr.Dataset(v, coords=coords, attrs=attrs)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """A results folder with its report already written (drawing takes seconds)."""
    folder = tmp_path_factory.mktemp("results")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr 3: consolidated metadata not in the spec
        fake_results().to_zarr(folder / "results.zarr", consolidated=True)
    symbreak.report(folder)
    return folder


def _with_site_classes(results: xr.Dataset) -> xr.Dataset:
    """A site-classes stage's outputs added by hand (a 1-epoch fit fails, so analyze
    leaves them out): two classes of two sites each."""
    from symbreak.analysis import sites_stage as T

    latent = np.array([[0.0, 0.1], [0.05, 0.1], [1.0, -1.0], [1.1, -0.9]])
    labels = np.array([0, 0, 1, 1])
    classes = np.zeros(tuple(results.sizes[d] for d in ("scan_y", "scan_x")), int)
    classes[::2] = 1
    distance = np.abs(latent[:, None, 0] - latent[None, :, 0])
    return results.assign({
        T.CLASS_MAP: (("scan_y", "scan_x"), classes, {"statement": "2 distinct classes"}),
        T.SITE_Y: ("site", [0.2, 0.7, 1.2, 1.7], {"units": "Å"}),
        T.SITE_X: ("site", [0.3, 0.8, 1.3, 1.8], {"units": "Å"}),
        T.SITE_CLASS: ("site", labels), T.SITE_ADF: ("site", [1.0, 1.1, 2.0, 2.1],
                                                     {"units": "intensity"}),
        T.SITE_LATENT: (("site", "descriptor"), latent),
        T.SITE_NOISE: (("site", "descriptor"), np.full((4, 2), 0.05)),
        T.SITE_DISTANCE: (("site", "other_site"), distance),
        T.CLASS_LATENT: (("class", "descriptor"), np.array([[0.02, 0.1], [1.05, -0.95]])),
        T.CLASS_DISTANCE: (("class", "other_class"), np.array([[0.0, 20.0], [20.0, 0.0]])),
        T.THRESHOLD: ((), 4.0),
    })


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory) -> xr.Dataset:
    """The results of a real ``symbreak analyze`` of a tiny scan (8 x 9 positions, 1
    epoch, a given lattice so that the symmetry stage runs), plus site classes."""
    import importlib.util
    from pathlib import Path

    from symbreak.cli import main

    # tests/pipeline's small synthetic scan
    spec = importlib.util.spec_from_file_location(
        "pipeline_scan", Path(__file__).parents[1] / "pipeline" / "conftest.py")
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)

    folder = tmp_path_factory.mktemp("analyzed")
    np.save(folder / "scan.npy", pipeline.synthetic_scan().array)
    (folder / "settings.toml").write_text("[vae]\nepochs = 1\nrestarts = 0\nmanifold_size = 3\n"
                                          "[pca]\npca_components = 2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["analyze", str(folder / "scan.npy"), "--out", str(folder / "out"),
                       "--config", str(folder / "settings.toml"), "--crop", "16",
                       "--scan-step", "0.5", "--lattice", "2,0,0,2.25", "--no-report",
                       "--quiet"])
    assert status == 0
    with xr.open_zarr(folder / "out" / "results.zarr") as results:
        return _with_site_classes(results.load())
