"""Specimens and ground truth, checked by hand against the known geometry."""

import math

import numpy as np
import pytest

from symbreak.simulation import plan
from symbreak.simulation.structures import (
    graphene_cell,
    nearest_neighbour_distance,
    projected_distances,
    zincblende_cell,
)
from symbreak.simulation.truth import ground_truth

CC = 2.464 / math.sqrt(3)  # graphene C-C bond [Å]


def test_graphene_cell_is_the_papers():
    cell = graphene_cell()
    assert np.allclose(cell.cell.lengths(), [4.268, 2.464, 2.0], atol=1e-3)
    assert len(cell) == 4
    assert nearest_neighbour_distance(cell) == pytest.approx(CC, abs=1e-6)
    # every atom's three nearest neighbours belong to the other sublattice
    big = cell * (3, 3, 1)
    labels = big.arrays["site_label"]
    extent = (big.cell.lengths()[1], big.cell.lengths()[0])
    d = projected_distances(big.positions[:, [1, 0]], big.positions[:, [1, 0]], extent)
    for i in range(len(big)):
        neighbours = np.flatnonzero(np.isclose(d[i], CC, atol=1e-4))
        assert len(neighbours) == 3
        assert all(labels[j] != labels[i] for j in neighbours)


def test_zns_110_has_dumbbells_along_y():
    a = 5.4093
    cell = zincblende_cell("110")
    assert np.allclose(cell.cell.lengths(), [a / math.sqrt(2), a, a / math.sqrt(2)])
    assert sorted(cell.get_chemical_symbols()) == ["S", "S", "Zn", "Zn"]
    zn = cell.positions[np.array(cell.get_chemical_symbols()) == "Zn"]
    s = cell.positions[np.array(cell.get_chemical_symbols()) == "S"]
    # projected along [110], each Zn column has an S column a/4 = 1.352 Å away along y
    for p in zn:
        dx = (s[:, 0] - p[0] + cell.cell[0, 0] / 2) % cell.cell[0, 0] - cell.cell[0, 0] / 2
        dy = (s[:, 1] - p[1] + a / 2) % a - a / 2
        assert np.min(np.hypot(dx, dy)) == pytest.approx(a / 4, abs=1e-6)
        assert np.any(np.isclose(np.abs(dx), 0, atol=1e-6) & np.isclose(np.abs(dy), a / 4))
    cubic = zincblende_cell("001")
    assert len(cubic) == 8 and np.allclose(cubic.cell.lengths(), a)


def test_vacancy_ground_truth_by_hand():
    # grid through the vacancy (centre probe) and its three neighbours at +-0.711 Å in x
    # and +-1.232 Å in y (two of them) and -1.423 Å in x (the third)
    _, p = plan("graphene-vacancy", scan_shape=(3, 5), scan_step=(1.232, CC / 2))
    gt = ground_truth(p)
    labels = gt.site_label.attrs["labels"]
    assert labels == ["A", "B", "next-to-defect", "vacancy"]
    assert len(p.specimen.atoms) == 14 * 8 * 4 - 1
    assert gt.sizes["defect"] == 1
    vy, vx = float(gt.defect_y[0]), float(gt.defect_x[0])
    # the centre probe is on the vacancy
    assert gt.probe_y.values[1, 2] == pytest.approx(vy)
    assert gt.probe_x.values[1, 2] == pytest.approx(vx)
    assert gt.distance_to_defect.values[1, 2] == pytest.approx(0, abs=1e-9)
    assert labels[gt.site_label.values[1, 2]] == "vacancy"
    assert gt.distance_to_nearest_atom.values[1, 2] == pytest.approx(CC, abs=1e-4)
    # exactly three probes sit on atoms next to the vacancy, at one bond length from it
    on_atom = gt.distance_to_nearest_atom.values < 1e-6
    near = gt.site_label.values == labels.index("next-to-defect")
    assert (on_atom & near).sum() == 3
    assert np.allclose(gt.distance_to_defect.values[on_atom & near], CC, atol=1e-4)
    # by hand: the neighbours are at (dy, dx) = (-1.232, +0.711), (+1.232, +0.711) and
    # (0, -1.423) Å from the vacancy, i.e. grid points (0, 3), (2, 3) and (1, 0)
    assert set(zip(*np.nonzero(on_atom & near))) == {(0, 3), (2, 3), (1, 0)}
    # other probes are labelled A, B or vacancy by whichever site is nearest
    assert labels[gt.site_label.values[1, 3]] == "vacancy"  # 0.711 Å from it, 1.232 from atoms
    # nearest_atom indexes the atom table consistently with the distances
    i = gt.nearest_atom.values[on_atom]
    assert np.allclose(gt.atom_x.values[i], gt.probe_x.values[on_atom], atol=1e-6)
    assert np.allclose(gt.atom_y.values[i], gt.probe_y.values[on_atom], atol=1e-6)
    assert gt.distance_to_defect.attrs["units"] == "Å"


