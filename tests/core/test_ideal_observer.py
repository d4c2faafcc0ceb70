"""The ideal observer (symbreak.metrics.ideal): closed-form cases, a Monte-Carlo check of
the Poisson likelihood ratio, the periodic reference and the dose efficiency."""

import numpy as np
import pytest
import xarray as xr

from symbreak.errors import DataError, SettingsError
from symbreak.metrics import efficiency, ideal
from symbreak.metrics import ideal_reference as ref
from symbreak.symmetry.folding import scan_positions
from symbreak.symmetry.lattice import Lattice


def _uniform(value, k=(4, 5), n=()):
    return np.full(n + k, value, float)


def test_uniform_patterns_give_the_closed_form_with_sqrt_dose_scaling():
    # intensities per pixel (beam-normalised): the defect scatters 10 % less into each
    pa, pb, k = 0.009, 0.010, 20
    dose, step = 1e4, (0.25, 0.2)
    n = dose * 0.25 * 0.2  # 500 electrons per probe
    a = ideal.expected_counts(_uniform(pa), dose, step)
    b = ideal.expected_counts(_uniform(pb), dose, step)
    assert a.sum() == pytest.approx(n * pa * k)
    expected = np.sqrt(k) * abs(pa - pb) * n / np.sqrt(pb * n)
    assert ideal.significance(a, b) == pytest.approx(expected, rel=1e-12)
    # uniform patterns: the exact Poisson LLR is a function of the total count only,
    # and its d' equals the Gaussian one
    assert ideal.significance(a, b, exact=True) == pytest.approx(expected, rel=1e-12)
    a4 = ideal.expected_counts(_uniform(pa), 4 * dose, step)
    b4 = ideal.expected_counts(_uniform(pb), 4 * dose, step)
    assert ideal.significance(a4, b4) == pytest.approx(2 * expected, rel=1e-12)


def test_pooling_identical_probes_multiplies_by_sqrt_p():
    rng = np.random.default_rng(1)
    b = rng.uniform(5, 50, (6, 7))
    a = b * rng.uniform(0.8, 1.2, b.shape)
    one = ideal.significance(a, b)
    for p in (1, 4, 9):
        pooled = ideal.significance(np.broadcast_to(a, (p,) + a.shape),
                                    np.broadcast_to(b, (p,) + b.shape))
        assert pooled == pytest.approx(np.sqrt(p) * one, rel=1e-12)
    per_probe = ideal.significance(np.stack([a, b]), np.stack([b, b]), pool=False)
    np.testing.assert_allclose(per_probe, [one, 0.0], rtol=1e-12)


def test_poisson_llr_on_draws_reaches_the_predicted_significance():
    """Counts drawn under both hypotheses, scored by the LLR: the distance between its
    means in units of its sd under the perfect crystal is the exact form's d'."""
    rng = np.random.default_rng(7)
    b = rng.uniform(0.5, 4.0, (1, 8, 8))  # low counts: far from the Gaussian limit
    a = b * rng.uniform(0.2, 3.0, b.shape)
    predicted = ideal.significance(a, b, exact=True)
    gaussian = ideal.significance(a, b)
    weights = np.log(a / b).ravel()
    draws = 40_000
    llr0 = rng.poisson(b.ravel(), (draws, b.size)) @ weights
    llr1 = rng.poisson(a.ravel(), (draws, a.size)) @ weights
    measured = (llr1.mean() - llr0.mean()) / llr0.std()
    assert measured == pytest.approx(predicted, rel=0.03)
    assert abs(gaussian - predicted) / predicted > 0.05  # the test tells the two apart


def test_dark_reference_pixels_are_floored_or_left_out():
    b = _uniform(10.0)
    a = b.copy()
    a[0, 0] = 11.0  # the pixel the perfect crystal fills: (1)^2 / 10
    b[1, 1], a[1, 1] = 0.0, 2.0  # a pixel the perfect crystal leaves dark
    left_out = ideal.significance(a, b, floor=0.0)
    assert left_out == pytest.approx(np.sqrt(0.1), rel=1e-12)
    floor = 1e-2 * b.mean()
    floored = ideal.significance(a, b, floor=1e-2)
    assert floored == pytest.approx(np.sqrt(0.1 + (2.0 - floor) ** 2 / floor), rel=1e-12)
    assert np.isfinite(ideal.significance(a, b, floor=1e-2, exact=True))


