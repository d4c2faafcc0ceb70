"""The lattice found from analytic maps against the lattice they were made from."""

import numpy as np
import pytest

from symbreak.errors import DataError, SettingsError
from symbreak.symmetry import find_lattice, gauss_reduce, lattice_from_setting

from . import synth

KEYS = ("bf", "adf", "com_x", "com_y")


def _match(found: np.ndarray, true: np.ndarray) -> float:
    """Largest relative error: each found vector must be a primitive lattice vector of
    the true lattice (integer coordinates, same cell area)."""
    coords = found @ np.linalg.inv(true)
    assert np.allclose(coords, np.round(coords), atol=0.05), coords
    area = abs(np.linalg.det(found)) / abs(np.linalg.det(true))
    assert area == pytest.approx(1, abs=0.03)
    errors = np.linalg.norm(found - np.round(coords) @ true, axis=1) / np.linalg.norm(found, axis=1)
    return float(errors.max())


@pytest.mark.parametrize("rotation", [0.0, 17.0, 45.0])
@pytest.mark.parametrize("step,shape", [(0.25, (40, 40)), (0.217, (46, 41))])
def test_graphene_lattice_within_one_percent(rotation, step, shape):
    vectors, basis = synth.graphene_lattice(rotation_deg=rotation)
    m = synth.maps(vectors, basis, shape=shape, step=step, defect=(5.0, 5.0), noise=0.05)
    lattice = find_lattice([m[k] for k in KEYS], step)
    assert _match(lattice.vectors, gauss_reduce(vectors)) < 0.01
    assert lattice.lengths[0] == pytest.approx(synth.GRAPHENE_A, rel=0.01)
    assert lattice.angle == pytest.approx(60.0, abs=0.6)


def test_centred_rectangular_lattice_like_zns_110():
    vectors, basis = synth.rect_lattice(rotation_deg=20.0)
    m = synth.maps(vectors, basis, shape=(60, 60), step=0.2, weights=[1, 0.5, 1, 0.5],
                   defect=(6.0, 6.0))
    lattice = find_lattice([m[k] for k in KEYS], 0.2)
    # the primitive cell of the centred 3.825 x 5.409 Å cell: two 3.3125 Å vectors
    primitive = gauss_reduce(np.array([vectors[0] + vectors[1], vectors[0] - vectors[1]]) / 2)
    assert _match(lattice.vectors, primitive) < 0.01
    assert lattice.lengths[0] == pytest.approx(3.3125, rel=0.01)


def test_too_few_cells_is_refused_with_the_fix():
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors * 3, basis, shape=(24, 24), step=0.25, sigma=1.2)
    with pytest.raises(DataError, match="--lattice"):
        find_lattice([m[k] for k in KEYS], 0.25)


def test_lattice_setting():
    lattice = lattice_from_setting([0, 2.46, 2.1304, 1.23])
    assert lattice.lengths == pytest.approx((2.46, 2.46), rel=1e-3)
    assert lattice.source == "setting"
    with pytest.raises(SettingsError, match="a1y,a1x,a2y,a2x"):
        lattice_from_setting([1, 2, 3])
    with pytest.raises(SettingsError, match="non-collinear"):
        lattice_from_setting([0, 1, 0, 2])
