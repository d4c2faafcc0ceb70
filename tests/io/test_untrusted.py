"""Files from elsewhere: archive members that leave the archive, zip bombs, and HDF5 files
(and EMPAD XML) that make the reader open other files are refused with one clear error;
references to other files are followed only with ``allow_external=True``.

Model files are data, never code: a pickle disguised as ``model.safetensors`` and a
checkpoint with a pickle payload are refused in
``tests/vae/test_persistence.py::test_pickle_disguised_as_model_is_refused`` and
``::test_pickle_disguised_as_checkpoint_is_refused`` (both check that the payload did not
run).
"""

from __future__ import annotations

import json
import struct
import zipfile

import h5py
import numpy as np
import pytest

from symbreak.engine import budget_scope
from symbreak.errors import FormatError
from symbreak.io import load, save
from symbreak.io.guards import untrusted

from .conftest import one_line


def _data(seed=0):
    return np.random.default_rng(seed).integers(0, 1000, (2, 3, 8, 8)).astype(np.uint16)


# --------------------------------------------------------------------------- zip archives
def _ndata1(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, payload in members.items():
            z.writestr(name, payload)


def _npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "/abs/data.npy", "a/../../x",
                                  "C:/windows/x", "dir\\..\\x"])
def test_ndata1_with_path_traversal_member_is_refused(tmp_path, name):
    path = tmp_path / "t.ndata1"
    _ndata1(path, {"data.npy": _npy_bytes(_data()), "metadata.json": "{}", name: b"x"})
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "t.ndata1", repr(name), "outside the archive")


def test_clean_ndata1_still_loads(tmp_path):
    path = tmp_path / "ok.ndata1"
    _ndata1(path, {"data.npy": _npy_bytes(_data()), "metadata.json": "{}"})
    np.testing.assert_array_equal(load(path).to_numpy(), _data())


@pytest.mark.parametrize("suffix", [".ndata1", ".zarr.zip"])
def test_zip_with_an_unknown_version_field_is_a_format_error(tmp_path, suffix):
    """A flipped byte in the central directory's "version needed" field makes zipfile
    raise NotImplementedError ("zip file version 8.4"): one line, not a traceback."""
    path = tmp_path / f"v{suffix}"
    _ndata1(path, {"data.npy": _npy_bytes(_data()), "metadata.json": "{}"})
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 6:central + 8] = struct.pack("<H", 84)  # version needed: 8.4
    path.write_bytes(bytes(raw))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(path)  # what the damaged file does to zipfile itself
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, path.name)


def test_zarr_zip_with_path_traversal_member_is_refused(tmp_path):
    save(_data(), tmp_path / "s.zarr")
    target = tmp_path / "s.zip"
    with zipfile.ZipFile(target, "w") as z:
        for file in sorted((tmp_path / "s.zarr").rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(tmp_path / "s.zarr").as_posix())
    np.testing.assert_array_equal(load(target).to_numpy(), _data())
    with zipfile.ZipFile(target, "a") as z:
        z.writestr("../../escape.txt", b"x")
    with pytest.raises(FormatError) as exc:
        load(target)
    one_line(exc, "s.zip", "'../../escape.txt'", "outside the archive")


def _declare_size(path, member, size):
    """Rewrite the uncompressed size that the central directory declares for ``member``."""
    raw = bytearray(path.read_bytes())
    start = raw.index(b"PK\x01\x02")
    while start >= 0:
        name_length = struct.unpack_from("<H", raw, start + 28)[0]
        if raw[start + 46:start + 46 + name_length] == member.encode():
            struct.pack_into("<I", raw, start + 24, size)
        start = raw.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(raw))


def test_zip_bomb_member_over_the_memory_budget_is_refused(tmp_path):
    path = tmp_path / "bomb.ndata1"
    _ndata1(path, {"data.npy": _npy_bytes(_data()), "metadata.json": "{}"},
            zipfile.ZIP_DEFLATED)
    _declare_size(path, "data.npy", 0xFFFF0000)  # ~4.3 GB from a few hundred bytes
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("data.npy").file_size == 0xFFFF0000
    with budget_scope("64MB"), pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "bomb.ndata1", "'data.npy'", "4,294,901,760 bytes", "zip bomb")


