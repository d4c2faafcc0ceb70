"""symbreak.simulate agrees with abTEM used directly, probe by probe."""

import abtem
import numpy as np
import pytest

import symbreak
from symbreak.simulation import plan

CS_ANGSTROM = 1e5  # cs=0.01 mm in abTEM's unit


def direct_patterns(p, settings, positions_yx):
    """abTEM by hand: the same atoms, grid and probe, positions one by one (CustomScan),
    full diffraction patterns, then the same crop (zero angle at index n // 2)."""
    potential = abtem.Potential(p.specimen.atoms, gpts=p.gpts[::-1],
                                slice_thickness=p.slice_thickness,
                                parametrization="lobato", projection="infinite")
    probe = abtem.Probe(energy=settings.energy, semiangle_cutoff=settings.semiangle,
                        defocus=settings.defocus, Cs=CS_ANGSTROM if settings.cs else 0.0)
    xy = np.stack([positions_yx[1].ravel(), positions_yx[0].ravel()], axis=1)
    waves = probe.multislice(potential, scan=abtem.CustomScan(xy), lazy=False)
    patterns = waves.diffraction_patterns(max_angle="full")
    if p.resample:
        patterns = patterns.interpolate(sampling=float(p.k_sampling[0]))
    array = np.asarray(patterns.array).transpose(0, 2, 1)  # (n, kx, ky) -> (n, ky, kx)
    n = settings.detector_pixels
    ky, kx = array.shape[-2:]
    array = array[:, ky // 2 - n // 2 : ky // 2 - n // 2 + n, kx // 2 - n // 2 : kx // 2 - n // 2 + n]
    return array.reshape(positions_yx[0].shape + (n, n))


@pytest.mark.parametrize("options", [
    # native (non-square) pixels as in the paper's set: no resampling
    dict(scan_region="cell", scan_shape=(2, 2), tiling=(10, 6), max_angle=None,
         detector_pixels=48),
    # the demo's detector: resampled to 1.5 mrad square pixels; defocus and Cs
    dict(scan_shape=(2, 3), scan_step=0.3, detector_pixels=64, max_angle=48.0,
         defocus=40.0, cs=0.01),
])
def test_same_patterns_as_abtem_directly(options):
    data = symbreak.simulate("graphene", **options)
    settings, p = plan("graphene", **options)
    ours = data.to_numpy()
    gt = data.ground_truth
    theirs = direct_patterns(p, settings, (gt.probe_y.values, gt.probe_x.values))
    assert ours.shape == theirs.shape
    scale = theirs.max()
    computed = (slice(0, p.scan_gpts[0]), slice(0, p.scan_gpts[1]))
    # float32 batched FFTs against one-by-one: agreement to float32 rounding
    np.testing.assert_allclose(ours[computed], theirs[computed], rtol=1e-4, atol=1e-5 * scale)
    if p.periodic_append:
        # the appended row and column are exact copies of the first (the paper's grid) ...
        assert np.array_equal(ours[-1], ours[0]) and np.array_equal(ours[:, -1], ours[:, 0])
        # ... and match abTEM one lattice vector further to 1 % of the peak: a shift by a
        # non-integer number of grid pixels is not exact for the sampled exp(i sigma V)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-2 * scale)
    # and the calibration is abTEM's: 1 / supercell extent per pixel when native
    if options["max_angle"] is None:
        extent = p.specimen.extent
        assert data.calibration.k_sampling == pytest.approx((1 / extent[0], 1 / extent[1]))
