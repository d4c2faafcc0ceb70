"""Hand-over to and from HyperSpy / pyxem, field by field, checked against HyperSpy's own
objects (axes values, metadata nodes) and its own file reader (``hs.load``)."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest

import symbreak
from symbreak import Calibration, Dataset4D
from symbreak.errors import DataError

if os.environ.get("SYMBREAK_REQUIRE_INTEROP"):  # the field environment: must be there
    import hyperspy.api as hs
else:
    hs = pytest.importorskip("hyperspy.api")

CAL = Calibration(energy=300e3, semiangle=21.4, scan_step=(0.3, 0.25),
                  angular_sampling=(0.5, 0.6), detector_center=(3.0, 4.0),
                  scan_rotation=0.3, scan_flip=True,
                  sources={"energy": "user", "semiangle": "file", "scan_step": "file",
                           "angular_sampling": "file", "detector_center": "user",
                           "scan_rotation": "user", "scan_flip": "user"})


def _data(lazy: bool = False) -> Dataset4D:
    array = np.arange(2 * 3 * 8 * 9, dtype=np.uint16).reshape(2, 3, 8, 9)
    if lazy:
        array = da.from_array(array, chunks=(1, 3, 8, 9))
    return Dataset4D(array=array, calibration=CAL, metadata={"detector": "Merlin"},
                     provenance=({"step": "load", "time": "2026-01-01T00:00:00+00:00"},),
                     source="/data/scan 1.mib")


def test_to_hyperspy_sets_every_field():
    sig = symbreak.to_hyperspy(_data())
    md = sig.metadata
    assert md.Acquisition_instrument.TEM.beam_energy == 300.0  # keV
    assert md.Acquisition_instrument.TEM.convergence_angle == 21.4  # mrad
    assert md.Signal.signal_type == "electron_diffraction"
    assert md.General.title == "scan 1.mib"
    # HyperSpy lists navigation (x, y) and signal (kx, ky): reversed array order
    nav_x, nav_y = sig.axes_manager.navigation_axes
    sig_kx, sig_ky = sig.axes_manager.signal_axes
    assert [a.name for a in (nav_x, nav_y, sig_kx, sig_ky)] == ["scan_x", "scan_y", "kx", "ky"]
    assert (nav_x.scale, nav_y.scale, nav_x.units) == (0.25, 0.3, "Å")
    assert (sig_kx.scale, sig_ky.scale, sig_ky.units) == (0.6, 0.5, "mrad")
    # zero angle at the detector centre (ky, kx) = (3, 4) px
    assert sig_ky.axis[3] == pytest.approx(0) and sig_kx.axis[4] == pytest.approx(0)
    assert sig_kx.axis[0] == pytest.approx(-4 * 0.6)
    np.testing.assert_array_equal(sig.data, _data().array)
    assert sig.data.shape == (2, 3, 8, 9)  # HyperSpy's data order is ours


def test_round_trip_gives_back_every_value_and_source():
    data = _data()
    back = symbreak.from_hyperspy(symbreak.to_hyperspy(data))
    assert back.calibration == CAL
    assert back.calibration.sources == CAL.to_dict()["sources"] | {"k_sampling": "derived"}
    assert back.metadata["detector"] == "Merlin" and back.provenance == data.provenance
    assert back.array is data.array  # no copy


def test_lazy_stays_lazy_both_ways():
    data = _data(lazy=True)
    sig = symbreak.to_hyperspy(data)
    assert sig._lazy and sig.data is data.array  # the same dask graph, nothing computed
    back = symbreak.from_hyperspy(sig)
    assert back.is_lazy and back.array is data.array


def test_values_edited_in_hyperspy_win():
    sig = symbreak.to_hyperspy(_data())
    sig.metadata.Acquisition_instrument.TEM.beam_energy = 200.0
    sig.axes_manager.navigation_axes[0].scale = 0.5  # scan x
    sig.axes_manager.signal_axes[0].offset = -2 * 0.6  # kx centre at pixel 2
    cal = symbreak.from_hyperspy(sig).calibration
    assert cal.energy == 200e3 and cal.sources["energy"] == "file"
    assert cal.scan_step == (0.3, 0.5) and cal.detector_center == pytest.approx((3.0, 2.0))
    assert cal.scan_rotation == 0.3 and cal.sources["scan_rotation"] == "user"


def test_a_signal_made_in_hyperspy_nm_and_inverse_nm():
    axes = [{"name": n, "size": s, "scale": c, "offset": o, "units": u}
            for n, s, c, o, u in [("y", 2, 0.05, 0, "nm"), ("x", 3, 0.04, 0, "nm"),
                                  ("ky", 8, 0.1, -0.4, "1/nm"), ("kx", 9, 0.1, -0.3, "1/nm")]]
    sig = hs.signals.Signal2D(np.ones((2, 3, 8, 9)), axes=axes, metadata={
        "Acquisition_instrument": {"TEM": {"beam_energy": 200.0, "convergence_angle": 1.5}}})
    cal = symbreak.as_dataset(sig).calibration
    assert cal.scan_step == pytest.approx((0.5, 0.4))
    assert cal.k_sampling == pytest.approx((0.01, 0.01))
    assert cal.detector_center == pytest.approx((4.0, 3.0))
    assert (cal.energy, cal.semiangle) == (200e3, 1.5)
    assert cal.scan_rotation is None and cal.sources["energy"] == "file"


def test_not_a_4d_stem_signal_is_refused():
    with pytest.raises(DataError, match="2 navigation and 2 signal axes.*got 1 and 2"):
        symbreak.from_hyperspy(hs.signals.Signal2D(np.zeros((3, 4, 5))))


def test_hs_load_opens_a_saved_hspy_and_symbreak_reads_it_back(tmp_path):
    data = _data(lazy=True)
    out = symbreak.save(data, tmp_path / "scan.hspy")
    sig = hs.load(out)
    assert sig.metadata.Signal.signal_type == "electron_diffraction"
    assert sig.metadata.Acquisition_instrument.TEM.beam_energy == 300.0
    assert sig.axes_manager.signal_axes[1].axis[3] == pytest.approx(0)
    assert sig.axes_manager.navigation_axes[1].scale == 0.3
    np.testing.assert_array_equal(sig.data, data.array.compute())
    back = symbreak.load(out)
    assert back.calibration == CAL and back.calibration.sources["scan_rotation"] == "user"
    np.testing.assert_array_equal(back.to_numpy(), data.array.compute())


def test_pyxem_class_when_pyxem_is_installed():
    if not os.environ.get("SYMBREAK_REQUIRE_INTEROP"):
        pytest.importorskip("pyxem")
    import pyxem.signals as ps

    sig = symbreak.to_hyperspy(_data(lazy=True))
    assert isinstance(sig, ps.LazyElectronDiffraction2D)
    assert isinstance(symbreak.to_hyperspy(_data()), ps.ElectronDiffraction2D)
