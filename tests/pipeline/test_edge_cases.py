"""Data edge cases through every stage, against independent truth (scipy, python ints,
numpy): NaN/inf, negative and saturated values, all-zero patterns, 1 x 1 and 1-pixel-wide
scans, tiny and large patterns, and every input dtype. docs/edge_cases.md is the table."""

import json
import tracemalloc
import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from scipy import ndimage
from sklearn.decomposition import PCA

import symbreak
from symbreak import preprocess as pp
from symbreak.engine import budget_scope
from symbreak.calibration import Calibration
from symbreak.classical import decompose, fields, virtual_images
from symbreak.classical.com import com
from symbreak.dataset import Dataset4D
from symbreak.errors import DataError, SettingsError
from symbreak.sanitize import InputWarning, check_input

DTYPES = ["uint8", "uint16", "uint32", "float16", "float64"]


def disk_scan(ny: int = 4, nx: int = 5, k: int = 12, seed: int = 0) -> np.ndarray:
    """Integer-valued float64 patterns (<= 255): a shifted disk on a noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:k, :k]
    c = (k - 1) / 2
    out = np.empty((ny, nx, k, k))
    for i in range(ny):
        for j in range(nx):
            r = np.hypot(yy - c - 0.7 * np.sin(i + 1), xx - c - 0.6 * np.cos(j))
            out[i, j] = 150 * (r < k / 4) + rng.integers(0, 20, (k, k))
    return out


def centered(array: np.ndarray) -> Dataset4D:
    """Data with the detector centre calibrated, so ``reference="center"`` gives the COM
    measured from a fixed point that scipy can reproduce."""
    k = array.shape[2:]
    return Dataset4D(array, Calibration(detector_center=((k[0] - 1) / 2, (k[1] - 1) / 2)))


def scipy_com(array: np.ndarray) -> np.ndarray:
    """(scan_y, scan_x, 2) COM (ky, kx) [px] from the geometric centre, NaN where the total
    intensity is not positive."""
    ny, nx, ky, kx = array.shape
    out = np.full((ny, nx, 2), np.nan)
    for i in range(ny):
        for j in range(nx):
            p = np.asarray(array[i, j], dtype=np.float64)
            if p.sum() > 0:
                out[i, j] = np.array(ndimage.center_of_mass(p)) - [(ky - 1) / 2, (kx - 1) / 2]
    return out


def com_yx(result) -> np.ndarray:
    return np.stack([result["com_y"].values, result["com_x"].values], axis=-1)


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


# ------------------------------------------------------------------ check_input
@pytest.mark.filterwarnings("ignore:1 of 20 patterns are all zero")
def test_check_input_counts_and_replaces_nonfinite():
    a = disk_scan().astype(np.float32)
    a[1, 2, 3, 4] = np.nan
    a[1, 2, 5, 5] = np.inf
    a[3, 0, 0, 0] = -np.inf
    a[0, 4] = 0
    a[2, 2, :2, :3] = -1.5
    with pytest.warns(InputWarning, match=r"3 NaN/inf pixels in 2 of 20 patterns"):
        out = check_input(a)
    checks = out.metadata["input_checks"]
    assert checks["nonfinite_pixels"] == 3 and checks["nonfinite_patterns"] == 2
    assert checks["nonfinite_positions"] == [[1, 2], [3, 0]]
    assert checks["negative_pixels"] == 6 and checks["negative_patterns"] == 1
    assert checks["zero_patterns"] == 1 and checks["zero_positions"] == [[0, 4]]
    assert checks["min_value"] == -1.5 and checks["max_value"] == a[np.isfinite(a)].max()
    assert checks["saturated_pixels"] == 0 and checks["saturation_value"] is None
    json.dumps(checks)  # JSON-able as it is
    assert out.is_lazy and out.provenance[-1]["step"] == "check_input"
    np.testing.assert_array_equal(out.to_numpy(), np.nan_to_num(a, nan=0, posinf=0, neginf=0))
    assert np.isnan(a[1, 2, 3, 4])  # the input is not modified


def test_check_input_reads_each_chunk_once_and_stays_lazy():
    calls = []

    def source(block):
        if block.size:  # dask also calls it on an empty array to learn the output type
            calls.append(1)
        return block

    base = disk_scan(4, 4, 8).astype(np.float32)
    base[0, 0, 0, 0] = np.nan
    lazy = da.from_array(base, chunks=(1, 4, 8, 8)).map_blocks(source, dtype=np.float32)
    with pytest.warns(InputWarning):
        out = check_input(lazy, stage="com")
    assert len(calls) == 4  # one pass over the four chunks
    assert out.is_lazy and len(calls) == 4  # the replacement is not computed yet
    assert out.pattern(0, 0)[0, 0] == 0 and len(calls) == 5


def test_check_input_leaves_clean_integer_data_alone():
    a = disk_scan().astype(np.uint16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about
        out = check_input(a)
    assert out.array is a
    assert out.metadata["input_checks"]["saturation_value"] == 65535


def test_saturation_counted_for_the_dtype_maximum_and_a_given_ceiling():
    a = disk_scan().astype(np.uint8)
    a[0, 0, 1, :4] = 255
    a[1, 1, 2, 2] = 255
    with pytest.warns(InputWarning, match=r"5 pixel\(s\) in 2 of 20 patterns are saturated"):
        checks = check_input(a).metadata["input_checks"]
    assert checks["saturated_pixels"] == 5 and checks["saturated_patterns"] == 2
    b = a.astype(np.uint16)
    b[2, 2, 0, 0] = 4095
    with pytest.warns(InputWarning):
        checks = check_input(b, saturation=4095).metadata["input_checks"]
    assert checks["saturated_pixels"] == 1 and checks["saturation_value"] == 4095


def test_float16_is_upcast_and_a_second_check_keeps_the_first_record():
    a = disk_scan().astype(np.float16)
    a[0, 0, 0, 0] = np.inf
    with pytest.warns(InputWarning, match="1 NaN/inf pixels"):
        out = check_input(a)
    assert out.dtype == np.float32 and out.metadata["input_checks"]["upcast"]
    np.testing.assert_array_equal(out.to_numpy(), np.nan_to_num(a.astype(np.float32), posinf=0))
    again = check_input(out).metadata["input_checks"]  # e.g. analyze on checked data
    assert again["dtype"] == "float16" and again["nonfinite_pixels"] == 1


@pytest.mark.parametrize("shape, stage, match", [
    ((1, 1, 8, 8), "analyze", "at least 2 patterns.*1 x 1.*symbreak.com"),
    ((1, 1, 8, 8), "decompose", "at least 2 patterns"),
    ((3, 3, 1, 8), "analyze", "at least 2 x 2 px, got 1 x 8"),
])
def test_sizes_refused_per_stage(shape, stage, match):
    with pytest.raises(DataError, match=match):
        check_input(np.ones(shape, np.float32), stage=stage)


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (1, 5, 1, 1), (3, 1, 1, 8)])
def test_sizes_accepted_for_com_and_virtual(shape):
    for stage in ("com", "virtual"):
        checks = check_input(np.ones(shape, np.float32), stage=stage).metadata["input_checks"]
        assert checks["n_patterns"] == shape[0] * shape[1]


def test_all_zero_data_refused_for_analyze_and_bad_stage_name():
    with pytest.raises(DataError, match="all 4 patterns are zero"):
        quiet(check_input, np.zeros((2, 2, 4, 4), np.uint8))
    with pytest.raises(SettingsError, match="stage must be one of"):
        check_input(np.ones((2, 2, 4, 4)), stage="train")


# ---------------------------------------------------------------------- COM
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_com_ignores_a_nonfinite_pixel(bad):
    a = disk_scan()
    a[2, 3, 4, 7] = bad
    truth = a.copy()
    truth[2, 3, 4, 7] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced silently inside com: check_input reports
        result = com(centered(a), reference="center")
    np.testing.assert_allclose(com_yx(result), scipy_com(truth), atol=1e-9)
    virtual = virtual_images(centered(a), {"all": np.ones((12, 12), bool), "disk": (0, 3)},
                             units="px")
    assert virtual["all"].values[2, 3] == truth[2, 3].sum()
    assert np.isfinite(virtual["disk"].values).all()
    following = virtual_images(a, {"bf": (0, 3)}, units="px", shifts="com")["bf"].values
    expected = virtual_images(truth, {"bf": (0, 3)}, units="px", shifts="com")["bf"].values
    np.testing.assert_allclose(following, expected, atol=1e-9)


def test_com_with_nan_pixels_in_float32_masked_and_thresholded():
    a = disk_scan().astype(np.float32)
    a[0, 1, 6, 6] = np.nan
    truth = np.nan_to_num(a.astype(np.float64))
    mask = np.zeros((12, 12), bool)
    mask[2:10, 3:11] = True
    result = com(centered(a), reference="center", mask=mask, threshold=10)
    expected = scipy_com(np.where(mask & (truth >= 10), truth, 0))
    np.testing.assert_allclose(com_yx(result), expected, atol=1e-5)


def test_all_zero_pattern_gives_nan_com_and_zero_images():
    a = disk_scan()
    a[1, 1] = 0
    with pytest.warns(RuntimeWarning, match="1 of 20 patterns have zero or negative total"):
        result = com(centered(a), reference="center")
    got = com_yx(result)
    assert np.isnan(got[1, 1]).all() and result.attrs["n_bad_patterns"] == 1
    ok = np.ones((4, 5), bool)
    ok[1, 1] = False
    np.testing.assert_allclose(got[ok], scipy_com(a)[ok], atol=1e-9)
    assert result["intensity"].values[1, 1] == 0
    assert np.isnan(result["com_angle"].values[1, 1])
    images = virtual_images(centered(a), {"bf": (0, 3)}, units="px")
    assert images["bf"].values[1, 1] == 0


def test_all_zero_data_com_error_names_the_fix():
    with pytest.raises(symbreak.SymbreakError, match="reference='center'"):
        quiet(com, np.zeros((2, 2, 6, 6)))


def test_negative_values_count_with_their_sign_and_threshold_zero_clips():
    a = disk_scan() - 10.0  # over-subtracted dark: background around zero
    np.testing.assert_allclose(com_yx(com(centered(a), reference="center")), scipy_com(a),
                               atol=1e-9)
    clipped = com(centered(a), reference="center", threshold=0)
    np.testing.assert_allclose(com_yx(clipped), scipy_com(np.clip(a, 0, None)), atol=1e-9)


def test_com_outside_the_detector_is_nan_not_garbage():
    a = disk_scan(2, 2, 12)
    a[0, 1] = -1.0
    a[0, 1, 0, 0] = 150.0  # total 7 > 0, but the COM lands far outside the detector
    with pytest.warns(RuntimeWarning, match="1 of 4 patterns have a COM outside the detector"):
        result = com(centered(a), reference="center")
    assert np.isnan(com_yx(result)[0, 1]).all()
    assert np.isfinite(com_yx(result)[[0, 1, 1], [0, 0, 1]]).all()


@pytest.mark.parametrize("dtype", DTYPES + ["int16", "float32", "bool"])
def test_every_dtype_gives_the_same_com_and_images(dtype):
    a = disk_scan()
    if dtype == "bool":
        a = a > 100
    typed = centered(a.astype(dtype))
    truth = a.astype(np.float64)
    np.testing.assert_allclose(com_yx(com(typed, reference="center")), scipy_com(truth),
                               atol=1e-5)
    images = virtual_images(typed, {"bf": (0, 3), "all": np.ones((12, 12), bool)}, units="px")
    np.testing.assert_array_equal(images["all"].values, truth.sum(axis=(2, 3)))
    r = np.hypot(*np.meshgrid(np.arange(12) - 5.5, np.arange(12) - 5.5, indexing="ij"))
    np.testing.assert_array_equal(images["bf"].values, (truth * (r < 3)).sum(axis=(2, 3)))


@pytest.mark.parametrize("dtype, value", [("uint32", 2**32 - 1), ("uint32", 2**24 + 1),
                                          ("uint16", 65535), ("uint16", 256),
                                          ("int32", -(2**31) + 3)])
def test_large_counts_sum_exactly(dtype, value):
    k = 256
    a = np.full((2, 2, k, k), value, dtype=dtype)
    a[0, 1, 0, :7] = 1
    a[1, 0, 100, 100] = 0
    a[1, 1, 5, 5] = min(value + 1, np.iinfo(dtype).max)  # 256 x 256 x 256 + 1 = 2^24 + 1
    exact = [[sum(int(v) for v in p.ravel()) for p in row] for row in a]
    images = virtual_images(a, {"all": np.ones((k, k), bool)}, units="px")
    assert [[int(v) for v in row] for row in images["all"].values] == exact
    intensity = quiet(com, centered(a), reference="center")["intensity"].values
    assert [[int(v) for v in row] for row in intensity] == exact


def test_one_by_one_scan():
    a = disk_scan(1, 1, 12)
    np.testing.assert_allclose(com_yx(com(centered(a), reference="center")), scipy_com(a),
                               atol=1e-9)
    np.testing.assert_allclose(com_yx(com(a)), [[[0.0, 0.0]]], atol=1e-12)  # from its own mean
    assert virtual_images(a, {"all": np.ones((12, 12), bool)})["all"].values == a.sum()
    with pytest.raises(DataError, match="at least 3 x 3 positions.*1 x 1"):
        com(a, rotation="auto")
    with pytest.raises(DataError, match="PCA needs at least 2 patterns"):
        decompose(a, n_components=1)


@pytest.mark.parametrize("scan", [(1, 7), (7, 1)])
def test_one_pixel_wide_scans(scan):
    a = disk_scan(*scan, 12)
    result = com(centered(a), reference="center")
    assert result["com_x"].shape == scan
    np.testing.assert_allclose(com_yx(result), scipy_com(a), atol=1e-9)
    images = virtual_images(a, {"all": np.ones((12, 12), bool)})
    assert images["all"].shape == scan
    np.testing.assert_array_equal(images["all"].values, a.sum(axis=(2, 3)))
    plane = com(a, reference="plane")  # a least-squares line along the scan
    assert np.isfinite(com_yx(plane)).all()
    with pytest.raises(DataError, match="at least 3 x 3 positions"):
        com(a, rotation="auto")
    scores = decompose(a, n_components=2)["scores"]
    assert scores.shape == (2,) + scan


@pytest.mark.parametrize("scan", [(1, 9), (9, 1)])
def test_fields_on_line_scans(scan):
    axis = 1 if scan == (1, 9) else 0
    steps = np.arange(9.0)
    coords = {"scan_y": steps[:scan[0]], "scan_x": steps[:scan[1]]}
    along, across = np.full(scan, 0.3), np.zeros(scan)
    names = ("com_x", "com_y") if axis == 1 else ("com_y", "com_x")
    vector = xr.Dataset({names[0]: (("scan_y", "scan_x"), along, {"units": "px"}),
                         names[1]: (("scan_y", "scan_x"), across, {"units": "px"})},
                        coords={d: (d, v, {"units": "px"}) for d, v in coords.items()})
    phi = fields.icom(vector).values.ravel()  # the potential of a constant field: a ramp
    np.testing.assert_allclose(np.gradient(phi)[2:-2], 0.3, atol=0.01)
    assert abs(phi.mean()) < 1e-12
    for derived in (fields.divergence, fields.curl):
        with pytest.raises(DataError, match="at least 2 scan positions along both axes"):
            derived(vector)


def test_derivatives_are_nan_only_next_to_an_undefined_com():
    a = disk_scan(5, 5, 12)
    a[2, 2] = 0
    result = quiet(com, a)
    div = fields.divergence(result).values
    expected = np.zeros((5, 5), bool)
    expected[[1, 3, 2, 2], [2, 2, 1, 3]] = True
    np.testing.assert_array_equal(np.isnan(div), expected)
    assert np.isfinite(fields.icom(result).values).all()


@pytest.mark.parametrize("k", [1, 2, 4])
def test_tiny_patterns(k):
    a = disk_scan(3, 3, 12)[..., 4:4 + k, 4:4 + k] + 1.0
    np.testing.assert_allclose(com_yx(com(centered(a), reference="center")), scipy_com(a),
                               atol=1e-9)
    images = virtual_images(a, {"all": np.ones((k, k), bool), "disk": (0, 1)}, units="px")
    np.testing.assert_array_equal(images["all"].values, a.sum(axis=(2, 3)))


def test_large_patterns_within_the_memory_budget():
    k = 1024
    a = np.ones((2, 2, k, k), np.float32)
    a[0, 1, 10, 1000] = 1 + k * k  # half of the intensity in one pixel
    com(np.ones((1, 1, 4, 4), np.float32))  # first-call imports out of the measurement
    with budget_scope("64MB"):
        tracemalloc.start()
        result = com(centered(a), reference="center")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # 16 MiB of data; the moment weights are k*k*4 float32 (16 MiB), nothing else that size
    assert peak < 24 * 2**20
    c = (k - 1) / 2
    np.testing.assert_allclose(com_yx(result)[0, 1], [(10 - c) / 2, (1000 - c) / 2], atol=1e-3)
    np.testing.assert_allclose(com_yx(result)[0, 0], [0, 0], atol=1e-3)


@pytest.mark.parametrize("incremental", [False, True])
def test_decompose_refuses_nonfinite_and_check_input_makes_it_work(incremental):
    a = disk_scan(4, 5, 8)
    a[1, 3, 2, 2] = np.nan
    a[2, 0, 7, 7] = np.inf
    with pytest.raises(DataError, match="NaN or inf.*check_input"):
        decompose(a, n_components=2, incremental=incremental)
    x = np.nan_to_num(a, nan=0, posinf=0).reshape(20, 64)
    truth = PCA(n_components=2).fit(x).transform(x)
    checked = quiet(check_input, a, stage="decompose")
    scores = decompose(checked, n_components=2, incremental=incremental)["scores"].values
    scores = scores.reshape(2, 20).T
    for i in range(2):  # each component up to its sign
        sign = np.sign(scores[:, i] @ truth[:, i])
        np.testing.assert_allclose(sign * scores[:, i], truth[:, i], atol=1e-3)


# ------------------------------------------------------------------ preprocess
def test_preprocess_replaces_nonfinite_and_normalize_refuses_them():
    a = disk_scan(3, 3, 12).astype(np.float32)
    a[1, 1, 5, 5] = np.nan
    out = pp.preprocess(a, crop=8).to_numpy()
    expected = pp.preprocess(np.nan_to_num(a), crop=8).to_numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.isfinite(pp.mean_pattern(Dataset4D(a))).all()
    with pytest.raises(DataError, match="NaN or inf"):
        pp.normalize(Dataset4D(a))


def test_normalize_of_identical_patterns_says_why():
    with pytest.raises(DataError, match="identical"):
        pp.preprocess(np.ones((2, 2, 6, 6), np.float32), crop=4)


# --------------------------------------------------------------------- analyze
def tiny_scan(dtype: str, ny: int = 6, nx: int = 6) -> np.ndarray:
    return disk_scan(ny, nx, 8).astype(dtype)


@pytest.fixture(scope="module")
def analyzed():
    runs = {}
    for dtype in DTYPES:
        runs[dtype] = quiet(symbreak.analyze, tiny_scan(dtype), epochs=1, pca_components=2,
                            progress=False)
    return runs


@pytest.mark.parametrize("dtype", DTYPES)
def test_analyze_runs_on_every_dtype(analyzed, dtype):
    r = analyzed[dtype]
    a = tiny_scan("float64")
    mean = np.array(ndimage.center_of_mass(a.mean(axis=(0, 1))))
    expected = scipy_com(a) + [3.5, 3.5] - mean
    np.testing.assert_allclose(com_yx(r), expected, atol=1e-5)
    assert np.isfinite(r["latent_angle"].values).all()
    assert np.isfinite(r["pca_scores"].values).all()
    np.testing.assert_allclose(r["pca_scores"].values, analyzed["float64"]["pca_scores"].values,
                               atol=1e-4)


def test_analyze_refuses_a_one_by_one_scan():
    with pytest.raises(DataError, match="at least 2 patterns"):
        quiet(symbreak.analyze, tiny_scan("float32", 1, 1), epochs=1, progress=False)


def test_analyze_after_check_input_on_bad_values_and_a_line_scan():
    a = tiny_scan("float32", 1, 6)
    a[0, 2, 3, 3] = np.nan
    a[0, 4] = 0
    r = quiet(symbreak.analyze, quiet(check_input, a), epochs=1, pca_components=2,
              progress=False)
    assert r["com_x"].shape == (1, 6) and r["bf"].shape == (1, 6)
    assert np.isnan(r["com_x"].values[0, 4]) and np.isfinite(np.delete(r["com_x"].values, 4)).all()
    assert np.isfinite(r["latent_angle"].values).all()
    checks = json.loads(r.attrs["metadata"])["input_checks"]
    assert checks["nonfinite_pixels"] == 1 and checks["zero_patterns"] == 1


def test_analyze_reports_input_checks_in_attrs():
    a = tiny_scan("float32", 3, 4)
    a[1, 1, 2, 2] = np.inf
    r = quiet(symbreak.analyze, a, epochs=1, pca_components=2, progress=False)
    checks = json.loads(r.attrs["input_checks"])
    assert checks["nonfinite_pixels"] == 1 and checks["nonfinite_positions"] == [[1, 1]]
    assert r.attrs["input_dtype"] == "float32"