def test_pixels_equal_below_the_floor_add_nothing():
    b = _uniform(10.0)
    b[:2] = 1e-6  # a far dark field: both patterns almost empty there, and equal
    a = b.copy()
    a[3, 3] = 12.0
    assert ideal.significance(a, b) == pytest.approx(np.sqrt(4.0 / 10.0), rel=1e-12)
    assert ideal.significance(a, b, exact=True) == pytest.approx(
        2 * np.log(1.2) / np.sqrt(10 * np.log(1.2) ** 2), rel=1e-12)


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(SettingsError, match="dose"):
        ideal.expected_counts(_uniform(0.1), -1.0, (0.2, 0.2))
    with pytest.raises(DataError, match="differ in shape"):
        ideal.significance(_uniform(1.0), _uniform(1.0, k=(4, 4)))
    with pytest.raises(DataError, match="NaN"):
        ideal.expected_counts(_uniform(np.nan), 1e4, (0.2, 0.2))


# a periodic synthetic scan: an oblique lattice, patterns of 3 x 2 pixels whose maps
# over the scan are short lattice-periodic series, and one perturbed spot
LATTICE = Lattice(np.array([[0.0, 2.46], [2.13, 1.23]]))
STEP = (0.25, 0.25)
SHAPE = (36, 36)
DEFECT = (4.4, 4.6)


def _periodic(y, x, seed=3):
    rng = np.random.default_rng(seed)
    g = np.array([[1, 0], [0, 1], [1, 1], [1, -1], [2, 0]]) @ LATTICE.reciprocal
    phase = 2 * np.pi * (np.outer(y, g[:, 0]) + np.outer(x, g[:, 1]))  # (n, 5)
    c, s = rng.uniform(-1, 1, (2, 5, 6))
    values = 8.0 + np.cos(phase) @ c + np.sin(phase) @ s  # (n, 6), positive
    return values.reshape(-1, 3, 2)


def _scan():
    y, x = scan_positions(SHAPE, STEP)
    perfect = _periodic(y, x)
    bump = np.exp(-((y - DEFECT[0]) ** 2 + (x - DEFECT[1]) ** 2) / (2 * 0.4 ** 2))
    defect = perfect * (1 + 0.5 * bump[:, None, None])
    shape = SHAPE + (3, 2)
    return defect.reshape(shape), perfect.reshape(shape), np.stack([y, x], axis=1)


def test_built_reference_equals_the_periodic_truth():
    defect, perfect, probes = _scan()
    built = ref.reference_counts(defect, LATTICE, STEP, probes, [DEFECT])
    np.testing.assert_allclose(built, perfect, rtol=1e-9, atol=1e-9)
    given = ideal.defect_significance(defect, perfect, probes, [DEFECT])
    from_built = ideal.defect_significance(defect, built, probes, [DEFECT])
    # the pooled probes: a disc of radius 1.5 Å, every pattern 5 % to 50 % brighter
    assert given[0] > 1.0
    np.testing.assert_allclose(from_built, given, rtol=1e-6)


def test_defect_significance_pools_the_probes_within_the_radius():
    defect, perfect, probes = _scan()
    near = np.hypot(*(probes - DEFECT).T) <= 1.5
    a, b = defect.reshape(-1, 3, 2), perfect.reshape(-1, 3, 2)
    by_hand = np.sqrt(np.sum((a[near] - b[near]) ** 2 / b[near]))
    got = ideal.defect_significance(defect, perfect, probes, [DEFECT, (100.0, 100.0)])
    assert got[0] == pytest.approx(by_hand, rel=1e-12)
    assert np.isnan(got[1])  # no probe within 1.5 Å of a defect outside the scan
    # a supercell of 36 x 36 probes: the far corner is the defect's minimum image
    period = (SHAPE[0] * STEP[0], SHAPE[1] * STEP[1])
    wrapped = ideal.defect_significance(defect, perfect, probes,
                                        [(DEFECT[0] + period[0], DEFECT[1])], period=period)
    assert wrapped[0] == pytest.approx(by_hand, rel=1e-12)


