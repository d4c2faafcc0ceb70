import math

import numpy as np
import pytest

from symbreak import Calibration, Dataset4D, electron_wavelength
from symbreak.errors import CalibrationError, DataError


@pytest.mark.parametrize("energy, expected", [(60e3, 0.048661), (200e3, 0.025079), (300e3, 0.019687)])
def test_wavelength_matches_tabulated_values(energy, expected):
    # tabulated relativistic wavelengths (e.g. Williams & Carter, table 1.1)
    assert electron_wavelength(energy) == pytest.approx(expected, rel=2e-4)


def test_wavelength_matches_paper_wavevector_formula():
    # paper-spec: k = sqrt(E + 9.7846113e-7 E^2) / 12.263868 [1/Å], E in eV
    e = 60e3
    k = math.sqrt(e + 9.7846113e-7 * e**2) / 12.263868
    # the notebook uses older constants: agreement to 1e-4
    assert electron_wavelength(e) == pytest.approx(1 / k, rel=1e-4)


def test_sampling_derived_both_ways():
    a = Calibration(energy=60e3, angular_sampling=(0.5, 0.25))
    b = Calibration(energy=60e3, k_sampling=a.k_sampling)
    assert b.angular_sampling == pytest.approx((0.5, 0.25))
    assert a.sources["k_sampling"] == "derived"


def test_unknown_stays_none():
    c = Calibration(angular_sampling=0.5)
    assert c.k_sampling is None and c.energy is None and c.scan_step is None


def test_inconsistent_sampling_rejected():
    with pytest.raises(CalibrationError, match="disagree"):
        Calibration(energy=60e3, angular_sampling=0.5, k_sampling=0.5)


@pytest.mark.parametrize("bad", [dict(energy=-1), dict(energy=0), dict(semiangle=-3), dict(scan_step=(0.1, -0.1))])
def test_nonphysical_rejected(bad):
    with pytest.raises(CalibrationError):
        Calibration(**bad)


def test_replace_rederives_and_records_source():
    c = Calibration(energy=60e3, angular_sampling=0.5).replace(energy=300e3)
    assert c.k_sampling[0] == pytest.approx(0.5e-3 / electron_wavelength(300e3))
    assert c.sources["energy"] == "user"


def test_dict_round_trip():
    c = Calibration(energy=80e3, semiangle=30, scan_step=(0.2, 0.3), k_sampling=0.02,
                    detector_center=(63.5, 64), scan_rotation=0.1, scan_flip=True,
                    sources={"energy": "file"})
    assert Calibration.from_dict(c.to_dict()) == c


def test_dataset_shape_checks():
    with pytest.raises(DataError, match="4-D"):
        Dataset4D(np.zeros((3, 4, 5)))
    with pytest.raises(DataError, match="dtype"):
        Dataset4D(np.zeros((1, 1, 2, 2), dtype="U1"))


def test_slicing_keeps_calibration_and_moves_center():
    d = Dataset4D(np.arange(4 * 5 * 6 * 7, dtype=np.float32).reshape(4, 5, 6, 7),
                  Calibration(detector_center=(3, 3)))
    s = d[1:3, :, 2:, 1:]
    assert s.shape == (2, 5, 4, 6)
    assert s.calibration.detector_center == (1.0, 2.0)
    np.testing.assert_array_equal(s.pattern(0, 0), d.array[1, 0, 2:, 1:])
    with pytest.raises(DataError):
        d[0]


def test_xarray_round_trip_with_units():
    d = Dataset4D(np.ones((2, 3, 4, 4), np.uint16), Calibration(energy=60e3, scan_step=0.2, angular_sampling=1.0))
    xa = d.to_xarray()
    assert xa.scan_x.attrs["units"] == "Å" and xa.kx.attrs["units"] == "mrad"
    np.testing.assert_allclose(xa.scan_x.values, [0, 0.2, 0.4])
    back = Dataset4D.from_xarray(xa)
    assert back.calibration == d.calibration and back.dtype == np.uint16


@pytest.mark.parametrize("energy", [2.505812194991624e-298, 1e-320, 1e300])
def test_energies_without_a_finite_wavelength_are_refused(energy):
    """Found by the calibration fuzz suite: 2.5e-298 eV divided by zero."""
    from symbreak.calibration import electron_wavelength
    from symbreak.errors import CalibrationError
    with pytest.raises(CalibrationError, match="out of range"):
        electron_wavelength(energy)
