"""The rotationally invariant VAE as PyTorch modules: encoders, decoders and the model.

Latent layout: one angle [rad], optionally two shifts (x, y) and ``latent_dim`` content
latents. Both decoders render the unrotated pattern as a function of the content latents and
sample it at ``R(-angle) (r - shift)`` (see :mod:`symbreak.vae.geometry`), so a decoded
pattern at angle ``a`` is the angle-0 pattern rotated by ``a``: invariance is structural.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from .geometry import canvas_size, coordinate_grid, inverse_transform, pixel_unit, sample_patterns
from .pixel_mlp import pixel_mlp


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild the network (stored in config.json).

    No defaults of its own: a fit takes every value from its resolved settings
    (:meth:`of`), a saved model from its config.json.
    """

    pattern_shape: tuple[int, int]
    latent_dim: int
    translation: bool
    encoder: str
    decoder: str
    hidden: int
    output: str
    angle_head: str
    translation_prior: float

    @classmethod
    def of(cls, settings: Any, shape: tuple[int, ...]) -> "Architecture":
        """The network of a fit with ``settings`` (a ``FitSettings``) to patterns of
        ``shape``; the decoder output is linear for the Bernoulli likelihoods."""
        return cls(pattern_shape=(int(shape[0]), int(shape[1])),
                   latent_dim=settings.latent_dim, translation=settings.translation,
                   encoder=settings.encoder, decoder=settings.decoder, hidden=settings.hidden,
                   output=settings.output if settings.likelihood == "gaussian" else "linear",
                   angle_head=settings.angle_head,
                   translation_prior=settings.translation_prior)

    @property
    def n_shift(self) -> int:
        return 2 if self.translation else 0


@dataclasses.dataclass
class Posterior:
    """Means and log standard deviations of the latents for a batch."""

    angle: torch.Tensor
    angle_logsd: torch.Tensor
    shift: torch.Tensor | None
    shift_logsd: torch.Tensor | None
    z: torch.Tensor
    z_logsd: torch.Tensor


class MLPEncoder(nn.Module):
    """Flatten -> [Linear, tanh] x 2 -> mean and log-sd heads (the paper's encoder)."""

    def __init__(self, n_pixels: int, n_mean: int, n_sd: int, hidden: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_pixels, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, n_mean)
        self.logsd = nn.Linear(hidden, n_sd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mean(h), self.logsd(h)


class ConvEncoder(nn.Module):
    """Three stride-2 convolutions (16, 32, 64 channels), 4 x 4 pooling, Linear, tanh."""

    def __init__(self, n_mean: int, n_sd: int, hidden: int = 128) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = (1, 16, 32, 64)
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU()]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.body = nn.Sequential(nn.Linear(64 * 16, hidden), nn.Tanh())
        self.mean = nn.Linear(hidden, n_mean)
        self.logsd = nn.Linear(hidden, n_sd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(self.features(x.unsqueeze(1)))
        return self.mean(h), self.logsd(h)


def _activate(y: torch.Tensor, output: str) -> torch.Tensor:
    return F.softplus(y) if output == "softplus" else y


class SpatialDecoder(nn.Module):
    """Bepler et al.'s coordinate generator: a per-pixel MLP of (rotated coordinate, z).

    Linear(2, h)(q) + Linear(n_z, h, no bias)(z) -> tanh -> [Linear(h, h), tanh] x 2 ->
    Linear(h, 1) -> softplus (or linear), evaluated at q = R(-angle) (r - shift).
    """

    def __init__(self, shape: tuple[int, int], latent_dim: int, hidden: int = 128,
                 output: str = "softplus") -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.output = output
        self.register_buffer("coords", coordinate_grid(self.shape), persistent=False)
        self.fc_coord = nn.Linear(2, hidden)
        self.fc_latent = nn.Linear(latent_dim, hidden, bias=False) if latent_dim else None
        self.hidden = nn.ModuleList([nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)])
        self.out = nn.Linear(hidden, 1)

    def forward(self, z: torch.Tensor, angle: torch.Tensor,
                shift: torch.Tensor | None = None) -> torch.Tensor:
        if self._blocked(z):
            y = self._forward_blocked(z, angle, shift)
        else:
            y = self._forward_autograd(z, angle, shift)
        return _activate(y, self.output).reshape(-1, *self.shape)

    def _blocked(self, z: torch.Tensor) -> bool:
        """The cache-blocked CPU path: float32, or bf16 under CPU autocast (CUDA, fp16
        and other dtypes run the plain autograd version)."""
        if z.device.type != "cpu" or self.fc_coord.weight.dtype != torch.float32:
            return False
        return (not torch.is_autocast_enabled("cpu")
                or torch.get_autocast_dtype("cpu") == torch.bfloat16)

    def _forward_autograd(self, z: torch.Tensor, angle: torch.Tensor,
                          shift: torch.Tensor | None) -> torch.Tensor:
        q = inverse_transform(self.coords, angle, shift)            # (B, P, 2)
        h = self.fc_coord(q)
        if self.fc_latent is not None:
            h = h + self.fc_latent(z).unsqueeze(1)
        # 2-D rows so that bias and product fuse (addmm); tanh in place saves a pass
        h = torch.tanh_(h).reshape(-1, h.shape[-1])
        for layer in self.hidden:
            h = torch.tanh_(F.linear(h, layer.weight, layer.bias))
        return F.linear(h, self.out.weight, self.out.bias)

    def _forward_blocked(self, z: torch.Tensor, angle: torch.Tensor,
                         shift: torch.Tensor | None) -> torch.Tensor:
        """First layer split into column and row terms, rest in cache-sized blocks
        (:mod:`symbreak.vae.pixel_mlp`); the same function as :meth:`_forward_autograd`."""
        ny, nx = self.shape
        basis = torch.eye(2, dtype=angle.dtype, device=angle.device)
        rot = inverse_transform(basis, angle)                       # (B, 2, 2): q = r @ rot
        M = rot @ self.fc_coord.weight.t()                          # (B, 2, H)
        c = self.fc_coord.bias.expand(angle.shape[0], -1)
        if shift is not None:
            c = c - (shift.unsqueeze(1) @ M)[:, 0]
        if self.fc_latent is not None:
            c = c + self.fc_latent(z)
        x_col = self.coords[:nx, 0]
        y_row = self.coords[::nx, 1]
        X = x_col[None, :, None] * M[:, None, 0] + c[:, None]       # (B, kx, H)
        Y = y_row[None, :, None] * M[:, None, 1]                     # (B, ky, H)
        if torch.is_autocast_enabled("cpu"):
            X = X.to(torch.get_autocast_dtype("cpu"))
        with torch.autocast("cpu", enabled=False):
            return pixel_mlp(X, Y, self.out, self.hidden).unsqueeze(1)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """The unrotated, unshifted pattern (angle 0)."""
        return self.forward(z, z.new_zeros(z.shape[0]))


