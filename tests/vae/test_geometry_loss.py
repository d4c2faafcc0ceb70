"""Rotation conventions, decoders and loss terms against independent references."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.distributions import ContinuousBernoulli, Normal, kl_divergence

from vae_synthetic import dipole_patterns
from symbreak.vae.geometry import rotate_patterns, unwrap_map, wrap_angle
from symbreak.vae.loss import (continuous_bernoulli_log_norm, kl_angle_spread,
                               kl_standard_normal, reconstruction_nll)
from symbreak.vae.model import Architecture, build_model
from symbreak.vae.settings import fit_settings


def small_net(decoder: str) -> Architecture:
    """A 33 x 33 px network with two content latents, 32 hidden units, no shifts."""
    return Architecture((33, 33), latent_dim=2, translation=False, encoder="mlp",
                        decoder=decoder, hidden=32, output="softplus", angle_head="linear",
                        translation_prior=0.1)


def test_rotate_patterns_matches_analytic_rotation():
    x = torch.from_numpy(dipole_patterns([0.3], [0.5], size=48))
    rotated = rotate_patterns(x, torch.tensor([1.1]))[0].numpy()
    truth = dipole_patterns([0.3 + 1.1], [0.5], size=48)[0]
    # bilinear interpolation error only; the lobe itself moves by 1.1 rad
    assert np.abs(rotated - truth).max() < 0.03
    wrong = dipole_patterns([0.3 - 1.1], [0.5], size=48)[0]
    assert np.abs(rotated - wrong).max() > 0.5


def test_rotate_by_quarter_turn_is_exact_rot90():
    x = torch.rand(2, 9, 9, generator=torch.Generator().manual_seed(0))
    out = rotate_patterns(x, torch.full((2,), math.pi / 2))
    # +90 degrees turns +x (right) towards +y (down): numpy's rot90 with k=-1
    np.testing.assert_allclose(out.numpy(), np.rot90(x.numpy(), k=-1, axes=(1, 2)), atol=1e-5)


def test_shift_moves_pattern_by_pixels():
    x = torch.from_numpy(dipole_patterns([0.0], [0.5], size=32))
    unit = (32 - 1) / 2
    out = rotate_patterns(x, torch.zeros(1), torch.tensor([[3 / unit, -2 / unit]]))[0].numpy()
    truth = dipole_patterns([0.0], [0.5], size=32, shift=[[-2, 3]])[0]
    np.testing.assert_allclose(out, truth, atol=1e-4)


def test_wrap_and_unwrap():
    a = np.array([-np.pi, np.pi, 3 * np.pi / 2, -0.5])
    np.testing.assert_allclose(wrap_angle(a), [np.pi, np.pi, -np.pi / 2, -0.5], atol=1e-12)
    yy, xx = np.mgrid[0:12, 0:15]
    ramp = 0.9 * xx + 0.7 * yy - 3.0
    unwrapped = unwrap_map(wrap_angle(ramp))
    np.testing.assert_allclose(unwrapped - unwrapped[0, 0], ramp - ramp[0, 0], atol=1e-9)


def _source_coords(a, n, c):
    yy, xx = np.mgrid[0:n, 0:n] - c
    cos, sin = math.cos(a), math.sin(a)
    return xx, yy, cos * xx + sin * yy, -sin * xx + cos * yy


@pytest.mark.parametrize("decoder", ["spatial", "rotate"])
def test_decoder_applies_angle_quarter_turn(decoder):
    """decode at angle a equals the angle-0 pattern rotated by a (atomai #89 ignores a)."""
    model = build_model(small_net(decoder), 1)
    z = torch.tensor([[0.7, -1.2]])
    with torch.no_grad():
        base = model.decode(z, torch.zeros(1))[0].numpy()
        quarter = model.decode(z, torch.tensor([math.pi / 2]))[0].numpy()
    np.testing.assert_allclose(quarter, np.rot90(base, k=-1), atol=1e-5)
    assert np.abs(quarter - base).max() > 1e-2


def test_spatial_decoder_applies_any_angle():
    model = build_model(small_net("spatial"), 1)
    z = torch.tensor([[0.7, -1.2]])
    with torch.no_grad():
        base = model.decode(z, torch.zeros(1))[0].numpy()
        turned = model.decode(z, torch.tensor([0.6]))[0].numpy()
    # independent interpolation (scipy cubic spline) of the angle-0 pattern at R(-a) r
    xx, yy, sx, sy = _source_coords(0.6, 33, 16.0)
    expected = ndimage.map_coordinates(base, [sy + 16, sx + 16], order=3)
    inside = xx ** 2 + yy ** 2 < 14 ** 2
    assert np.abs(turned - expected)[inside].max() < 0.02 * np.ptp(base)
    assert np.abs(turned - base)[inside].max() > 0.1 * np.ptp(base)


def test_rotate_decoder_samples_its_canvas_on_the_rotated_grid():
    model = build_model(small_net("rotate"), 1)
    z = torch.tensor([[0.7, -1.2]])
    with torch.no_grad():
        canvas = model.decoder.canvas(z)[0].numpy()
        base = model.decode(z, torch.zeros(1))[0].numpy()
        turned = model.decode(z, torch.tensor([0.6]))[0].numpy()
    side = canvas.shape[0]
    off = (side - 33) // 2
    np.testing.assert_allclose(base, canvas[off:off + 33, off:off + 33], atol=1e-6)
    xx, yy, sx, sy = _source_coords(0.6, 33, 16.0)
    c = (side - 1) / 2
    expected = ndimage.map_coordinates(canvas, [sy + c, sx + c], order=1)
    np.testing.assert_allclose(turned, expected, atol=1e-5)


def test_kl_terms_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logsd = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g) * 0.3
    expected = kl_divergence(Normal(mean, logsd.exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl_standard_normal(mean, logsd), expected)
    angle_mean = torch.randn(5, generator=g)
    prior = 0.1
    expected = kl_divergence(Normal(angle_mean, logsd[:, 0].exp()), Normal(angle_mean, prior))
    torch.testing.assert_close(kl_angle_spread(logsd[:, 0], prior), expected)


def test_reconstruction_likelihoods():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 6, 6, generator=g)
    logits = torch.randn(4, 6, 6, generator=g) * 2
    torch.testing.assert_close(reconstruction_nll(logits, x, "gaussian"),
                               0.5 * ((logits - x) ** 2).sum((1, 2)))
    expected = -ContinuousBernoulli(logits=logits.reshape(4, -1)).log_prob(x.reshape(4, -1)).sum(1)
    torch.testing.assert_close(reconstruction_nll(logits, x, "continuous_bernoulli"), expected,
                               rtol=1e-4, atol=1e-3)
    near_half = torch.tensor([1e-4, -3e-3, 5e-3])
    exact = ContinuousBernoulli(logits=torch.tensor([2.0])).log_prob(torch.tensor([0.3]))
    assert torch.isfinite(continuous_bernoulli_log_norm(near_half)).all()
    torch.testing.assert_close(continuous_bernoulli_log_norm(near_half),
                               torch.full((3,), math.log(2.0)), atol=1e-4, rtol=0)
    assert torch.isfinite(exact).all()


def test_paper_architecture_parameter_count():
    """The paper's network: 2 x 128 tanh MLP encoder, spatial decoder (as atomai's rVAE)."""
    model = build_model(Architecture.of(fit_settings(dict(recipe="paper", device="cpu")), (64, 64)), 0)
    h, n_lat = 128, 3
    encoder = 64 * 64 * h + h + h * h + h + 2 * (h * n_lat + n_lat)
    decoder = 2 * h + h + 2 * h + 2 * (h * h + h) + h + 1
    assert sum(p.numel() for p in model.encoder.parameters()) == encoder
    assert sum(p.numel() for p in model.decoder.parameters()) == decoder
