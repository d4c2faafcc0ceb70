"""The negative ELBO of the rotationally invariant VAE, per pattern.

- Reconstruction: Gaussian ``0.5 * sum (x_hat - x)^2`` (unit variance, as in the paper),
  Bernoulli or continuous Bernoulli (decoder output read as logits), summed over pixels.
- Content (and standardised shift) latents: KL to a standard normal.
- Angle: the paper's spread-only KL, pulling the posterior sd towards ``rotation_prior``
  [rad] with no penalty on its mean:
  ``-log sd + log prior + sd^2 / (2 prior^2) - 1/2``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .model import Posterior
from .parameters import LIKELIHOODS



def reconstruction_nll(x_hat: torch.Tensor, x: torch.Tensor, likelihood: str) -> torch.Tensor:
    """Negative log-likelihood per pattern (B,), summed over pixels."""
    x_hat = x_hat.reshape(x.shape[0], -1).float()
    x = x.reshape(x.shape[0], -1).float()
    if likelihood == "gaussian":
        return 0.5 * torch.sum((x_hat - x) ** 2, dim=1)
    bce = F.binary_cross_entropy_with_logits(x_hat, x, reduction="none").sum(dim=1)
    if likelihood == "bernoulli":
        return bce
    return bce - continuous_bernoulli_log_norm(x_hat).sum(dim=1)


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(lambda) of the continuous Bernoulli, stable near lambda = 1/2."""
    lam = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
    far = (lam - 0.5).abs() > 1e-2
    safe = torch.where(far, lam, torch.full_like(lam, 0.25))
    exact = torch.log(torch.abs(2 * torch.atanh(1 - 2 * safe))) - torch.log(torch.abs(1 - 2 * safe))
    t = lam - 0.5
    taylor = math.log(2.0) + (4.0 / 3.0) * t ** 2 + (104.0 / 45.0) * t ** 4
    return torch.where(far, exact, taylor)


def mean_from_output(output: torch.Tensor, likelihood: str) -> torch.Tensor:
    """The expected pattern given the decoder output."""
    if likelihood == "gaussian":
        return output
    lam = torch.sigmoid(output)
    if likelihood == "bernoulli":
        return lam
    far = (lam - 0.5).abs() > 1e-2
    safe = torch.where(far, lam, torch.full_like(lam, 0.25))
    exact = safe / (2 * safe - 1) + 1 / (2 * torch.atanh(1 - 2 * safe))
    return torch.where(far, exact, lam)


def kl_standard_normal(mean: torch.Tensor, logsd: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, sd^2) || N(0, 1)) summed over latents, per pattern (B,)."""
    return 0.5 * torch.sum(mean ** 2 + torch.exp(2 * logsd) - 2 * logsd - 1, dim=1)


def kl_angle_spread(logsd: torch.Tensor, prior_sd: float) -> torch.Tensor:
    """The paper's spread-only KL of the angle latent, per pattern (B,)."""
    return -logsd + math.log(prior_sd) + torch.exp(2 * logsd) / (2 * prior_sd ** 2) - 0.5


def negative_elbo(x_hat: torch.Tensor, x: torch.Tensor, post: Posterior, *, likelihood: str,
                  beta: float, rotation_prior: float) -> torch.Tensor:
    """-ELBO per pattern (B,): reconstruction + beta * (content, shift and angle KL)."""
    kl = kl_angle_spread(post.angle_logsd.float(), rotation_prior)
    if post.z.shape[1]:
        kl = kl + kl_standard_normal(post.z.float(), post.z_logsd.float())
    if post.shift is not None:
        kl = kl + kl_standard_normal(post.shift.float(), post.shift_logsd.float())
    return reconstruction_nll(x_hat, x, likelihood) + beta * kl


def consistency(post: Posterior, post_rot: Posterior, angle: torch.Tensor,
                shift: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Equivariance of the angle (and shift) and invariance of the content under an input
    rotation by ``angle`` about the pattern centre followed by a shift by ``shift``
    (standardised shift-latent units, (x, y)).

    Returns per pattern (B,): ``1 - cos(angle_rot - angle - applied)``, and the squared
    distances between the content means and between the rotated shift and the shift of the
    rotated input, in units of their batch variance (so that shrinking the latents cannot
    satisfy them), averaged over latents.
    """
    angle_term = 1 - torch.cos(post_rot.angle.float() - post.angle.float() - angle)
    pairs = []
    if post.z.shape[1]:
        pairs.append((post.z.float(), post_rot.z.float()))
    if post.shift is not None:
        cos, sin = torch.cos(angle), torch.sin(angle)
        sx, sy = post.shift[:, 0].float(), post.shift[:, 1].float()
        turned = torch.stack([cos * sx - sin * sy, sin * sx + cos * sy], dim=1)
        if shift is not None:
            turned = turned + shift
        pairs.append((turned, post_rot.shift.float()))
    if not pairs or angle.shape[0] < 2:
        return angle_term, torch.zeros_like(angle_term)
    expected = torch.cat([p[0] for p in pairs], dim=1)
    observed = torch.cat([p[1] for p in pairs], dim=1)
    scale = expected.detach().var(dim=0) + 1e-2
    return angle_term, torch.mean((observed - expected) ** 2 / scale, dim=1)
