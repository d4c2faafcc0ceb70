"""Property test: COM (with any disk/annulus mask and threshold) equals scipy's."""

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import symbreak
from symbreak.classical import com


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(3, 20), st.integers(3, 20)),
    seed=st.integers(0, 2**16),
    inner=st.floats(0, 3),
    width=st.floats(2, 12),
    threshold=st.one_of(st.none(), st.floats(0, 0.5)),
    integer=st.booleans(),
)
def test_com_matches_scipy(shape, seed, inner, width, threshold, integer):
    rng = np.random.default_rng(seed)
    data = rng.random(shape) + 0.01
    if integer:
        data = (data * 1000).astype(np.uint16)
        threshold = None if threshold is None else threshold * 1000
    center = ((shape[2] - 1) / 2, (shape[3] - 1) / 2)
    ky, kx = np.indices(shape[2:])
    r = np.hypot(ky - center[0], kx - center[1])
    mask = (r >= inner) & (r < inner + width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fully masked patterns: NaN
        result = com(symbreak.as_dataset(data, detector_center=(0, 0)), reference="center",
                     mask=mask, threshold=threshold)
    for idx in np.ndindex(shape[:2]):
        pattern = data[idx].astype(float) * mask
        if threshold is not None:
            pattern = np.where(pattern >= threshold, pattern, 0)
        if pattern.sum() <= 0:
            assert np.isnan(result.com_x.values[idx])
            continue
        expected = ndimage.center_of_mass(pattern)
        tol = 1e-4 if integer else 1e-10
        assert abs(result.com_y.values[idx] - expected[0]) < tol
        assert abs(result.com_x.values[idx] - expected[1]) < tol
