"""The table of file formats: suffixes, reader module (imported on demand), sniffing.

Each reader module exposes ``read(path, *, format, dataset, chunks, scan_shape,
allow_external=False)`` returning a Dataset4D and, where a suffix is shared with other
formats, ``detect_<name>(path)`` or ``detect(path)`` returning whether the file is in that
format. Writer
modules expose ``write(data, path, *, chunks, progress)`` and ``SUFFIXES``.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType

from ..errors import FormatError


@dataclasses.dataclass(frozen=True)
class FileFormat:
    """One row of the format table."""

    name: str
    suffixes: tuple[str, ...]
    module: str
    description: str
    calibration: str
    writes: bool = False

    def reader(self) -> ModuleType:
        return importlib.import_module(f"symbreak.io.{self.module}")

    def detect(self, path: Path) -> bool:
        module = self.reader()
        detect = getattr(module, "detect_" + self.name.replace("-", "_"), None)
        detect = detect or getattr(module, "detect", None)
        return True if detect is None else bool(detect(path))


# Order matters where suffixes are shared: the first whose detect() says yes wins;
# the last candidate for a suffix is the fallback.
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("npy", (".npy",), "npy", "NumPy array, memory-mapped",
               "none (give it to load())"),
    FileFormat("zarr", (".zarr", ".zip"), "zarr_store",
               "zarr v2/v3 directory or zip store: symbreak layout, abTEM to_zarr, or any "
               "store with one 4-D array", "symbreak attrs; abTEM energy, sampling, scan axes",
               writes=True),
    FileFormat("zspy", (".zspy",), "zarr_store", "HyperSpy zarr (read directly with zarr)",
               "HyperSpy axes (Å/nm, mrad, 1/Å, 1/nm) and beam_energy"),
    FileFormat("paper-h5", (".h5", ".hdf5"), "paper",
               "the rrVAE paper's simulation HDF5: CBEDs stack + /Calculation attrs",
               "/Microscope Energy [kV]; /Crystal a0 and Nxtile/Nytile, Nxsample/Nysample"),
    FileFormat("hspy", (".hspy", ".hdf5"), "rsciio_reader", "HyperSpy HDF5 (RosettaSciIO)",
               "HyperSpy axes and beam_energy", writes=True),
    FileFormat("emd", (".h5", ".hdf5", ".emd"), "hdf5",
               "EMD 1.0 (py4DSTEM / emdfile) datacube; files symbreak writes",
               "symbreak attrs, else dim0..dim3 units (A, nm, A^-1, mrad)", writes=True),
    FileFormat("hdf5", (".h5", ".hdf5", ".emd"), "hdf5",
               "any HDF5 with one 4-D dataset (or the one named by dataset=)", "none"),
    FileFormat("ndata1", (".ndata1",), "ndata", "Nion Swift (zip of data.npy + metadata.json)",
               "metadata.json dimensional calibrations, high_tension"),
    FileFormat("mib", (".mib",), "rsciio_reader", "Quantum Detectors Merlin (RosettaSciIO)",
               "none in the file (scan shape from .hdr / exposures)"),
    FileFormat("dm", (".dm3", ".dm4"), "rsciio_reader", "Gatan DigitalMicrograph (RosettaSciIO)",
               "DM calibrations (Origin, Scale, Units); Microscope Info Voltage"),
    FileFormat("empad", (".xml",), "rsciio_reader", "EMPAD .xml + .raw (RosettaSciIO)",
               "scan field of view from the XML"),
    FileFormat("blo", (".blo",), "rsciio_reader", "NanoMegas ASTAR blockfile (RosettaSciIO)",
               "blockfile scan step [nm] and detector scale [1/nm], beam_energy"),
    FileFormat("mrc", (".mrc",), "rsciio_reader", "MRC / DE movie (RosettaSciIO)",
               "DE metadata file when present"),
)


def by_name(name: str) -> FileFormat:
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise FormatError(
        f"unknown format {name!r}; choose one of {', '.join(f.name for f in FORMATS)}"
    )


ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")  # zarr 3 and zarr 2 store metadata


def candidates(path: Path) -> list[FileFormat]:
    """Formats whose suffixes match ``path`` (``.zarr.zip`` counts as ``.zip``)."""
    suffix = path.suffix.lower()
    return [f for f in FORMATS if suffix in f.suffixes]


def format_for(path: Path, format: str | None = None) -> FileFormat:
    """The format to read ``path`` with: named, or by suffix and sniffing."""
    if format is not None:
        return by_name(format)
    found = candidates(path)
    if not found:
        if path.is_dir() and any((path / m).is_file() for m in ZARR_MARKERS):
            return by_name("zarr")  # a zarr store without the .zarr suffix
        if path.is_dir():
            raise FormatError(
                f"{path} is a directory, not a data file; give a file inside it, a .zarr "
                "store, or format='zarr' if this directory is a zarr store"
            )
        known = sorted({s for f in FORMATS for s in f.suffixes})
        raise FormatError(
            f"{path}: unknown file format {path.suffix or '(no suffix)'!r}; supported "
            f"suffixes are {' '.join(known)}; pass format=NAME if the suffix is wrong"
        )
    for fmt in found[:-1]:
        if fmt.detect(path):
            return fmt
    return found[-1]


def writer_for(path: Path, format: str | None = None) -> FileFormat:
    """The format to write ``path`` in (zarr unless the suffix says HDF5)."""
    if format is not None:
        fmt = by_name(format)
    elif path.suffix.lower() in (".h5", ".hdf5", ".emd"):
        fmt = by_name("emd")
    elif path.suffix.lower() in (".zarr", ""):
        fmt = by_name("zarr")
    elif path.suffix.lower() == ".hspy":
        fmt = by_name("hspy")
    else:
        raise FormatError(
            f"cannot write {path}: symbreak writes zarr (.zarr), EMD 1.0 HDF5 (.h5, .emd) "
            "and HyperSpy HDF5 (.hspy); choose one of those suffixes"
        )
    if not fmt.writes:
        raise FormatError(f"cannot write format {fmt.name!r}; symbreak writes zarr, emd "
                          "and hspy")
    return fmt
