"""Fuzzing every reader with corrupt files: each ends in a SymbreakError or a correct load.

For each format of :data:`symbreak.io.registry.FORMATS` a small sample file (a 4 x 4 scan
of 16 x 16 px patterns, built once per session) is damaged by a hypothesis strategy:
truncation at a random offset, random byte flips, a wrong magic number (another format's
or random bytes), or a zero-size file; the damaged copy sits in a folder whose name holds
unicode and spaces. ``symbreak.load(path)`` then runs, and ``.to_numpy()`` on the result
(one pattern only when the damaged header declares more than 64 MiB), in a worker process
with a memory limit and a timeout, so that a segfault, a hang or an allocation bomb
is reported as a failure instead of taking pytest down. Allowed outcomes: a load that
reads every value (a flipped data byte changes values, which no reader can detect), or a
:class:`~symbreak.errors.SymbreakError` whose message is one line and names the file. The
undamaged samples must load with their true shapes.

Examples per format: 12 by default (this module and tests/test_fuzz_calibration.py together
took 34 s on the shared 2-core machine); set
``SYMBREAK_FUZZ_EXAMPLES=500`` for a long run, or run the ``slow``-marked variant
(``pytest -m slow tests/test_fuzz_readers.py``), which uses the ``fuzz-long`` profile
(300 examples per format).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import support
import symbreak

HERE = Path(__file__).parent
# Reproducible by default (the same examples on every run, so CI does not pass or fail by
# chance); SYMBREAK_FUZZ_RANDOM=1 explores new examples, and a failure it finds is a bug
# to fix and then to pin as a regression test.
settings.register_profile(
    "fuzz-default", max_examples=int(os.environ.get("SYMBREAK_FUZZ_EXAMPLES", "12")),
    deadline=None, derandomize=not os.environ.get("SYMBREAK_FUZZ_RANDOM"), print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large])
settings.register_profile(
    "fuzz-long", parent=settings.get_profile("fuzz-default"),
    max_examples=int(os.environ.get("SYMBREAK_FUZZ_EXAMPLES", "300")))
DEFAULT = settings.get_profile("fuzz-default")
LONG = settings.get_profile("fuzz-long")

SCAN, PATTERN = (4, 4), (16, 16)
MAX_READ_BYTES = 64 * 2**20
TIMEOUT_S = 60
MEMORY_LIMIT = 6 * 2**30
MAGICS = [b"\x89HDF\r\n\x1a\n", b"PK\x03\x04", b"\x93NUMPY", b"MQ1,", b"\0\0\0\x04",
          b"{\"zarr_format\": 3", b"MAP ", b"<?xml"]
DIR_NAMES = ["dåta ünïcode", "with spaces  and\ttab", "日本語 データ", "emoji 🧪 ∂",
             "-dash.dot."]

WORKER = textwrap.dedent("""
    import json, resource, sys, traceback
    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
    import dask, numpy as np
    import symbreak
    from symbreak.errors import SymbreakError
    dask.config.set(scheduler="synchronous")
    for line in sys.stdin:
        job = json.loads(line)
        try:
            ds = symbreak.load(job["path"], **job["kwargs"])
            ds.calibration.describe()
            if ds.nbytes <= %d:
                values = ds.to_numpy()
            else:
                values = np.asarray(ds.array[0, 0])
            out = {"outcome": "ok", "shape": list(values.shape),
                   "sum": float(values.astype(np.float64).sum())}
        except SymbreakError as exc:
            out = {"outcome": "symbreak", "type": type(exc).__name__, "message": str(exc)}
        except BaseException as exc:
            out = {"outcome": "raw", "type": type(exc).__name__, "message": str(exc),
                   "traceback": traceback.format_exc()}
        print(json.dumps(out), flush=True)
