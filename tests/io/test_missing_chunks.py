"""zarr chunks missing from a store are found when it is opened (issue 22, item 5).

zarr reads a missing chunk as its fill value: a store that lost a chunk in a copy gave
all-zero patterns to ``virtual`` without a word. A store symbreak wrote stores every chunk,
so a missing one is lost data: every command refuses it with the same line (store, count,
first missing scan region, ``--missing-chunks zeros``). Stores from other writers may leave
out chunks equal to the fill value (zarr-python 3's default): warned, read, counted.
"""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr

import symbreak
from symbreak.cli import main
from symbreak.errors import FormatError
from symbreak.io import load
from symbreak.io.guards import untrusted
from symbreak.sanitize import InputWarning, check_input

from .conftest import one_line

SHAPE, CHUNKS = (4, 6, 8, 8), (2, 3, 8, 8)
LOST = (1, 0, 0, 0)  # grid position of the removed chunk: scan_y 2-3, scan_x 0-2
LOST_REGION = "scan_y 2-3, scan_x 0-2"
COMMANDS = {
    "info": [],
    "virtual": ["--out", "v.zarr", "--detector", "bf:0:3", "--units", "px"],
    "com": ["--out", "c.zarr"],
    "decompose": ["--out", "p.zarr"],
    "convert": ["o.zarr"],
    "analyze": ["--out", "a", "--epochs", "1", "--no-report"],
}


def _data() -> np.ndarray:
    return (np.random.default_rng(3).random(SHAPE) * 100 + 1).astype(np.float32)


def _zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return target


def _format2(path: Path, attrs: dict | None) -> Path:
    """A format 2 store as symbreak's zarr-2 writer (or, without ``attrs``, another
    program) makes it: ``data`` with every chunk, "." keys."""
    root = zarr.open_group(str(path), mode="w-", zarr_format=2)
    if attrs is not None:
        root.attrs["symbreak"] = attrs
    array = root.create_array("data", shape=SHAPE, chunks=CHUNKS, dtype=np.float32,
                              fill_value=None)
    array[:] = _data()
    return path


def lost_chunk_store(tmp_path: Path, kind: str) -> Path:
    """A store symbreak wrote (format 3 folder, format 2 folder, zip) missing one chunk."""
    if kind == "v2":
        store = _format2(tmp_path / "s.zarr", {"format": "symbreak-4dstem", "version": 1,
                                               "every_chunk_stored": True})
        (store / "data" / ".".join(map(str, LOST))).unlink()
        return store
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    (store / "data" / "c" / Path(*map(str, LOST))).unlink()
    if kind == "zip":
        target = _zip(store, tmp_path / "s.zip")
        shutil.rmtree(store)
        return target
    return store