def test_zip_bomb_by_compression_ratio_is_refused(tmp_path):
    path = tmp_path / "ratio.ndata1"
    _ndata1(path, {"data.npy": _npy_bytes(_data()), "metadata.json": "{}"},
            zipfile.ZIP_DEFLATED)
    _declare_size(path, "data.npy", 0xFFFF0000)
    # a budget above the declared size: the ratio (more than deflate can give) refuses it
    with budget_scope("1TB"), pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "ratio.ndata1", "ratio > 1100", "zip bomb")


def test_zip_with_too_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(untrusted, "MAX_ZIP_MEMBERS", 10)
    path = tmp_path / "many.ndata1"
    members = {"data.npy": _npy_bytes(_data()), "metadata.json": "{}"}
    members.update({f"pad{i}": b"" for i in range(9)})
    _ndata1(path, members)
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "many.ndata1", "11 members", "more than 10")


# --------------------------------------------------------------------------- HDF5
@pytest.fixture
def outside(tmp_path):
    """Another file, with data the crafted files point to."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    secret = _data(seed=7)
    with h5py.File(folder / "secret.h5", "w") as f:
        f["d"] = secret
    secret.tofile(folder / "secret.raw")
    return folder, secret


def test_external_link_is_not_followed_without_consent(tmp_path, outside):
    folder, secret = outside
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f["data"] = h5py.ExternalLink(str(folder / "secret.h5"), "/d")
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "link.h5", "external link /data", "secret.h5", "allow_external=True")
    with pytest.raises(FormatError):
        load(path, dataset="data")
    consented = load(path, dataset="data", allow_external=True)
    np.testing.assert_array_equal(consented.to_numpy(), secret)


def test_virtual_dataset_reading_another_file_is_refused(tmp_path, outside):
    folder, secret = outside
    path = tmp_path / "vds.h5"
    layout = h5py.VirtualLayout(shape=secret.shape, dtype=secret.dtype)
    layout[:] = h5py.VirtualSource(str(folder / "secret.h5"), "d", shape=secret.shape)
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("data", layout)
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "vds.h5", "virtual dataset /data", "secret.h5", "allow_external=True")
    np.testing.assert_array_equal(load(path, allow_external=True).to_numpy(), secret)


def test_virtual_dataset_within_the_file_is_fine(tmp_path):
    path = tmp_path / "self.h5"
    data = _data()
    with h5py.File(path, "w") as f:
        f["stack"] = data.reshape(6, 8, 8)
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        source = h5py.VirtualSource(".", "stack", shape=(6, 8, 8))
        for i in range(6):
            layout[i // 3, i % 3] = source[i]
        f.create_virtual_dataset("data", layout)
    np.testing.assert_array_equal(load(path).to_numpy(), data)


def test_external_raw_storage_is_refused(tmp_path, outside):
    folder, secret = outside
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", shape=secret.shape, dtype=secret.dtype,
                         external=[(str(folder / "secret.raw"), 0, secret.nbytes)])
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "raw.h5", "external file", "secret.raw", "allow_external=True")
    np.testing.assert_array_equal(load(path, allow_external=True).to_numpy(), secret)


def test_paper_layout_and_emd_with_external_links_are_refused(tmp_path, outside, writers):
    folder, _ = outside
    paper = tmp_path / "C6_A32.h5"
    writers.paper(paper, _data())
    with h5py.File(paper, "a") as f:
        f["Calculation/other"] = h5py.ExternalLink(str(folder / "secret.h5"), "/d")
    with pytest.raises(FormatError) as exc:
        load(paper)
    one_line(exc, "C6_A32.h5", "external link /Calculation/other", "allow_external=True")
    assert load(paper, allow_external=True).shape == (2, 3, 8, 8)
    emd = tmp_path / "e.emd"
    save(_data(), emd)
    with h5py.File(emd, "a") as f:
        f["extra"] = h5py.ExternalLink(str(folder / "secret.h5"), "/d")
    with pytest.raises(FormatError) as exc:
        load(emd)
    one_line(exc, "e.emd", "external link /extra")


def test_hspy_with_external_link_is_refused(tmp_path, outside):
    from rsciio.hspy import file_writer

    folder, _ = outside
    path = tmp_path / "x.hspy"
    axes = [{"name": n, "size": s, "scale": 1.0, "offset": 0.0, "units": "", "navigate": i < 2,
             "index_in_array": i} for i, (n, s) in enumerate(zip("yxab", (2, 3, 8, 8)))]
    file_writer(str(path), {
        "data": _data(), "axes": axes, "metadata": {"General": {"title": "t"}},
        "original_metadata": {}, "attributes": {"_lazy": False}, "tmp_parameters": {},
        "learning_results": {}, "models": {},
        "package_info": {"name": "hyperspy", "version": "2.0"}})
    with h5py.File(path, "a") as f:
        f["Experiments/t/leak"] = h5py.ExternalLink(str(folder / "secret.h5"), "/d")
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "x.hspy", "external link /Experiments/t/leak", "allow_external=True")


# --------------------------------------------------------------------------- EMPAD XML
def test_empad_xml_pointing_outside_its_folder_is_refused(tmp_path, writers):
    data = writers.counts((2, 2, 128, 128), np.float32)
    (tmp_path / "raw").mkdir()
    (tmp_path / "xml").mkdir()
    xml = writers.empad(tmp_path / "raw", data)
    moved = tmp_path / "xml" / "scan.xml"
    raw_name = next(p.name for p in (tmp_path / "raw").iterdir() if p.suffix == ".raw")
    moved.write_text(xml.read_text().replace(f'filename="{raw_name}"',
                                             f'filename="../raw/{raw_name}"'))
    with pytest.raises(FormatError) as exc:
        load(moved)
    one_line(exc, "scan.xml", "outside its folder", f"../raw/{raw_name}",
              "allow_external=True")
    np.testing.assert_array_equal(load(moved, allow_external=True).to_numpy(), data)


def test_json_metadata_is_never_evaluated(tmp_path):
    """metadata.json is parsed as JSON: a Python expression in it stays a string."""
    path = tmp_path / "m.ndata1"
    marker = tmp_path / "ran"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    _ndata1(path, {"data.npy": _npy_bytes(_data()),
                   "metadata.json": json.dumps({"title": payload})})
    assert load(path).metadata["title"] == payload
    assert not marker.exists()


def test_torch_checkpoint_with_a_pickle_payload_is_refused(tmp_path):
    """The torch zip format (what torch.save writes) with an object that runs code when
    unpickled; tests/vae covers a bare pickle under the checkpoint's name."""
    torch = pytest.importorskip("torch")
    from symbreak.vae.train import read_checkpoint

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": Payload()}, path)
    with pytest.raises(FormatError, match="never unpickles"):
        read_checkpoint(path)
    assert not marker.exists()


def test_cli_follows_external_links_only_with_allow_external(tmp_path, outside):
    import subprocess
    import sys
    folder, secret = outside
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f["data"] = h5py.ExternalLink(str(folder / "secret.h5"), "/d")
    base = [sys.executable, "-m", "symbreak", "info", str(path), "--dataset", "data"]
    refused = subprocess.run(base, capture_output=True, text=True)
    assert refused.returncode == 2 and "--allow-external" in refused.stderr
    assert "Traceback" not in refused.stderr
    allowed = subprocess.run(base + ["--allow-external", "--json"], capture_output=True,
                             text=True)
    assert allowed.returncode == 0, allowed.stderr
    import json
    assert json.loads(allowed.stdout)["shape"] == list(secret.shape)