""") % (MEMORY_LIMIT, MEMORY_LIMIT, MAX_READ_BYTES)


class Worker(support.Worker):
    """Loads files on request in a process with a capped address space."""

    def __init__(self) -> None:
        super().__init__(WORKER, {"OMP_NUM_THREADS": "1", "SYMBREAK_PROGRESS": "0"},
                         TIMEOUT_S, quiet=True)

    def load(self, path: Path, **kwargs) -> dict:
        answer = self.ask({"path": str(path), "kwargs": kwargs})
        if answer == "hang":
            return {"outcome": "hang", "message": f"no answer within {TIMEOUT_S} s"}
        if isinstance(answer, str):
            return {"outcome": "crash", "message": f"worker died with exit status {answer[6:]}"}
        return answer


def _io_writers():
    """The independent format writers of tests/io/conftest.py (no package to import)."""
    spec = importlib.util.spec_from_file_location("io_writers", HERE / "io" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hspy(path: Path, data: np.ndarray) -> None:
    from rsciio.hspy import file_writer

    axes = [{"name": n, "size": s, "scale": 0.1, "offset": 0.0, "units": u, "navigate": i < 2,
             "index_in_array": i}
            for i, (n, s, u) in enumerate(zip("yxab", data.shape, ("nm", "nm", "1/nm", "1/nm")))]
    file_writer(str(path), {
        "data": data, "axes": axes, "original_metadata": {},
        "metadata": {"General": {"title": "t"},
                     "Acquisition_instrument": {"TEM": {"beam_energy": 200.0}}},
        "attributes": {"_lazy": False}, "tmp_parameters": {}, "learning_results": {},
        "models": {}, "package_info": {"name": "hyperspy", "version": "2.0"}})


def _zip_dir(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(folder).as_posix())


def _plain_h5(path: Path, data: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data", data=data)


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    """name -> (files to damage, path to load, load keywords); each file loads correctly."""
    w = _io_writers()
    root = tmp_path_factory.mktemp("fuzz_samples")
    data = w.counts(SCAN + PATTERN, np.uint16)
    out = {}
    np.save(root / "a.npy", data)
    out["npy"] = (["a.npy"], "a.npy", {})
    symbreak.save(data, root / "a.zarr")
    out["zarr-dir"] = ([p.relative_to(root).as_posix() for p in (root / "a.zarr").rglob("*")
                        if p.is_file()], "a.zarr", {})
    _zip_dir(root / "a.zarr", root / "a.zip")
    out["zarr-zip"] = (["a.zip"], "a.zip", {})
    shutil.copytree(HERE / "io" / "data" / "rsciio_0.15_zarr2.zspy", root / "a.zspy")
    out["zspy"] = ([p.relative_to(root).as_posix() for p in (root / "a.zspy").rglob("*")
                    if p.is_file()], "a.zspy", {})
    symbreak.save(data, root / "a.emd")
    out["emd"] = (["a.emd"], "a.emd", {})
    _plain_h5(root / "p.h5", data)
    out["hdf5"] = (["p.h5"], "p.h5", {})
    w.write_paper(root / "C6_A32_x.h5", data)
    out["paper-h5"] = (["C6_A32_x.h5"], "C6_A32_x.h5", {})
    _hspy(root / "a.hspy", data)
    out["hspy"] = (["a.hspy"], "a.hspy", {})
    w.write_ndata1(root / "a.ndata1", data)
    out["ndata1"] = (["a.ndata1"], "a.ndata1", {})
    w.write_ndata1(root / "d.ndata1", data, stored=False)
    out["ndata1-deflated"] = (["d.ndata1"], "d.ndata1", {})
    w.write_mib(root / "a.mib", data.reshape(-1, *PATTERN), scan_shape=SCAN)
    out["mib"] = (["a.mib", "a.hdr"], "a.mib", {})
    w.write_dm4(root / "a.dm4", data)
    out["dm4"] = (["a.dm4"], "a.dm4", {})
    (root / "empad").mkdir()
    xml = w.write_empad(root / "empad", w.counts(SCAN + (128, 128), np.float32))
    out["empad"] = (["empad/scan.xml", "empad/" + next(
        p.name for p in (root / "empad").iterdir() if p.suffix == ".raw")],
        "empad/" + xml.name, {})
    w.write_mrc(root / "a.mrc", data.reshape(-1, *PATTERN))
    out["mrc"] = (["a.mrc"], "a.mrc", {"scan_shape": list(SCAN)})
    (root / "a.blo").write_bytes(b"IMGBLOCKFILE" + bytes(500))
    out["blo"] = (["a.blo"], "a.blo", {})
    return root, out


@pytest.fixture(scope="session")
def worker():
    proc = Worker()
    yield proc
    proc.close()


# --------------------------------------------------------------------------- mutations
def _truncate(raw: bytes, fraction: float) -> bytes:
    return raw[: int(len(raw) * fraction)]


def _flip(raw: bytes, flips: list[tuple[float, int]]) -> bytes:
    out = bytearray(raw)
    for where, mask in flips:
        if out:
            out[min(int(where * len(out)), len(out) - 1)] ^= mask
    return bytes(out)


def _magic(raw: bytes, magic: bytes) -> bytes:
    return magic + raw[len(magic):]


mutations = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                   st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("flip-header"), st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1,
        max_size=4)),
    st.tuples(st.just("magic"), st.one_of(st.sampled_from(MAGICS),
                                          st.binary(min_size=1, max_size=16))),
    st.tuples(st.just("zero"), st.none()),
)
dir_names = st.one_of(st.sampled_from(DIR_NAMES), st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1, max_size=12).filter(lambda s: s.strip(".") != "" and s.strip() == s))


def mutate(raw: bytes, kind: str, arg) -> bytes:
    if kind == "truncate":
        return _truncate(raw, arg)
    if kind == "flip":
        return _flip(raw, arg)
    if kind == "flip-header":  # damage the first 1 KiB, where headers live
        return _flip(raw, [(w * min(1.0, 1024 / max(len(raw), 1)), m) for w, m in arg])
    if kind == "magic":
        return _magic(raw, arg)
    return b""


def check_outcome(result: dict, path: Path) -> None:
    """A correct load, or one clear line of SymbreakError naming the file."""
    first = (str(result.get("message", "")).splitlines() or [""])[0]
    assert result["outcome"] in ("ok", "symbreak"), (
        f"{result['outcome']}: {result.get('type')}: {first[:300]}\n"
        f"{result.get('traceback', '')}")
    if result["outcome"] == "symbreak":
        message = result["message"]
        assert "\n" not in message, message
        assert path.name in message or path.parent.name in message, message


def damage_and_load(samples, worker, tmp_path, name, dir_name, target, mutation) -> None:
    root, table = samples
    files, load_path, kwargs = table[name]
    case = tmp_path / dir_name
    if case.exists():
        shutil.rmtree(case)
    case.mkdir()
    for rel in {f.split("/")[0] for f in files} | {load_path.split("/")[0]}:
        src = root / rel
        (shutil.copytree if src.is_dir() else shutil.copy)(src, case / rel)
    victim = case / files[target % len(files)]
    victim.write_bytes(mutate(victim.read_bytes(), *mutation))
    check_outcome(worker.load(case / load_path, **kwargs), case / load_path)
    shutil.rmtree(case)


NAMES = ["npy", "zarr-dir", "zarr-zip", "zspy", "emd", "hdf5", "paper-h5", "hspy", "ndata1",
         "ndata1-deflated", "mib", "dm4", "empad", "mrc", "blo"]


def test_samples_load_correctly(samples, worker):
    """Undamaged, each sample loads in the worker with its shape and the sum of its values
    (the writers' seeded data; the zspy file holds arange(360))."""
    root, table = samples
    w = _io_writers()
    total = float(w.counts(SCAN + PATTERN, np.uint16).astype(np.float64).sum())
    empad = float(w.counts(SCAN + (128, 128), np.float32).astype(np.float64).sum())
    for name, (_, load_path, kwargs) in table.items():
        result = worker.load(root / load_path, **kwargs)
        if name == "blo":  # a header-only fake: no blockfile writer runs here
            assert result["outcome"] == "symbreak", result
            continue
        assert result["outcome"] == "ok", (name, result)
        shape, want = {"empad": ([4, 4, 128, 128], empad),
                       "zspy": ([3, 4, 5, 6], 359 * 360 / 2)}.get(name, ([4, 4, 16, 16], total))
        assert result["shape"] == shape, (name, result)
        assert result["sum"] == pytest.approx(want, rel=1e-6), name


@pytest.mark.parametrize("name", NAMES)
@DEFAULT
@given(dir_name=dir_names, target=st.integers(0, 50), mutation=mutations)
def test_damaged_file(samples, worker, tmp_path, name, dir_name, target, mutation):
    damage_and_load(samples, worker, tmp_path, name, dir_name, target, mutation)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@LONG
@given(dir_name=dir_names, target=st.integers(0, 50), mutation=mutations)
def test_damaged_file_long(samples, worker, tmp_path, name, dir_name, target, mutation):
    damage_and_load(samples, worker, tmp_path, name, dir_name, target, mutation)


# --------------------------------------------------------------------------- absurd shapes
HUGE = (10**6, 10**6)  # 10^12 patterns


def _npy_header(shape, dtype="<u2") -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def _huge_npy(folder: Path) -> str:
    (folder / "huge.npy").write_bytes(_npy_header(HUGE + PATTERN) + bytes(4 * 4 * 16 * 16 * 2))
    return "huge.npy"


def _huge_ndata1(folder: Path) -> str:
    with zipfile.ZipFile(folder / "huge.ndata1", "w") as z:
        z.writestr("data.npy", _npy_header(HUGE + PATTERN) + bytes(512))
        z.writestr("metadata.json", "{}")
    return "huge.ndata1"


def _huge_h5_contiguous(folder: Path) -> str:
    with h5py.File(folder / "huge.h5", "w") as f:
        f.create_dataset("data", shape=HUGE + PATTERN, dtype="u2")  # never written
    return "huge.h5"


def _huge_h5_chunked(folder: Path) -> str:
    with h5py.File(folder / "huge.emd", "w") as f:
        ds = f.create_dataset("data", shape=HUGE + PATTERN, dtype="u2", chunks=(1, 1) + PATTERN)
        ds[0, 0] = 1
    return "huge.emd"


def _huge_paper(folder: Path) -> str:
    _io_writers().write_paper(folder / "huge.h5", np.ones(SCAN + PATTERN, np.uint16))
    with h5py.File(folder / "huge.h5", "a") as f:
        f["Calculation"].attrs["Nysample"] = HUGE[0]
        f["Calculation"].attrs["Nxsample"] = HUGE[1]
    return "huge.h5"


def _huge_hspy(folder: Path) -> str:
    _hspy(folder / "huge.hspy", np.ones(SCAN + PATTERN, np.uint16))
    with h5py.File(folder / "huge.hspy", "a") as f:
        name = next(n for n in ("Experiments/t/data", "Experiments/__unnamed__/data") if n in f)
        del f[name]
        f.create_dataset(name, shape=HUGE + PATTERN, dtype="u2", chunks=(1, 1) + PATTERN)
    return "huge.hspy"


def _huge_zarr(folder: Path) -> str:
    import zarr

    root = zarr.open_group(str(folder / "huge.zarr"), mode="w")
    array = root.create_array("data", shape=HUGE + PATTERN, dtype="u2",
                              chunks=(1, 1) + PATTERN)
    array[0, 0] = 1
    return "huge.zarr"


def _huge_mib(folder: Path) -> str:
    w = _io_writers()
    w.write_mib(folder / "huge.mib", np.ones((16,) + PATTERN, np.uint16), scan_shape=SCAN)
    raw = bytearray((folder / "huge.mib").read_bytes())
    start = raw.index(b",0016,0016,") + 1
    raw[start:start + 9] = b"9999,9999"  # width, height of the first frame
    (folder / "huge.mib").write_bytes(bytes(raw))
    return "huge.mib"


def _huge_mib_hdr(folder: Path) -> str:
    w = _io_writers()
    w.write_mib(folder / "huge.mib", np.ones((16,) + PATTERN, np.uint16), scan_shape=HUGE)
    return "huge.mib"


def _huge_mrc(folder: Path) -> str:
    w = _io_writers()
    w.write_mrc(folder / "huge.mrc", np.ones((16,) + PATTERN, np.uint16))
    raw = bytearray((folder / "huge.mrc").read_bytes())
    raw[8:12] = (2**31 - 1).to_bytes(4, "little")
    (folder / "huge.mrc").write_bytes(bytes(raw))
    return "huge.mrc"


def _huge_empad(folder: Path) -> str:
    xml = _io_writers().write_empad(folder, np.ones(SCAN + (128, 128), np.float32))
    text = xml.read_text().replace("<pix_x>4</pix_x><pix_y>4</pix_y>",
                                   "<pix_x>1000000</pix_x><pix_y>1000000</pix_y>")
    xml.write_text(text)
    return xml.name


def _huge_dm4(folder: Path) -> str:
    import struct

    w = _io_writers()
    w.write_dm4(folder / "huge.dm4", np.ones(SCAN + PATTERN, np.uint16))
    raw = bytearray((folder / "huge.dm4").read_bytes())
    # the last two Dimensions entries (scan x, scan y) as 10^6
    dims = [i for i in range(len(raw) - 4) if raw[i:i + 4] == struct.pack("<I", 4)
            and raw[i - 8:i] == struct.pack(">Q", 5)]
    for i in dims[-2:]:
        raw[i:i + 4] = struct.pack("<I", 10**6)
    (folder / "huge.dm4").write_bytes(bytes(raw))
    return "huge.dm4"


HUGE_FILES = {"npy": _huge_npy, "ndata1": _huge_ndata1, "hdf5-contiguous": _huge_h5_contiguous,
              "emd-chunked": _huge_h5_chunked, "paper-h5": _huge_paper, "hspy": _huge_hspy,
              "zarr": _huge_zarr, "mib-header": _huge_mib, "mib-hdr": _huge_mib_hdr,
              "mrc": _huge_mrc, "empad": _huge_empad, "dm4": _huge_dm4}


@pytest.mark.parametrize("name", sorted(HUGE_FILES))
def test_absurd_declared_shape_is_refused_before_allocation(worker, tmp_path, name):
    """10^12 declared patterns in a small file: a clear error, not a MemoryError under the
    worker's memory limit, not a hang."""
    folder = tmp_path / "ünï cödé dir"
    folder.mkdir()
    path = folder / HUGE_FILES[name](folder)
    result = worker.load(path)
    assert result["outcome"] == "symbreak", result
    check_outcome(result, path)