@pytest.mark.parametrize("kind", ["v3", pytest.param("v2", marks=pytest.mark.slow),
                                  pytest.param("zip", marks=pytest.mark.slow)])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_a_symbreak_store_with_a_lost_chunk(tmp_path, monkeypatch,
                                                                   capsys, kind, command):
    store = lost_chunk_store(tmp_path, kind)
    monkeypatch.chdir(tmp_path)
    assert main([command, str(store), *COMMANDS[command]]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert error.startswith(f"symbreak {command}: error: {store}: 1 of 4 chunks of array "
                            f"data are missing from the store (first: {LOST_REGION})"), error
    assert "data were lost" in error and "--missing-chunks zeros" in error
    assert not any(p.name != store.name for p in tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["v3", "v2", "zip"])
def test_lost_chunk_read_as_zero_patterns_when_asked(tmp_path, kind):
    store = lost_chunk_store(tmp_path, kind)
    with pytest.warns(InputWarning, match="1 of 4 chunks .* as --missing-chunks zeros asks"):
        ds = load(store, missing_chunks="zeros")
    expected = _data()
    expected[2:4, 0:3] = 0
    np.testing.assert_array_equal(ds.to_numpy(), expected)
    checks = ds.metadata["input_checks"]
    assert (checks["missing_chunks"], checks["chunks_expected"]) == (1, 4)
    assert checks["first_missing_chunk"] == LOST_REGION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        record = check_input(ds, stage="com").metadata["input_checks"]
    assert record["missing_chunks"] == 1 and record["zero_patterns"] == 6


@pytest.mark.parametrize("command", ["virtual", "com", "convert", "info"])
def test_commands_with_missing_chunks_zeros_warn_and_go_on(tmp_path, monkeypatch, command):
    store = lost_chunk_store(tmp_path, "v3")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(InputWarning, match=f"{store}: 1 of 4 chunks of array data are "
                                          f"missing from the store \\(first: {LOST_REGION}"):
        assert main([command, str(store), *COMMANDS[command],
                     "--missing-chunks", "zeros"]) == 0
    if command == "virtual":
        import xarray as xr

        bf = xr.open_zarr(tmp_path / "v.zarr")["bf"].values
        assert (bf[2:4, 0:3] == 0).all() and (bf[:2] > 0).all() and (bf[2:, 3:] > 0).all()
    if command == "convert":
        out = load(tmp_path / "o.zarr")  # complete now: its zeros are stored
        assert out.metadata["input_checks"]["missing_chunks"] == 1
        assert (out.to_numpy()[2:4, 0:3] == 0).all()


@pytest.mark.parametrize("kind", ["v2", "v3", "zip"])
def test_store_of_another_writer_warns_and_counts_by_default(tmp_path, kind):
    """Without symbreak's record, a missing chunk may be one zarr left out because it
    equals the fill value: read, warned, counted; ``refuse`` refuses it."""
    if kind == "v2":
        store = _format2(tmp_path / "f.zarr", None)
        (store / "data" / ".".join(map(str, LOST))).unlink()
    else:
        store = tmp_path / "f.zarr"
        zarr.create_array(str(store), shape=SHAPE, chunks=CHUNKS, dtype=np.float32,
                          fill_value=0, zarr_format=3)[:] = _data()
        (store / "c" / Path(*map(str, LOST))).unlink()
        if kind == "zip":
            store = _zip(store, tmp_path / "f.zip")
    with pytest.warns(InputWarning, match=f"1 of 4 chunks .*first: {LOST_REGION}.* fill "
                                          "value 0"):
        ds = load(store)
    assert ds.metadata["input_checks"]["missing_chunks"] == 1
    assert (ds.to_numpy()[2:4, 0:3] == 0).all()
    with pytest.raises(FormatError) as exc:
        load(store, missing_chunks="refuse")
    one_line(exc, store.name, "1 of 4 chunks", LOST_REGION, "the store is incomplete",
             "--missing-chunks zeros")


def test_abtem_store_names_the_scan_region_in_symbreak_axes(tmp_path):
    """abTEM's axes are (x, y, kx, ky): the region is given as scan_y, scan_x."""
    root = zarr.open_group(str(tmp_path / "a.zarr"), mode="w-", zarr_format=3)
    axes = {f"axis_{i}": {"type": t, "sampling": 0.1, "units": u} for i, (t, u) in
            enumerate([("ScanAxis", "Å")] * 2 + [("ReciprocalSpaceAxis", "mrad")] * 2)}
    root.attrs["metadata0"] = {"axes": axes, "energy": 60e3}
    root.create_array("array0", shape=(6, 4, 8, 8), chunks=(3, 2, 8, 8), dtype=np.float32,
                      fill_value=0)[:] = 1
    (tmp_path / "a.zarr" / "array0" / "c" / "1" / "0" / "0" / "0").unlink()
    with pytest.warns(InputWarning, match="first: scan_y 0-1, scan_x 3-5"):
        ds = load(tmp_path / "a.zarr")
    assert (ds.to_numpy()[0:2, 3:6] == 0).all() and ds.to_numpy().sum() == (24 - 6) * 64


def test_complete_store_loads_without_warning_and_records_nothing(tmp_path):
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load(store, missing_chunks="refuse")
    assert "input_checks" not in ds.metadata


def test_symbreak_stores_every_chunk_even_all_zero_ones(tmp_path):
    """zarr 3 leaves out chunks equal to the fill value; symbreak's writer must not, or a
    legitimate all-zero region would be refused as lost."""
    data = _data()
    data[2:4, 0:3] = 0
    store = symbreak.save(data, tmp_path / "z.zarr", chunks=CHUNKS)
    assert (store / "data" / "c" / Path(*map(str, LOST))).is_file()
    assert json.loads((store / "zarr.json").read_text())["attributes"]["symbreak"][
        "every_chunk_stored"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load(store).to_numpy(), data)


def test_resumed_write_stores_all_zero_chunks_too(tmp_path):
    from symbreak.storage.zarr_compat import writing_every_chunk

    store = symbreak.save(np.ones(SHAPE, np.float32), tmp_path / "r.zarr", chunks=CHUNKS)
    array = writing_every_chunk(zarr.open_group(str(store), mode="r+")["data"])
    (store / "data" / "c" / Path(*map(str, LOST))).unlink()
    array[2:4, 0:3] = 0
    assert (store / "data" / "c" / Path(*map(str, LOST))).is_file()


def test_unknown_missing_chunks_choice_is_refused(tmp_path):
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    with pytest.raises(symbreak.errors.SettingsError, match="missing_chunks must be one of"):
        load(store, missing_chunks="maybe")


# ------------------------------------------------------------------ zip store members
def test_zip_store_chunk_declaring_more_than_a_chunk_is_refused(tmp_path):
    """A deflated chunk member declaring far more than a chunk's bytes (a zip bomb in one
    chunk) is refused when the store is opened, before any chunk is read."""
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    (store / "data" / "c" / Path(*map(str, LOST))).write_bytes(bytes(8 * 2**20))
    target = tmp_path / "s.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())
    with pytest.raises(FormatError) as exc:
        load(target)
    one_line(exc, "s.zip", "'data/c/1/0/0/0'", "8,388,608 bytes", "zip bomb")


def test_zip_store_members_are_read_in_bounded_blocks(tmp_path, monkeypatch):
    """zarr's ZipStore reads a member with read(), which zipfile inflates up to 1 GiB at a
    time whatever the member declares; the store symbreak opens reads block by block."""
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    target = tmp_path / "s.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(store.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(store).as_posix())
    asked = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: asked.append(n) or original(self, n))
    np.testing.assert_array_equal(load(target).to_numpy(), _data())
    assert asked and all(0 <= n <= untrusted.ZIP_BLOCK for n in asked), asked


def test_region_names_detector_ranges_only_when_a_chunk_splits_the_pattern():
    from symbreak.io.guards import chunks as zarr_chunks

    array = zarr.create_array(store={}, shape=SHAPE, chunks=(2, 3, 4, 8), dtype=np.uint8)
    assert zarr_chunks._region(array, (1, 1, 1, 0), zarr_chunks.SCAN_AXES) == \
        "scan_y 2-3, scan_x 3-5, ky 4-7"


def test_chunks_behind_links_count_as_stored_and_a_link_loop_ends(tmp_path):
    """zarr follows links: a store assembled from linked folders is complete."""
    store = symbreak.save(_data(), tmp_path / "s.zarr", chunks=CHUNKS)
    moved = tmp_path / "elsewhere"
    (store / "data" / "c" / "1").rename(moved)
    (store / "data" / "c" / "1").symlink_to(moved, target_is_directory=True)
    (moved / "loop").symlink_to(store / "data", target_is_directory=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(load(store).to_numpy(), _data())
