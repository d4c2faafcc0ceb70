"""Several defects in one specimen (``defects=``, the ``graphene-vacancy-si`` preset):
the ASE atoms and the ground truth checked against the perfect supercell by hand."""

import math

import numpy as np
import pytest

from symbreak.errors import SettingsError
from symbreak.simulation import plan
from symbreak.simulation.truth import ground_truth

VACANCY = (17.248, 17.071)  # [Å] the supercell centre atom of the 14 x 8 tiling
SI = (19.712, 19.916)  # [Å] the atom the preset substitutes


def _yx(atoms):
    return atoms.positions[:, [1, 0]]


def test_two_defect_preset_removes_and_substitutes_the_right_atoms():
    _, perfect = plan("graphene-perfect", tiling=(14, 8))
    _, p = plan("graphene-vacancy-si")
    before, after = perfect.specimen.atoms, p.specimen.atoms
    assert len(after) == len(before) - 1
    # the vacancy: an atom of the perfect crystal there, none in the defect crystal
    assert np.hypot(*(_yx(before) - VACANCY).T).min() < 1e-3
    assert np.hypot(*(_yx(after) - VACANCY).T).min() == pytest.approx(2.464 / math.sqrt(3),
                                                                      abs=1e-3)
    # one Si, on the atom at SI; every other atom is C at its perfect-crystal place
    si = np.flatnonzero(after.numbers == 14)
    assert len(si) == 1 and np.hypot(*(_yx(after)[si[0]] - SI)) < 1e-3
    assert set(after.numbers) == {6, 14}
    kept = np.hypot(*(_yx(before)[:, None] - _yx(after)[None]).transpose(2, 0, 1)).min(0)
    assert kept.max() < 1e-6
    labels = after.arrays["site_label"]
    assert labels[si[0]] == "dopant" and (labels == "next-to-defect").sum() == 3 + 3
    kinds = [k for _, _, k in p.specimen.defects]
    assert kinds == ["vacancy", "substitution"]
    assert np.allclose([d[:2] for d in p.specimen.defects], [VACANCY, SI], atol=1e-3)


def test_two_defect_truth_distances_and_window():
    _, p = plan("graphene-vacancy-si")
    gt = ground_truth(p)
    probes = np.stack([gt.probe_y.values.ravel(), gt.probe_x.values.ravel()], axis=1)
    d_vacancy = np.hypot(*(probes - VACANCY).T)
    d_si = np.hypot(*(probes - SI).T)
    np.testing.assert_allclose(gt.distance_to_defect.values.ravel(),
                               np.minimum(d_vacancy, d_si), atol=2e-3)
    assert gt.defect_kind.attrs["labels"] == ["vacancy", "substitution"]
    # the 10 x 10 Å window is centred between them: each defect 3 Å or more inside
    y, x = gt.probe_y.values, gt.probe_x.values
    for dy, dx in (VACANCY, SI):
        assert min(dy - y.min(), y.max() - dy, dx - x.min(), x.max() - dx) > 3.0
    assert (d_vacancy <= 1.5).sum() > 100 and (d_si <= 1.5).sum() > 100


def test_several_defects_through_the_api_on_one_defects_centre():
    # the single-defect window stays centred on its (first) site
    _, one = plan("graphene", defects=(("vacancy", None),))
    _, old = plan("graphene", defect="vacancy")
    assert one.scan_start == old.scan_start
    assert one.specimen.defects == old.specimen.defects
    _, two = plan("graphene", defects=[("N", (10.0, 10.0)), ("divacancy", None)])
    assert (two.specimen.atoms.numbers == 7).sum() == 1
    assert [k for _, _, k in two.specimen.defects] == ["substitution", "divacancy",
                                                       "divacancy"]


@pytest.mark.parametrize("options, words", [
    (dict(defects=(("vacancy", None),), defect="Si"), ["either defect", "not both"]),
    (dict(defects=(("Xy", (1.0, 1.0)),)), ["unknown element", "'Xy'"]),
    (dict(defects="vacancy"), ["defects", "(kind, site)"]),
    (dict(defects=(("vacancy",),)), ["not a (kind, site) pair"]),
    (dict(defects=()), ["non-empty"]),
])
def test_bad_defects_are_clear_errors(options, words):
    with pytest.raises(SettingsError) as info:
        plan("graphene", **options)
    for word in words:
        assert word in str(info.value), str(info.value)
