"""The compiled streaming kernels against numpy references in float64."""

from __future__ import annotations

import numpy as np
import pytest

from symbreak.arrays import pattern_rows
from symbreak.classical.sums import moment_weights, pad_outputs, pattern_sums
from symbreak.engine import kernels
from symbreak.preprocess import _pattern_sum

TYPES = [np.uint8, np.uint16, np.uint32, np.int16, np.int32, np.int64, np.float32, np.float64]


def _patterns(dtype, n: int = 11, shape=(9, 7), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.poisson(30.0, (n, shape[0] * shape[1]))
    if np.dtype(dtype).kind in "iu" and np.dtype(dtype).kind == "i":
        values = values - 10  # negative pixels too
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("accumulate", [np.float32, np.float64])
def test_weighted_sums_equal_float64_products(dtype, accumulate) -> None:
    rows = _patterns(dtype)  # 11 patterns: two groups of 4 and a tail of 3
    rng = np.random.default_rng(1)
    weights_t = rng.normal(size=(8, rows.shape[1])).astype(accumulate)  # two column groups
    out = np.empty((len(rows), 8), accumulate)
    kernels.weighted_sums(rows, weights_t, out)
    expected = rows.astype(np.float64) @ weights_t.astype(np.float64).T
    tolerance = 1e-5 if accumulate == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance * np.abs(expected).max())


def test_threshold_drops_pixels_below_it_and_nan() -> None:
    rows = _patterns(np.float32, n=6)
    rows[2, 5] = np.nan
    weights_t = np.ones((4, rows.shape[1]), np.float32)
    out = np.empty((6, 4), np.float32)
    kernels.weighted_sums(rows, weights_t, out, threshold=30.0)
    kept = np.where(rows >= 30.0, rows, 0)  # NaN >= 30 is False: dropped
    np.testing.assert_allclose(out[:, 0], kept.sum(axis=1), rtol=1e-6)


def test_nan_without_threshold_shows_in_the_sum() -> None:
    rows = _patterns(np.float32, n=5)
    rows[4, 0] = np.nan
    out = np.empty((5, 4), np.float32)
    kernels.weighted_sums(rows, np.ones((4, rows.shape[1]), np.float32), out)
    assert np.isnan(out[4]).all() and np.isfinite(out[:4]).all()


def test_weights_need_groups_of_four_columns() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        kernels.weighted_sums(_patterns(np.uint16), np.ones((3, 63), np.float32),
                              np.empty((11, 3), np.float32))


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_add_patterns_is_the_exact_sum(dtype) -> None:
    rows = _patterns(dtype, n=10)
    total = np.full(rows.shape[1], 2.0)
    kernels.add_patterns(rows, total)
    np.testing.assert_array_equal(total, 2.0 + rows.sum(axis=0, dtype=np.float64))


def test_a_chunk_cut_from_a_scan_is_read_row_by_row_without_copies() -> None:
    scan = _patterns(np.uint16, n=6 * 5).reshape(6, 5, 9, 7)
    chunk = scan[1:4, 1:4]  # not contiguous: 3 rows of 3 patterns
    pieces = pattern_rows(chunk)
    assert [start for start, _ in pieces] == [0, 3, 6]
    assert all(np.shares_memory(rows, scan) for _, rows in pieces)
    weights = moment_weights((9, 7), None, np.float32, padded=True)
    np.testing.assert_array_equal(
        pattern_sums(chunk, weights, columns=3),
        pattern_sums(np.ascontiguousarray(chunk), weights, columns=3))
    expected = chunk.reshape(9, 63).astype(np.float64) @ weights[:3].T.astype(np.float64)
    np.testing.assert_allclose(pattern_sums(chunk, weights, columns=3).reshape(9, 3),
                               expected, rtol=1e-6, atol=1e-3)


