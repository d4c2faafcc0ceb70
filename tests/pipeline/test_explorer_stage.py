"""The explorer stage's sizing and 8-bit quantisation, against direct arithmetic."""

import math

import numpy as np
import pytest

from symbreak.analysis.explorer_stage import LEVELS, MAX_BYTES, dequantise, quantise, scan_stride


@pytest.mark.parametrize("scan, pattern, arrays, expected", [
    ((40, 40), (50, 50), 2, 2),      # the demo: 8 MB at every position, 2 MB at every 2nd
    ((40, 40), (50, 50), 1, 1),      # 4 MB: every position
    ((256, 256), (128, 128), 2, 20),  # 13 x 13 positions of 32 KiB
    ((3, 500), (64, 64), 2, 2),
    ((4, 4), (4096, 4096), 2, 4),    # one position, however large the patterns
])
def test_scan_stride_is_the_smallest_within_the_cap(scan, pattern, arrays, expected):
    stride = scan_stride(scan, pattern, arrays)
    assert stride == expected

    def size(s):
        return math.ceil(scan[0] / s) * math.ceil(scan[1] / s) * arrays * pattern[0] * pattern[1]

    if stride < max(scan):
        assert size(stride) <= MAX_BYTES
    assert stride == 1 or size(stride - 1) > MAX_BYTES


def test_quantise_round_trip_within_half_a_step():
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(5, 6, 8, 8))
    reconstruction = patterns + rng.normal(scale=0.1, size=patterns.shape)
    (p, r), low, high = quantise([patterns, reconstruction])
    np.testing.assert_allclose([low, high], np.percentile(patterns, [0.1, 99.9]))
    assert p.dtype == r.dtype == np.uint8
    attrs = {"low": low, "high": high}
    step = (high - low) / LEVELS
    for codes, values in ((p, patterns), (r, reconstruction)):
        np.testing.assert_allclose(dequantise(codes, attrs), np.clip(values, low, high),
                                   atol=step / 2 + 1e-12)


def test_quantise_a_constant_pattern():
    (codes,), low, high = quantise([np.full((2, 2, 3, 3), 0.5)])
    assert high > low and (dequantise(codes, {"low": low, "high": high}) == 0.5).all()