def test_site_pair_of_equivalent_sites_is_zero_and_of_inequivalent_sites_is_not():
    _, perfect, _ = _scan()
    fit = ref.periodic_patterns(perfect, LATTICE, STEP)
    site = np.array([3.0, 3.0])
    same = ref.site_pair_significance(fit, site, site + LATTICE.vectors[0] + LATTICE.vectors[1],
                                      STEP)
    other = ref.site_pair_significance(fit, site, site + 0.5 * LATTICE.vectors[1], STEP)
    offsets = ref.site_offsets(STEP, 1.5)
    a = _periodic(*(site + offsets).T)
    b = _periodic(*(site + 0.5 * LATTICE.vectors[1] + offsets).T)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert other == pytest.approx(np.sqrt(np.sum((a - b) ** 2 / b)), rel=1e-8)
    assert other > 1.0


def test_site_offsets_are_the_grid_within_the_radius():
    offsets = ref.site_offsets((0.5, 0.5), 1.0)
    assert len(offsets) == 13  # 0, 4 at 0.5, 4 at 0.707, 4 at 1.0
    assert np.hypot(*offsets.T).max() == pytest.approx(1.0)


def test_dose_efficiency_of_score_maps_at_each_defect():
    y, x = np.meshgrid(np.arange(10) * 0.5, np.arange(12) * 0.5, indexing="ij")
    score = np.zeros((2,) + y.shape)
    score[0, 2, 3] = 6.0  # map "bf": 6 σ at the first defect (1.0, 1.5)
    score[1, 7, 8] = 3.0  # map "adf": 3 σ at the second (3.5, 4.0)
    score[1, 0, 11] = 9.0  # far from both defects: not counted
    results = xr.Dataset({
        "symmetry_score": (("symmetry_map", "scan_y", "scan_x"), score),
        "truth_probe_y": (("scan_y", "scan_x"), y + 10.0),
        "truth_probe_x": (("scan_y", "scan_x"), x + 20.0),
        "truth_defect_y": ("defect", [11.0, 13.5]),
        "truth_defect_x": ("defect", [21.5, 24.0]),
    }, coords={"symmetry_map": ["bf", "adf"]})
    rows = efficiency.dose_efficiencies(results, [12.0, 30.0])
    got = {(r["defect"], r["map"]): r["efficiency"] for r in rows}
    assert got == pytest.approx({(0, "bf"): 0.5, (0, "adf"): 0.0, (1, "bf"): 0.0,
                                 (1, "adf"): 0.1})
    with pytest.raises(DataError, match="one per defect"):
        efficiency.dose_efficiencies(results, [12.0])
    assert np.isnan(ideal.dose_efficiency(3.0, 0.0))


def test_site_pair_table_has_every_ordered_pair_and_only_inequivalent_ones_differ():
    _, perfect, _ = _scan()
    fit = ref.periodic_patterns(perfect, LATTICE, STEP)
    site = np.array([3.0, 3.0])
    sites = {"A": site, "A'": site + LATTICE.vectors[0],
             "B": site + 0.5 * LATTICE.vectors[1]}
    table = ref.site_pair_table(fit, sites, STEP)
    assert set(table) == {(a, b) for a in sites for b in sites if a != b}
    assert table[("A", "A'")] == pytest.approx(0.0, abs=1e-6)
    assert table[("A", "B")] == pytest.approx(
        ref.site_pair_significance(fit, sites["A"], sites["B"], STEP), rel=1e-12)
    assert table[("B", "A")] > 1.0 and table[("A'", "B")] > 1.0


def test_reference_null_is_zero_for_the_truth_and_follows_a_known_misfit():
    defect, perfect, probes = _scan()
    far = ~ref.near_defects(probes, [DEFECT])
    assert 0 < far.sum() < len(far)
    assert ref.reference_null(defect, perfect, far, 100) == pytest.approx(0.0, abs=1e-9)
    # a reference 1 % too bright: d'_p^2 = sum_k 1e-4 a_k^2 / (1.01 a_k) at every probe
    a = defect.reshape(-1, 3, 2)[far]
    per_probe = np.sum(1e-4 * a / 1.01, axis=(1, 2))
    got = ref.reference_null(defect, 1.01 * defect, far, 100)
    assert got == pytest.approx(np.sqrt(100 * per_probe.mean()), rel=1e-9)
