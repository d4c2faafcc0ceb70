"""Folding into the unit cell: the periodic fit against an analytic periodic map, the
minimum-image k-d tree against brute force, the scan's neighbours found once."""

import numpy as np
import pytest

from symbreak.symmetry import folding
from symbreak.symmetry.api import Descriptor, symmetry_breaking
from symbreak.symmetry.lattice import Lattice

from . import synth

STEP = (0.23, 0.23)  # Å, not a divisor of the cell
SHAPE = (40, 36)


def _lattice() -> Lattice:
    vectors, _ = synth.graphene_lattice(rotation_deg=17.0)
    return Lattice(np.asarray(vectors, float), source="test")


def _analytic(lattice: Lattice, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A lattice-periodic map with three harmonics of known amplitude."""
    out = np.full(np.shape(y), 0.7)
    for (h, k), a, phase in (((1, 0), 1.0, 0.3), ((0, 1), 0.5, -1.1), ((1, 1), 0.25, 2.0)):
        gy, gx = h * lattice.reciprocal[0] + k * lattice.reciprocal[1]
        out = out + a * np.cos(2 * np.pi * (gy * y + gx * x) + phase)
    return out


def test_periodic_fit_is_the_perfect_crystal_past_a_defect():
    lattice = _lattice()
    y, x = folding.scan_positions(SHAPE, STEP)
    truth = _analytic(lattice, y, x).reshape(SHAPE)
    values = truth.copy()
    values[10:12, 20:22] += 5.0  # a defect: rejected by the robust weights
    values[30, 3] = np.nan  # a missing position: left out, still gets the fit
    exclude = np.zeros(SHAPE, bool)
    exclude[0, 0] = True
    fit = folding.fit_periodic(values, lattice, STEP, exclude)
    np.testing.assert_allclose(fit.folded[0], truth, atol=1e-4)
    assert fit.kept.sum() == values.size - 2 and not fit.kept[0] and not fit.kept[30 * 36 + 3]
    residual = fit.residual[:, 0].reshape(SHAPE)
    np.testing.assert_allclose(residual[10:12, 20:22], 5.0, atol=1e-4)
    assert np.isnan(residual[0, 0]) and np.isnan(residual[30, 3])
    # anywhere in the cell, not only at probe positions
    p = np.random.default_rng(0).random((50, 2)) @ lattice.vectors
    np.testing.assert_allclose(fit.at(p[:, 0], p[:, 1])[:, 0], _analytic(lattice, *p.T),
                               atol=1e-4)


def _minimum_image(lattice: Lattice, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) minimum-image distances [Å] between fractional points."""
    d = a[:, None, :] - b[None, :, :]
    d -= np.round(d)
    shifts = folding.CELL_SHIFTS
    return np.min(np.linalg.norm((d[..., None, :] + shifts) @ lattice.vectors, axis=-1),
                  axis=-1)


def test_cell_images_give_minimum_image_distances():
    lattice = _lattice()
    rng = np.random.default_rng(1)
    points = rng.uniform(-2, 3, (60, 2))  # outside the cell too: folded
    queries = rng.random((25, 2))
    images = folding.CellImages(lattice, points)
    dist = _minimum_image(lattice, queries, points)
    d, owner = images.nearest(queries @ lattice.vectors)
    np.testing.assert_allclose(d, dist.min(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(owner, dist.argmin(axis=1))
    for q, row in zip(queries, dist):
        assert images.around(q @ lattice.vectors, 0.5, 1) == sorted(np.nonzero(row <= 0.5)[0])
        assert images.around(q @ lattice.vectors, 0.0, 3) == sorted(np.argsort(row)[:3])


@pytest.mark.filterwarnings("ignore")
def test_scan_neighbours_are_found_once_per_analysis(monkeypatch):
    """Every descriptor (scalar, counts, vector, channels, angle with its vector) of both
    passes uses one tree and one neighbour search; the result hands them on."""
    built, searched = [], []
    init, others = folding.CellImages.__init__, folding.CellImages.others
    monkeypatch.setattr(folding.CellImages, "__init__",
                        lambda self, *a: built.append(1) or init(self, *a))
    monkeypatch.setattr(folding.CellImages, "others",
                        lambda self, k: searched.append(k) or others(self, k))
    vectors, basis = synth.graphene_lattice(rotation_deg=11.0)
    m = synth.maps(vectors, basis, shape=(24, 24), step=0.25, noise=0.01)
    com = np.stack([m["com_y"], m["com_x"]])
    angle = np.arctan2(m["com_y"], m["com_x"])
    descriptors = {"bf": Descriptor("scalar", m["bf"]),
                   "adf": Descriptor("scalar", np.round(10 * m["adf"]), counts=True),
                   "com": Descriptor("vector", com),
                   "z": Descriptor("channels", np.stack([m["adf"], m["bf"]])),
                   "angle": Descriptor("angle", angle + 0.2, angle, vector=com)}
    result = symmetry_breaking(descriptors, Lattice(np.asarray(vectors, float)), 0.25)
    assert built == [1] and searched == [8]
    assert result.neighbours.nearest(16).shape == (24 * 24, 16)
    assert searched == [8, 16]
