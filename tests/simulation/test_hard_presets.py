"""The hard cases: monolayer hexagonal BN and the light-substitution presets
(graphene-n, graphene-b, hbn-perfect, hbn-c, hbn-vacancy), checked against the known
geometry by hand and, on tiny scans, against the physics of the dopants."""

import math
import re

import numpy as np
import pytest

import symbreak
from symbreak.classical.virtual import virtual_image
from symbreak.errors import SettingsError
from symbreak.simulation import PRESETS, plan
from symbreak.simulation.structures import nearest_neighbour_distance, projected_distances
from symbreak.simulation.truth import ground_truth

HBN_A = 2.504  # [Å] monolayer hBN lattice constant
BN = HBN_A / math.sqrt(3)  # [Å] B-N bond, 1.4457
B, C, N = 5, 6, 7
HARD = ("graphene-n", "graphene-b", "hbn-perfect", "hbn-c", "hbn-vacancy")
# preset -> (perfect crystal of the same supercell, defect kind, Z there before, after)
DEFECTS = {
    "graphene-n": ("graphene-perfect", "substitution", C, N),
    "graphene-b": ("graphene-perfect", "substitution", C, B),
    "hbn-c": ("hbn-perfect", "substitution", N, C),
    "hbn-vacancy": ("hbn-perfect", "vacancy", B, None),
}
TINY = dict(scan_shape=(4, 4), detector_pixels=16)


def _yx(atoms):
    return atoms.positions[:, [1, 0]]


def test_hbn_cell_geometry():
    from symbreak.simulation.structures import hbn_cell

    cell = hbn_cell()
    assert np.allclose(cell.cell.lengths(), [HBN_A * math.sqrt(3), HBN_A, 2.0], atol=1e-9)
    assert sorted(cell.get_chemical_symbols()) == ["B", "B", "N", "N"]
    assert list(cell.arrays["site_label"]) == cell.get_chemical_symbols()
    assert nearest_neighbour_distance(cell) == pytest.approx(BN, abs=1e-6)
    assert BN == pytest.approx(1.446, abs=1e-3)
    # every atom's three nearest neighbours are the other element (B on one sublattice,
    # N on the other) and its six next-nearest, at a, are its own
    big = cell * (3, 3, 1)
    symbols = np.array(big.get_chemical_symbols())
    extent = (big.cell.lengths()[1], big.cell.lengths()[0])
    d = projected_distances(_yx(big), _yx(big), extent)
    for i in range(len(big)):
        first = np.flatnonzero(np.isclose(d[i], BN, atol=1e-4))
        second = np.flatnonzero(np.isclose(d[i], HBN_A, atol=1e-4))
        assert len(first) == 3 and len(second) == 6
        assert set(symbols[first]) == {"N" if symbols[i] == "B" else "B"}
        assert set(symbols[second]) == {symbols[i]}


def test_hbn_is_a_system_like_graphene():
    settings, p = plan("hbn", scan_region="cell", scan_shape=(2, 6))
    assert settings.system == "hbn" and p.slice_thickness == 2.0  # one slice, as graphene
    assert p.specimen.unit_cell == pytest.approx((HBN_A, HBN_A * math.sqrt(3)))
    gt = ground_truth(p)
    assert gt.site_label.attrs["labels"] == ["B", "N"]
    # truth by species: every atom's site label is its element
    labels = np.array(gt.atom_site.attrs["labels"])[gt.atom_site.values]
    assert np.array_equal(np.where(gt.atom_number.values == B, "B", "N"), labels)
    assert (gt.atom_number.values == B).sum() == (gt.atom_number.values == N).sum()
    for bad, words in (({"zone_axis": "110"}, "hbn is simulated along"),
                       ({"thickness": 2}, "hbn is a single layer")):
        with pytest.raises(SettingsError, match=words):
            plan("hbn", **bad)
    for name, fix in (("no-such-system", "a system (graphene, hbn, zns)"),
                      ("no-such-file.cif", "give graphene, hbn, zns or the path")):
        with pytest.raises(SettingsError, match=re.escape(fix)):
            plan(name)


def test_hbn_in_the_command_line_help_and_list(capsys):
    from symbreak.cli import main

    assert main(["simulate", "--list"]) in (0, None)
    listed = capsys.readouterr().out
    assert all(f"{name}\n" in listed for name in HARD)
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "graphene, hbn, zns" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_lands_on_the_intended_site_and_species(name):
    perfect_name, kind, before, after = DEFECTS[name]
    _, p = plan(name)
    _, perfect = plan(perfect_name, tiling=p.specimen.tiling)
    gt = ground_truth(p)
    assert gt.sizes["defect"] == 1
    assert gt.defect_kind.attrs["labels"][int(gt.defect_kind[0])] == kind
    site = np.array([float(gt.defect_y[0]), float(gt.defect_x[0])])
    # the perfect crystal has an atom of the replaced species exactly there
    d_perfect = np.hypot(*(_yx(perfect.specimen.atoms) - site).T)
    assert d_perfect.min() < 1e-6
    assert perfect.specimen.atoms.numbers[np.argmin(d_perfect)] == before
    # the truth's atom table: the new species there (or none), all else as before
    atom_yx = np.stack([gt.atom_y.values, gt.atom_x.values], axis=1)
    d = np.hypot(*(atom_yx - site).T)
    others = np.sort(perfect.specimen.atoms.numbers[d_perfect > 1e-6])
    if after is None:
        assert d.min() > 1.0 and np.array_equal(np.sort(gt.atom_number.values), others)
    else:
        assert d.min() < 1e-6 and int(gt.atom_number[np.argmin(d)]) == after
        labels = gt.atom_site.attrs["labels"]
        assert labels[int(gt.atom_site[np.argmin(d)])] == "dopant"
        assert np.array_equal(np.sort(np.delete(gt.atom_number.values, np.argmin(d))),
                              others)
    # the 10 x 10 Å window holds it, 3 Å or more from every edge
    y, x = gt.probe_y.values, gt.probe_x.values
    assert min(site[0] - y.min(), y.max() - site[0], site[1] - x.min(),
               x.max() - site[1]) >= 3.0


