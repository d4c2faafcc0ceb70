"""The other encoder/decoder combinations meet the same invariance criteria (slow)."""

import numpy as np
import pytest

from symbreak import RotationalVAE
from vae_synthetic import circular_agreement, circular_offset, dipole_patterns


@pytest.mark.slow
@pytest.mark.parametrize("encoder, decoder, epochs", [("conv", "rotate", 15),
                                                     ("mlp", "spatial", 15)])
def test_variant_learns_angle_and_invariant_content(dipole_set, encoder, decoder, epochs):
    X = dipole_set["X"]
    model = RotationalVAE(latent_dim=1, encoder=encoder, decoder=decoder, epochs=epochs,
                          random_state=0).fit(X)
    ds = model.transform(X)
    assert circular_agreement(ds.latent_angle.values, dipole_set["angle"]) > 0.95
    z = ds.latent_z.values[0]
    assert abs(np.corrcoef(z, dipole_set["content"])[0, 1]) > 0.9
    turned = model.transform(dipole_patterns(dipole_set["angle"] + 1.0, dipole_set["content"]))
    assert abs(circular_offset(turned.latent_angle.values, ds.latent_angle.values) - 1.0) < 0.05
    assert np.mean(np.abs(turned.latent_z.values[0] - z)) < 0.1 * np.std(z)
