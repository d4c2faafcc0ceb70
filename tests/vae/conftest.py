"""Fixtures of the rrVAE tests: a dipole data set with known truth and a model fitted on it."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from vae_synthetic import dipole_patterns  # noqa: E402


@pytest.fixture(scope="session")
def dipole_set():
    rng = np.random.default_rng(7)
    n = 1000
    angle = rng.uniform(-np.pi, np.pi, n)
    content = rng.uniform(0, 1, n)
    return {"X": dipole_patterns(angle, content), "angle": angle, "content": content}


@pytest.fixture(scope="session")
def fitted(dipole_set):
    """The default recipe on the dipole set; latent_dim=1 as there is one true content."""
    from symbreak import RotationalVAE

    return RotationalVAE(latent_dim=1, epochs=15, random_state=0).fit(dipole_set["X"])
