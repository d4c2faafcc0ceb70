"""Saving with out=, the command line, and the lazy, chunked graph of a large scan."""

import numpy as np
import pytest

import symbreak
from symbreak.engine import budget_bytes
from symbreak.cli import main
from symbreak.errors import OutputExistsError

TINY = ["--scan-shape", "2", "3", "--scan-step", "0.3", "--detector-pixels", "32",
        "--max-angle", "40"]


def test_out_writes_and_returns_the_saved_data(tmp_path):
    options = dict(scan_shape=(2, 3), scan_step=0.3, detector_pixels=32, max_angle=40.0,
                   defect="vacancy")
    memory = symbreak.simulate("graphene", **options)
    saved = symbreak.simulate("graphene", out=tmp_path / "v.zarr", **options)
    assert saved.source is not None and saved.shape == memory.shape
    np.testing.assert_array_equal(saved.to_numpy(), memory.to_numpy())
    assert saved.calibration == memory.calibration
    for name in ("site_label", "distance_to_defect", "atom_x", "defect_kind"):
        np.testing.assert_array_equal(np.asarray(saved.ground_truth[name]),
                                      np.asarray(memory.ground_truth[name]))
    assert saved.ground_truth.site_label.attrs["labels"] == memory.ground_truth.site_label.attrs["labels"]
    with pytest.raises(OutputExistsError):
        symbreak.simulate("graphene", out=tmp_path / "v.zarr", **options)
    symbreak.simulate("graphene", out=tmp_path / "v.zarr", overwrite=True, seed=1,
                      dose=100.0, **options)


def test_cli_simulate_and_list(tmp_path, capsys):
    assert main(["simulate", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("graphene-cell", "graphene-cell-incoherent", "graphene-vacancy",
                 "graphene-si", "zns-110"):
        assert name in listed
    out = tmp_path / "cli.zarr"
    assert main(["simulate", "graphene", "--out", str(out), "--dose", "1e4", "--seed", "3",
                 "--defect", "Si", *TINY]) == 0
    data = symbreak.load(out)
    api = symbreak.simulate("graphene", dose=1e4, seed=3, defect="Si", scan_shape=(2, 3),
                            scan_step=0.3, detector_pixels=32, max_angle=40.0)
    assert data.to_numpy().tobytes() == api.to_numpy().tobytes()
    assert main(["simulate", "graphene", "--out", str(out), *TINY]) == 2  # exists
    assert "overwrite" in capsys.readouterr().err
    assert main(["simulate", "graphene", "--out", str(tmp_path / "x.zarr"),
                 "--energy", "-1"]) == 2
    assert "energy" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_large_scan_is_lazy_and_chunked_within_budget():
    # abTEM issue #230: 128 x 128 probes of 128 x 128 px ran out of memory. Here the graph
    # is built without computing; chunks of whole patterns keep each task small (the
    # streaming run itself is in bench/bench_simulate.py).
    data = symbreak.simulate("graphene", scan_shape=(128, 128), scan_step=0.2,
                             detector_pixels=128, max_angle=64.0, dose=1e5)
    assert data.is_lazy and data.shape == (128, 128, 128, 128)
    chunk_bytes = max(data.array.chunks[0]) * max(data.array.chunks[1]) * 128 * 128 * 4
    assert chunk_bytes < budget_bytes() / 8
    assert data.array.numblocks[0] * data.array.numblocks[1] > 4
