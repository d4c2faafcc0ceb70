"""The report's angle comparison and chosen-position panels, and the data units,
against cases whose answer is known by construction."""

import numpy as np
import pytest
import xarray as xr

from symbreak.analysis import schema as S
from symbreak.analysis import symmetry_stage as Y
from symbreak.reporting import angles, positions

from .conftest import NX, NY, STEP, STRIDE, fake_results


@pytest.mark.parametrize("sense, offset", [(1, 0.7), (-1, -2.5), (1, -3.0)])
def test_angle_alignment_recovers_sense_and_offset(sense, offset):
    com = np.random.default_rng(1).uniform(-np.pi, np.pi, (20, 30))
    latent = angles.wrap(sense * (com + offset))  # sense * latent - offset = com
    found_sense, found_offset = angles.alignment(latent, com)
    assert found_sense == sense
    assert angles.wrap(found_offset - offset) == pytest.approx(0, abs=1e-9)
    difference, _, _ = angles.aligned_difference(latent, com)
    np.testing.assert_allclose(difference, 0, atol=1e-9)


def test_angle_difference_shows_a_local_disagreement():
    com = np.random.default_rng(2).uniform(-np.pi, np.pi, (20, 30))
    latent = angles.wrap(com + 1.0)
    latent[5, 7] = angles.wrap(latent[5, 7] + 2.0)
    difference, _, _ = angles.aligned_difference(latent, com)
    assert abs(difference[5, 7]) > 1.9
    assert np.abs(np.delete(difference.ravel(), 5 * 30 + 7)).max() < 0.01


def with_symmetry(anomaly_yx, lattice, low_score_yx):
    """fake_results plus a symmetry stage's outputs: one anomaly, a lattice, and a
    combined score that is lowest at ``low_score_yx`` [Å]."""
    r = fake_results()
    y, x = np.mgrid[:NY, :NX] * STEP
    score = np.hypot(y - low_score_yx[0], x - low_score_yx[1])
    maps = xr.DataArray(np.stack([score, score]), dims=(Y.MAP_DIM,) + S.SCAN,
                        coords={Y.MAP_DIM: ["combined", "classical"]})
    return r.assign({Y.SCORE: maps,
                     Y.ANOMALY_Y: ("anomaly", [anomaly_yx[0]]),
                     Y.ANOMALY_X: ("anomaly", [anomaly_yx[1]]),
                     Y.ANOMALY_SCORE: ("anomaly", [9.0]),
                     Y.LATTICE: (("lattice_vector", "vector_component"), np.array(lattice))})


def test_chosen_positions_with_a_symmetry_result():
    # anomaly at (0.5, 0.5) Å = scan row 2, column 2 (kept: STRIDE 2); a1 = (0, 1.5) Å
    r = with_symmetry((0.5, 0.5), [[0.0, 1.5], [1.0, 0.0]], (2.5, 3.0))
    found = {p.label: p for p in positions.chosen_positions(r)}
    assert (found["A"].row, found["A"].column) == (2, 2)
    # R: a lattice translate falling exactly on a kept position
    ry, rx = r.explorer_y.values[found["R"].iy], r.explorer_x.values[found["R"].ix]
    assert (ry, rx) in {(0.5, 2.0), (1.5, 0.5), (2.5, 0.5), (1.5, 2.0), (2.5, 2.0)}
    # P: the lowest score, at least 3 Å from the anomaly
    assert (found["P"].row, found["P"].column) == (10, 12)
    assert found["P"].row % STRIDE == 0 and found["P"].column % STRIDE == 0


def test_perfect_site_keeps_clear_of_the_anomaly():
    r = with_symmetry((0.5, 0.5), [[0.0, 1.5], [1.0, 0.0]], (0.5, 1.0))  # lowest next to A
    p = {p.label: p for p in positions.chosen_positions(r)}["P"]
    distance = np.hypot(r.explorer_y.values[p.iy] - 0.5, r.explorer_x.values[p.ix] - 0.5)
    assert distance >= positions.CLEAR_OF_ANOMALY


def test_chosen_positions_without_symmetry_use_the_reconstruction_error():
    r = fake_results()
    error = np.zeros((NY, NX))
    error[6, 10], error[2, 4] = 5.0, -1.0
    r[S.RECONSTRUCTION_ERROR] = (S.SCAN, error)
    found = {p.label: (p.row, p.column) for p in positions.chosen_positions(r)}
    assert found == {"A": (6, 10), "P": (2, 4)}


@pytest.mark.parametrize("dtype, metadata, unit", [
    ("uint16", None, "counts"),
    ("float32", {"simulation": {"units": "beam-normalised intensity"}}, S.BEAM_FRACTION),
    ("float32", {"simulation": {"units": "electron counts"}}, "counts"),
    ("float32", {"other": {"units": "beam-normalised intensity"}}, "intensity"),
    ("float64", {}, "intensity"),
])
def test_data_units(dtype, metadata, unit):
    assert S.data_units(np.dtype(dtype), metadata) == unit


def test_chosen_patterns_figure_draws_the_stored_patterns_and_their_difference():
    from symbreak.analysis.explorer_stage import dequantise

    r = with_symmetry((0.5, 0.5), [[0.0, 1.5], [1.0, 0.0]], (2.5, 3.0))
    chosen = {p.label: p for p in positions.chosen_positions(r)}
    fig = positions.positions_figure(r, {})
    shown = {ax.get_title().split(":")[0]: ax.images[0].get_array()
             for ax in fig.axes if ax.get_visible() and ax.images and ax.get_title()}
    stored = {k: dequantise(r.explorer_pattern.values[p.iy, p.ix], r.explorer_pattern.attrs)
              for k, p in chosen.items()}
    for label in "ARP":
        np.testing.assert_allclose(shown[label], stored[label])
    np.testing.assert_allclose(shown["A - R"], stored["A"] - stored["R"])