def test_pristine_has_no_defect_and_infinite_distance():
    _, p = plan("graphene", scan_region="cell", scan_shape=(2, 6))
    gt = ground_truth(p)
    assert gt.sizes["defect"] == 0
    assert np.all(np.isinf(gt.distance_to_defect.values))
    labels = gt.site_label.attrs["labels"]
    on = gt.distance_to_nearest_atom.values < 1e-6
    # (0, 0) is sublattice A, (1, 1) is B, and the periodic grid is 3 x 7
    assert gt.site_label.shape == (3, 7)
    assert labels[gt.site_label.values[0, 0]] == "A" and on[0, 0]
    assert labels[gt.site_label.values[1, 1]] == "B" and on[1, 1]
    # by hand: A at x = 0, 2.134, 4.268 Å; B at 0.711, 2.845 Å (x step 0.711 Å)
    assert set(zip(*np.nonzero(on))) == {(0, 0), (0, 4), (0, 6), (1, 1), (1, 3),
                                         (2, 0), (2, 4), (2, 6)}
    assert [labels[c] for c in gt.site_label.values[0, [0, 4, 6]]] == ["A", "B", "A"]
    assert [labels[c] for c in gt.site_label.values[1, [1, 3]]] == ["B", "A"]
    # the appended row and column repeat the first ones, one cell further
    assert np.array_equal(gt.site_label.values[2], gt.site_label.values[0])
    assert gt.probe_x.values[0, 6] - gt.probe_x.values[0, 0] == pytest.approx(4.268, abs=1e-3)


def test_nearest_atom_uses_periodic_images():
    extent = (10.0, 10.0)
    atoms = np.array([[0.1, 0.1], [5.0, 5.0]])
    d = projected_distances(np.array([[9.9, 9.9]]), atoms, extent)
    assert d[0, 0] == pytest.approx(math.hypot(0.2, 0.2))


def test_divacancy_and_substitution():
    _, p = plan("graphene", defect="divacancy")
    assert len(p.specimen.defects) == 2
    (y0, x0, _), (y1, x1, _) = p.specimen.defects
    assert math.hypot(y1 - y0, x1 - x0) == pytest.approx(CC, abs=1e-4)
    assert len(p.specimen.atoms) == p.specimen.tiling[0] * p.specimen.tiling[1] * 4 - 2
    labels = p.specimen.atoms.arrays["site_label"]
    assert (labels == "next-to-defect").sum() == 4
    _, p = plan("graphene", defect="N", defect_site=(10.0, 10.0))
    numbers = p.specimen.atoms.numbers
    assert (numbers == 7).sum() == 1
    dopant = np.flatnonzero(numbers == 7)[0]
    assert p.specimen.atoms.arrays["site_label"][dopant] == "dopant"
    y, x = p.specimen.atoms.positions[dopant, [1, 0]]
    assert math.hypot(y - 10.0, x - 10.0) < CC
    assert (p.specimen.atoms.arrays["site_label"] == "next-to-defect").sum() == 3


def test_structure_file(tmp_path):
    import ase.io
    path = tmp_path / "zns.cif"
    ase.io.write(path, zincblende_cell("001"))
    settings, p = plan(str(path), scan_region="cell", scan_shape=(4, 4), thickness=2)
    assert sorted(set(p.specimen.atoms.get_chemical_symbols())) == ["S", "Zn"]
    assert len(p.specimen.atoms) == 8 * 2 * p.specimen.tiling[0] * p.specimen.tiling[1]
    gt = ground_truth(p)
    assert set(gt.site_label.attrs["labels"]) == {"Zn", "S"}