def test_hbn_c_is_on_the_nitrogen_nearest_the_centre_and_vacancy_on_boron():
    """The preset comments' choices: C on the N site nearest the supercell centre, the
    vacancy on a boron next to it."""
    _, p = plan("hbn-perfect")
    atoms = p.specimen.atoms
    centre = np.array(p.specimen.extent) / 2
    nearest = np.argmin(np.hypot(*(_yx(atoms) - centre).T))
    assert atoms.numbers[nearest] == N
    _, doped = plan("hbn-c")
    assert np.allclose(doped.specimen.defects[0][:2], _yx(atoms)[nearest], atol=1e-6)


@pytest.mark.parametrize("name", HARD)
def test_preset_simulates_a_tiny_scan_with_its_truth(name):
    data = symbreak.simulate(name, **TINY)
    x = data.to_numpy()
    assert x.shape == (4, 4, 16, 16) and np.isfinite(x).all() and (x >= 0).all()
    assert 0.5 < x.sum(axis=(2, 3)).min() <= x.sum(axis=(2, 3)).max() < 1.01
    gt = data.ground_truth
    assert gt.sizes["defect"] == (0 if name == "hbn-perfect" else 1)
    expected = {"graphene-n": {C, N}, "graphene-b": {B, C}, "hbn-perfect": {B, N},
                "hbn-c": {B, C, N}, "hbn-vacancy": {B, N}}[name]
    assert set(gt.atom_number.values.tolist()) == expected


def _adf_on_site_and_one_cell_away(name: str, a: float) -> tuple[float, float]:
    """The ADF (36-48 mrad) on the defect's atom and on the same sublattice's atom one
    lattice vector (``a`` along y) before it: a two-probe scan centred on the site."""
    data = symbreak.simulate(name, scan_shape=(2, 1), scan_step=(a, 0.25))
    gt = data.ground_truth
    assert gt.distance_to_defect.values.ravel() == pytest.approx([a, 0.0], abs=1e-6)
    assert gt.distance_to_nearest_atom.values.max() < 1e-6
    adf = virtual_image(data, 36.0, 48.0).values.ravel()
    return float(adf[1]), float(adf[0])


@pytest.mark.parametrize("name, a, low, high", [
    ("graphene-n", 2.464, 1.2, 1.7),  # N (Z 7) on a C site: brighter
    ("graphene-b", 2.464, 0.7, 0.95),  # B (Z 5): darker
    ("hbn-c", HBN_A, 0.75, 0.95),  # C (Z 6) on an N site: darker than the N
])
def test_substitution_changes_the_adf_on_its_site_in_the_right_direction(name, a, low,
                                                                         high):
    on_site, reference = _adf_on_site_and_one_cell_away(name, a)
    assert low < on_site / reference < high


def test_hard_sets_are_named_but_not_in_the_default_reproduce():
    from symbreak.cli import reproduce as cli
    from symbreak.reproduce import run

    assert run.HARD_SETS == cli.HARD_SETS == HARD and run.SETS == cli.SETS
    assert not set(HARD) & set(run.SETS)
    assert set(HARD) <= set(PRESETS)


def _results_truth(name: str, **options):
    """The ground truth of ``name`` as analysed results carry it (``truth_`` names)."""
    _, p = plan(name, **options)
    gt = ground_truth(p)
    return gt.rename({v: f"truth_{v}" for v in gt.data_vars}), gt


def test_reproduce_scores_hbn_sites_by_species_and_not_graphene_dopants():
    from symbreak.reproduce.run import SITE_RADIUS, site_labels

    # one cell at 0.1 Å steps: probes on B, on N, and between them
    results, gt = _results_truth("hbn-c", scan_shape=(26, 44), scan_step=0.1)
    is_n, on_site = site_labels(results)
    z = gt.atom_number.values[gt.nearest_atom.values]
    near = gt.distance_to_nearest_atom.values <= SITE_RADIUS
    # by hand: on a site = near an N or a B atom (not the C dopant); positive = N
    assert np.array_equal(on_site, near & ((z == N) | (z == B)))
    assert np.array_equal(is_n[on_site], z[on_site] == N)
    assert (is_n & on_site).sum() > 50 and (~is_n & on_site).sum() > 50
    assert ((z == C) & near).any() and not on_site[z == C].any()
    for name in ("graphene-n", "graphene-b"):  # one dopant in carbon: no sites to score
        assert site_labels(_results_truth(name, **TINY)[0]) is None
    # nor with both an N and a B dopant, the probes on each (carbon is not N/B-binary)
    both, gt = _results_truth("graphene-vacancy-si", defects=(("N", None),
                                                              ("B", (19.712, 19.916))))
    z = gt.atom_number.values[gt.nearest_atom.values]
    assert (z == N).any() and (z == B).any() and site_labels(both) is None