def test_types_the_kernel_cannot_read_are_converted() -> None:
    rows = _patterns(np.float16, n=5).reshape(1, 5, 9, 7)
    big_endian = rows.astype(">f4")
    weights = pad_outputs(moment_weights((9, 7), None, np.float32))
    for block in (rows, big_endian):
        assert not kernels.reads_directly(block.reshape(5, 63))
        expected = block.reshape(5, 63).astype(np.float64) @ weights[:3].T.astype(np.float64)
        np.testing.assert_allclose(pattern_sums(block, weights, columns=3)[0], expected,
                                   rtol=1e-6, atol=1e-3)


def test_block_sum_of_a_non_contiguous_chunk_with_nan() -> None:
    scan = _patterns(np.float32, n=4 * 4).reshape(4, 4, 9, 7)
    scan[2, 2, 3, 3] = np.inf
    chunk = scan[1:3, 1:4]
    expected = np.where(np.isfinite(chunk), chunk, 0).sum(axis=(0, 1), dtype=np.float64)
    np.testing.assert_allclose(_pattern_sum(chunk), expected, rtol=1e-12)


def _rings_reference(block, shifts, center, rings, sampling):
    """Per-pattern numpy: annuli around centre + shift, NaN/inf as 0 (float64)."""
    a, b, ky, kx = block.shape
    out = np.empty((a, b, len(rings)))
    yy, xx = np.arange(ky) - center[0], np.arange(kx) - center[1]
    for i in range(a):
        for j in range(b):
            dy, dx = shifts[i, j]
            r = np.hypot(((yy - dy) * sampling[0])[:, None], ((xx - dx) * sampling[1])[None, :])
            pattern = np.nan_to_num(block[i, j].astype(np.float64), nan=0, posinf=0, neginf=0)
            for d, (inner, outer) in enumerate(rings):
                out[i, j, d] = pattern[(r >= inner) & (r < outer)].sum()
    return out


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float16])
def test_shifted_ring_sums_equal_a_per_pattern_reference(dtype) -> None:
    from symbreak.classical.virtual import shifted_ring_sums

    rng = np.random.default_rng(3)
    scan = rng.poisson(50.0, (5, 6, 20, 24)).astype(dtype)
    if np.dtype(dtype).kind == "f":
        scan[1, 2, 4, 4], scan[3, 0, 10, 11] = np.nan, np.inf
    shifts = rng.uniform(-3, 3, (5, 6, 2))
    center, sampling = (9.3, 11.7), (0.9, 1.1)
    rings = np.array([[0.0, 4.2], [4.2, 7.9], [7.9, np.inf], [2.5, 3.3]])
    chunk = scan[1:4, 2:6]  # not contiguous
    got = shifted_ring_sums(chunk, shifts[1:4, 2:6], center, rings, sampling)
    expected = _rings_reference(chunk, shifts[1:4, 2:6], center, rings, sampling)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("threshold", [None, 25.0])
def test_moment_sums_equal_the_weighted_sums(dtype, threshold) -> None:
    rows = _patterns(dtype, n=11, shape=(9, 7))  # groups of 4 and a tail of 3
    weights = moment_weights((9, 7), None, np.float64, padded=True)
    x, y = weights[1, :7].copy(), weights[2, ::7].copy()
    got = kernels.moment_sums(rows, y, x, np.empty((11, 4)), threshold)
    kept = rows.astype(np.float64)
    if threshold is not None:
        kept = np.where(kept >= threshold, kept, 0)
    np.testing.assert_allclose(got, kept @ weights.T, rtol=1e-13, atol=1e-9)


def test_unmasked_com_uses_the_coordinates_and_agrees_with_the_masked_path() -> None:
    from symbreak.classical import com

    scan = _patterns(np.uint16, n=30, shape=(16, 18)).reshape(5, 6, 16, 18)
    everywhere = np.ones((16, 18), bool)
    center = dict(detector_center=(7.5, 8.5))
    plain = com(symbreak_dataset(scan, center), reference="center")
    masked = com(symbreak_dataset(scan, center), reference="center", mask=everywhere)
    for name in ("com_x", "com_y", "intensity"):
        np.testing.assert_allclose(plain[name].values, masked[name].values, rtol=1e-6)


def symbreak_dataset(array, calibration):
    import symbreak

    return symbreak.as_dataset(array, **calibration)
