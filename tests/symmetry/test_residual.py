"""Residuals, scores and anomalies on analytic maps with known defects."""

import numpy as np
import pytest

from symbreak import metrics
from symbreak.symmetry import Lattice, gauss_reduce
from symbreak.symmetry.api import Descriptor, symmetry_breaking
from symbreak.symmetry.reference import wrap

from . import synth


def _descriptors(m):
    return {"bf": Descriptor("scalar", m["bf"]), "adf": Descriptor("scalar", m["adf"]),
            "com": Descriptor("vector", np.stack([m["com_y"], m["com_x"]]))}


def _run(rotation=23.0, step=0.23, shape=(44, 44), noise=0.02, **kw):
    vectors, basis = synth.graphene_lattice(rotation_deg=rotation)
    m = synth.maps(vectors, basis, shape=shape, step=step, noise=noise, **kw)
    return m, symmetry_breaking(_descriptors(m), Lattice(gauss_reduce(vectors)), step)


@pytest.mark.parametrize("weight", [0.0, 2.0])  # a vacancy, a heavier substituent
def test_defect_is_the_only_anomaly_and_within_one_angstrom(weight):
    m, r = _run(defect=(5.1, 4.8), defect_weight=weight)
    assert len(r.anomalies) == 1, [(a.y, a.x, a.score) for a in r.anomalies]
    a = r.anomalies[0]
    assert np.hypot(a.y - m["defect"][0], a.x - m["defect"][1]) < 1.0
    distance = np.hypot(m["Y"] - m["defect"][0], m["X"] - m["defect"][1])
    assert metrics.auc(r.scores["combined"], distance <= 1.5) >= 0.9


def test_perfect_crystal_stays_below_the_threshold():
    _, r = _run(noise=0.05)
    combined = r.scores["combined"]
    assert np.percentile(combined, 99) < r.threshold
    assert r.anomalies == []
    # under the null the score is at most a standard normal: the spread is the larger of
    # two robust estimates, so the score errs low (measured median -1.1 on white noise)
    assert -1.5 < np.median(combined) < 0.3
    assert np.percentile(combined, 99) < 3.0


def test_angle_residual_ignores_a_constant_offset_and_wrapping():
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors, basis, shape=(40, 40), step=0.25, noise=0.0)
    com = np.arctan2(m["com_y"], m["com_x"])
    rng = np.random.default_rng(1)
    latent = wrap(com + 2.5 + 0.05 * rng.standard_normal(com.shape))
    latent[20, 20] = wrap(latent[20, 20] + 2.0)  # one pattern whose angle breaks the rule
    r = symmetry_breaking({"angle": Descriptor("angle", latent, com)},
                          Lattice(gauss_reduce(vectors)), 0.25, families={})
    assert r.residuals["angle"].reference.std() < 0.2  # reference ~ constant 2.5 rad
    assert np.isclose(np.median(np.abs(wrap(r.residuals["angle"].reference - 2.5))), 0, atol=0.05)
    assert [a.index for a in r.anomalies] == [(20, 20)]


def test_content_channels_are_pooled():
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors, basis, shape=(40, 40), step=0.25, noise=0.03, defect=(5, 5))
    z = np.stack([m["adf"], m["bf"] * 0 + np.random.default_rng(2).standard_normal(m["bf"].shape)])
    r = symmetry_breaking({"z": Descriptor("channels", z)}, Lattice(gauss_reduce(vectors)),
                          0.25, families={})
    assert r.residuals["z"].dof == 2
    a = r.anomalies[0]
    assert np.hypot(a.y - m["defect"][0], a.x - m["defect"][1]) < 1.0


def test_scan_neighbours_are_the_nearest_lattice_equivalent_positions():
    """Against brute force: minimum-image distances [Å] after folding into the cell, over
    the 3 x 3 neighbouring cells, for a skewed (hexagonal) lattice at a non-integer step."""
    from symbreak.symmetry.lattice import Lattice
    from symbreak.symmetry.folding import ScanNeighbours, scan_positions

    vectors, _ = synth.graphene_lattice(rotation_deg=17.0)
    lattice = Lattice(np.asarray(vectors, float), source="test")
    shape, step, k = (23, 19), (0.217, 0.217), 8
    got = ScanNeighbours(lattice, shape, step).nearest(k)
    y, x = scan_positions(shape, step)
    uv = np.stack(lattice.fractional(y, x), axis=1)
    d = uv[:, None, :] - uv[None, :, :]
    d -= np.round(d)
    shifts = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)], float)
    dist = np.min(np.linalg.norm((d[..., None, :] + shifts) @ lattice.vectors, axis=-1), axis=-1)
    np.fill_diagonal(dist, np.inf)
    expected = np.sort(dist, axis=1)[:, :k]
    assert not (got == np.arange(len(got))[:, None]).any()
    np.testing.assert_allclose(np.sort(np.take_along_axis(dist, got, axis=1), axis=1), expected,
                               rtol=1e-12)