class RotateDecoder(nn.Module):
    """Fast decoder: an MLP renders the unrotated pattern on a canvas that covers every
    rotation, which is then sampled bilinearly at q = R(-angle) (r - shift).

    z -> [Linear(n_z, h), tanh] -> [Linear(h, h), tanh] -> Linear(h, canvas^2) -> activation.
    """

    def __init__(self, shape: tuple[int, int], latent_dim: int, hidden: int = 128,
                 output: str = "softplus") -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.output = output
        self.side = canvas_size(self.shape)
        extent = (self.side - 1) / 2 / pixel_unit(self.shape)
        self.extent = (extent, extent)
        self.register_buffer("coords", coordinate_grid(self.shape), persistent=False)
        n_in = max(latent_dim, 1)
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh(),
                                  nn.Linear(hidden, self.side * self.side))
        self.latent_dim = latent_dim

    def canvas(self, z: torch.Tensor) -> torch.Tensor:
        if self.latent_dim == 0:
            z = z.new_zeros(z.shape[0], 1)
        y = self.body(z).reshape(-1, self.side, self.side)
        return _activate(y, self.output)

    def forward(self, z: torch.Tensor, angle: torch.Tensor,
                shift: torch.Tensor | None = None) -> torch.Tensor:
        where = inverse_transform(self.coords, angle, shift)
        return sample_patterns(self.canvas(z), self.extent, where, self.shape)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z, z.new_zeros(z.shape[0]))


class RotationalVAEModule(nn.Module):
    """Encoder + decoder with the latent bookkeeping of the rrVAE / rVAE."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        n_pixels = arch.pattern_shape[0] * arch.pattern_shape[1]
        n_angle_mean = 2 if arch.angle_head == "circular" else 1
        n_mean = n_angle_mean + arch.n_shift + arch.latent_dim
        n_sd = 1 + arch.n_shift + arch.latent_dim
        if arch.encoder == "conv":
            self.encoder = ConvEncoder(n_mean, n_sd, arch.hidden)
        else:
            self.encoder = MLPEncoder(n_pixels, n_mean, n_sd, arch.hidden)
        decoder_cls = RotateDecoder if arch.decoder == "rotate" else SpatialDecoder
        self.decoder = decoder_cls(arch.pattern_shape, arch.latent_dim, arch.hidden, arch.output)

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logsd = self.encoder(x)
        if self.arch.angle_head == "circular":
            angle = torch.atan2(mean[:, 1], mean[:, 0])
            rest = mean[:, 2:]
        else:
            angle = mean[:, 0]
            rest = mean[:, 1:]
        ns = self.arch.n_shift
        shift = rest[:, :ns] if ns else None
        shift_logsd = logsd[:, 1:1 + ns] if ns else None
        return Posterior(angle, logsd[:, 0], shift, shift_logsd, rest[:, ns:], logsd[:, 1 + ns:])

    def decode(self, z: torch.Tensor, angle: torch.Tensor,
               shift_latent: torch.Tensor | None = None) -> torch.Tensor:
        """Patterns for content ``z``, ``angle`` [rad] and standardised shift latents."""
        shift = None
        if shift_latent is not None:
            shift = shift_latent * self.arch.translation_prior
        return self.decoder(z, angle, shift)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, Posterior]:
        """Encode, sample the latents (reparameterisation) and decode."""
        post = self.encode(x)
        angle = _sample(post.angle, post.angle_logsd, generator)
        z = _sample(post.z, post.z_logsd, generator)
        shift = None
        if post.shift is not None:
            shift = _sample(post.shift, post.shift_logsd, generator)
        return self.decode(z, angle, shift), post


def _sample(mean: torch.Tensor, logsd: torch.Tensor,
            generator: torch.Generator | None) -> torch.Tensor:
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + eps * torch.exp(logsd)


def build_model(arch: Architecture, seed: int) -> RotationalVAEModule:
    """Build the network with weights initialised from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RotationalVAEModule(arch)
    return model


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


__all__ = ["Architecture", "Posterior", "MLPEncoder", "ConvEncoder", "SpatialDecoder",
           "RotateDecoder", "RotationalVAEModule", "build_model", "count_parameters"]
