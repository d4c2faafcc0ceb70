"""symbreak.plot: the report's figures as public functions."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import symbreak
from symbreak.errors import SettingsError
from symbreak.reporting import angles

from .conftest import fake_results

NAMES = ["mean_pattern", "virtual_images", "com", "pca", "rrvae", "angles", "manifold",
         "training", "chosen_patterns"]


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_function_returns_a_closed_figure(name):
    before = plt.get_fignums()
    fig = getattr(symbreak.plot, name)(fake_results())
    assert isinstance(fig, Figure) and getattr(symbreak.plot, name).__doc__
    assert plt.get_fignums() == before  # closed in pyplot: a notebook shows it once


def test_symmetry_figure_is_none_without_the_stage():
    assert symbreak.plot.symmetry(fake_results()) is None


def test_results_folder_or_dataset(results_dir):
    fig = symbreak.plot.virtual_images(results_dir)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "[counts]" in labels  # the colour bars carry the stored unit
    with pytest.raises(SettingsError, match="expected the results of symbreak.analyze"):
        symbreak.plot.com(np.zeros(3))


def test_angles_panel_shows_the_aligned_difference():
    r = fake_results()
    r["latent_angle"] = (("scan_y", "scan_x"), angles.wrap(-r["com_angle"].values + 0.4))
    fig = symbreak.plot.angles(r)
    shown = fig.axes[2].images[0].get_array()
    np.testing.assert_allclose(shown, 0, atol=1e-9)
    assert "-angle" in fig.axes[2].get_title()


def test_a_tampered_dataset_is_refused_in_one_line(results_dir):
    from symbreak.errors import FormatError

    results = symbreak.plot._results(results_dir).copy()
    results["bf"] = results["bf"].astype(complex)
    with pytest.raises(FormatError, match="bf"):
        symbreak.plot.com(results)
