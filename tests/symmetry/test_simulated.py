"""The lattice and the anomalies on abTEM simulations, against their ground truth."""

import numpy as np
import pytest

import symbreak
from symbreak import metrics
from symbreak.symmetry import find_lattice
from symbreak.symmetry.api import Descriptor, symmetry_breaking

pytestmark = pytest.mark.slow

GRAPHENE = dict(energy=60e3, semiangle=32.0, detector_pixels=64, max_angle=48.0)


def _classical(data):
    v = symbreak.virtual_images(data)
    c = symbreak.com(data, units="mrad")
    step = tuple(float(s) for s in data.calibration.scan_step)
    maps = {"bf": v["bf"].values, "adf": v["adf"].values, "com_y": c["com_y"].values,
            "com_x": c["com_x"].values}
    return maps, step


def _analyse(data):
    maps, step = _classical(data)
    lattice = find_lattice(list(maps.values()), step)
    desc = {"bf": Descriptor("scalar", maps["bf"]), "adf": Descriptor("scalar", maps["adf"]),
            "com": Descriptor("vector", np.stack([maps["com_y"], maps["com_x"]]))}
    return lattice, symmetry_breaking(desc, lattice, step)


@pytest.mark.parametrize("defect,step,shape", [("vacancy", 0.25, (40, 40)),
                                               ("Si", 0.25, (40, 40)),
                                               ("vacancy", 0.217, (46, 46))])
def test_graphene_defect_found_alone_within_one_angstrom(defect, step, shape):
    data = symbreak.simulate("graphene", defect=defect, scan_step=step, scan_shape=shape,
                             **GRAPHENE)
    lattice, r = _analyse(data)
    assert lattice.lengths == pytest.approx((2.464, 2.464), rel=0.01)
    assert lattice.angle == pytest.approx(60.0, abs=0.6)
    truth = data.ground_truth
    y0, x0 = truth["probe_y"].values[0, 0], truth["probe_x"].values[0, 0]
    dy, dx = truth["defect_y"].values[0] - y0, truth["defect_x"].values[0] - x0
    assert len(r.anomalies) == 1
    assert np.hypot(r.anomalies[0].y - dy, r.anomalies[0].x - dx) < 1.0
    labels = truth["distance_to_defect"].values <= 1.5
    assert metrics.auc(r.scores["combined"], labels) >= 0.9


def test_perfect_graphene_nothing_above_threshold():
    data = symbreak.simulate("graphene", scan_step=0.25, scan_shape=(40, 40), **GRAPHENE)
    _, r = _analyse(data)
    assert np.percentile(r.scores["combined"], 99) < r.threshold
    assert r.anomalies == []


def test_zns_110_primitive_lattice_within_one_percent():
    data = symbreak.simulate("zns", zone_axis="110", thickness=1, energy=60e3, semiangle=32.0,
                             scan_region=(0, 0, 10.82, 7.65), scan_step=0.3,
                             detector_pixels=48, max_angle=48.0)
    maps, step = _classical(data)
    lattice = find_lattice(list(maps.values()), step)
    # zincblende [110] projects onto a centred 3.825 x 5.409 Å cell: primitive 3.3125 Å, 70.5°
    assert lattice.lengths == pytest.approx((3.3125, 3.3125), rel=0.01)
    assert lattice.angle == pytest.approx(70.53, abs=0.7)
