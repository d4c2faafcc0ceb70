"""HyperSpy .zspy (zarr 2) read with zarr 3, against files from RosettaSciIO's writer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from symbreak.io import load

DATA = Path(__file__).parent / "data" / "rsciio_0.15_zarr2.zspy"
REFENV = Path(os.environ.get("SYMBREAK_REFENVS", Path(__file__).resolve().parents[2] / ".refenvs")) / "rsciio_zarr2" / "bin" / "python"  # make refenvs
WRITER = """
import sys, numpy as np
from rsciio.zspy import file_writer
data = np.arange(360, dtype=np.uint16).reshape(3, 4, 5, 6)
spec = [("y", 3, 0.5, 0.0, "nm", True), ("x", 4, 0.25, 0.0, "nm", True),
        ("ky", 5, 0.1, -0.2, "1/nm", False), ("kx", 6, 0.1, -0.3, "1/nm", False)]
axes = [dict(name=n, size=s, scale=c, offset=o, units=u, navigate=v) for n, s, c, o, u, v in spec]
md = {"General": {"title": "t"}, "Signal": {"signal_type": "electron_diffraction"},
      "Acquisition_instrument": {"TEM": {"beam_energy": 200.0, "convergence_angle": 1.5}}}
file_writer(sys.argv[1], {"data": data, "axes": axes, "metadata": md, "original_metadata": {},
            "attributes": {"_lazy": False}, "tmp_parameters": {}, "learning_results": {},
            "models": {}, "package_info": {"name": "hyperspy", "version": "2.0"}})
"""


def _check(path: Path) -> None:
    ds = load(path)
    np.testing.assert_array_equal(ds.to_numpy(), np.arange(360, dtype=np.uint16).reshape(3, 4, 5, 6))
    cal = ds.calibration
    assert cal.energy == 200e3 and cal.semiangle == 1.5
    assert cal.scan_step == pytest.approx((5.0, 2.5))
    assert cal.k_sampling == pytest.approx((0.01, 0.01))
    assert cal.detector_center == pytest.approx((2.0, 3.0))


def test_zspy_from_rosettasciio():
    _check(DATA)


@pytest.mark.slow
@pytest.mark.skipif(not REFENV.exists(), reason="rosettasciio + zarr 2 reference venv not built (make refenvs)")
def test_zspy_written_now_by_rosettasciio(tmp_path):
    out = tmp_path / "fresh.zspy"
    subprocess.run([str(REFENV), "-c", WRITER, str(out)], check=True, timeout=300,
                   capture_output=True)
    _check(out)
