"""Settings of ``symbreak convert`` (:class:`ConvertSettings`): the crop and binning of
:mod:`symbreak.io.ops` and the output chunks of :func:`symbreak.io.stream.write_output`.
Light (no numpy), so that ``symbreak --help`` reads it without importing dask."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from ..errors import SettingsError
from ..options import check_fields, setting

CROP_AXES = ("scan", "detector")


def parse_crop(text: str) -> tuple[str, tuple[slice, slice]]:
    """Parse ``scan=Y0:Y1,X0:X1`` or ``detector=KY0:KY1,KX0:KX1`` (empty bounds = edge)."""
    where, sep, spec = text.partition("=")
    where = where.strip().lower()
    if not sep or where not in CROP_AXES:
        raise SettingsError(f"cannot read crop {text!r}; write scan=Y0:Y1,X0:X1 or "
                            "detector=KY0:KY1,KX0:KX1 (pixels, end exclusive, e.g. scan=0:32,:)")
    parts = spec.split(",")
    if len(parts) != 2:
        raise SettingsError(f"crop {text!r} needs two ranges separated by a comma, "
                            "e.g. scan=0:32,16:48")
    slices = []
    for part in parts:
        bounds = part.split(":") if ":" in part else None
        try:
            if bounds is None or len(bounds) != 2:
                raise ValueError
            lo, hi = (int(b) if b.strip() else None for b in bounds)
        except ValueError:
            raise SettingsError(f"cannot read range {part!r} in crop {text!r}; "
                                "write START:STOP in pixels, e.g. 16:48 or : for all") from None
        slices.append(slice(lo, hi))
    return where, (slices[0], slices[1])


def check_crop(name: str, value: Any) -> tuple[str, tuple[slice, slice]]:
    """One ``(where, (rows, columns))`` crop as :func:`parse_crop` gives it."""
    try:
        where, (rows, columns) = value
        ok = where in CROP_AXES and isinstance(rows, slice) and isinstance(columns, slice)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SettingsError(f"{name} must be scan=Y0:Y1,X0:X1 or detector=KY0:KY1,KX0:KX1, "
                            f"got {value!r}")
    return where, (rows, columns)


def parse_chunks(text: str) -> tuple[int, ...]:
    """``SY,SX,KY,KX`` (or separated by spaces) -> integers."""
    try:
        return tuple(int(c) for c in text.replace(",", " ").split())
    except ValueError:
        raise SettingsError(f"cannot read chunks {text!r}; write 4 integers SY,SX,KY,KX "
                            "(-1 = whole axis), e.g. 4,64,256,256") from None


def check_chunks(name: str, value: Any) -> tuple[int, int, int, int]:
    """Four chunk sizes, each a positive integer or -1 (the whole axis)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(items) != 4 or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool)
                                  and (c == -1 or c >= 1) for c in items):
        raise SettingsError(f"{name} must be 4 integers SY,SX,KY,KX, each >= 1 or -1 (the "
                            f"whole axis), e.g. 4,64,256,256, got {value!r}")
    a, b, c, d = (int(v) for v in items)
    return a, b, c, d


@dataclasses.dataclass(frozen=True)
class ConvertSettings:
    """What ``symbreak convert`` does on the way: :func:`~symbreak.io.ops.crop` (before
    binning), :func:`~symbreak.io.ops.bin_detector`, and the ``chunks`` of
    :func:`~symbreak.io.stream.write_output`. The defaults are those functions' own: no
    crop, no binning, chunks chosen by the writer."""

    chunks: tuple[int, int, int, int] | None = setting(
        None, kind=int, length=4, parse=parse_chunks, check=check_chunks,
        metavar="SY,SX,KY,KX", help="output chunk shape, -1 = whole axis (default: whole "
        "patterns within the memory budget)")
    crop: tuple[tuple[str, tuple[slice, slice]], ...] | None = setting(
        None, kind=str, repeat=True, parse=parse_crop, check=check_crop,
        metavar="WHERE=Y0:Y1,X0:X1", help="crop 'scan=Y0:Y1,X0:X1' and/or "
        "'detector=KY0:KY1,KX0:KX1' (pixels, end exclusive, empty = edge); repeat for both")
    bin: int = setting(1, minimum=1, metavar="N", help="sum N x N detector pixels (edges "
                       "that do not fill a bin are dropped)")

    def __post_init__(self) -> None:
        check_fields(self)
        wheres = [where for where, _ in self.crop or ()]
        twice = sorted({where for where in wheres if wheres.count(where) > 1})
        if twice:
            raise SettingsError(f"crop is given twice for {' and '.join(twice)}; give --crop "
                                "at most once for scan and once for detector")

    def crops(self) -> dict[str, tuple[slice, slice]]:
        """``{"scan": (rows, columns), "detector": ...}`` of the crops given."""
        return dict(self.crop or ())
