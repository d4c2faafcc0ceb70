"""Pattern coordinates, exact rotations and shifts, and angle wrapping.

Conventions (shared by both decoders, the augmentation and the tests):

- A pattern of shape (ky, kx) has pixel (0, 0) top-left; ``x`` runs along kx (right) and
  ``y`` along ky (down). Coordinates are isotropic: the pattern centre is 0 and the longer
  side spans [-1, 1], so one coordinate unit is ``(max(ky, kx) - 1) / 2`` pixels.
- An angle ``a`` [rad] turns +x towards +y, the same sense as ``arctan2(com_y, com_x)``.
- Rotating a pattern by ``a`` and then shifting it by ``s`` moves a feature at ``p`` to
  ``R(a) p + s``: the output at ``r`` is the input at ``R(-a) (r - s)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def pixel_unit(shape: tuple[int, int]) -> float:
    """Pixels per coordinate unit for a pattern of ``shape`` (ky, kx)."""
    return max(max(shape) - 1, 1) / 2.0


def coordinate_grid(shape: tuple[int, int]) -> torch.Tensor:
    """Coordinates (x, y) of every pixel, row-major, shape (ky * kx, 2)."""
    ny, nx = shape
    unit = pixel_unit(shape)
    y = (torch.arange(ny, dtype=torch.float64) - (ny - 1) / 2) / unit
    x = (torch.arange(nx, dtype=torch.float64) - (nx - 1) / 2) / unit
    # filled in float32 from the float64 axes: no (ky * kx) float64 temporaries
    grid = torch.empty(ny, nx, 2)
    grid[..., 0] = x.float()
    grid[..., 1] = y.float()[:, None]
    return grid.reshape(ny * nx, 2)


def inverse_transform(coords: torch.Tensor, angle: torch.Tensor,
                      shift: torch.Tensor | None = None) -> torch.Tensor:
    """Where each output pixel samples the unrotated pattern: ``R(-angle) (r - shift)``.

    coords (P, 2); angle (B,) [rad]; shift (B, 2) as (x, y) [coordinate units] or None.
    Returns (B, P, 2).
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    # row vector r times R(-a)^T = R(a): [[c, s], [-s, c]] acting on the right
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    r = coords.unsqueeze(0)
    if shift is not None:
        r = r - shift.unsqueeze(1)
    return torch.matmul(r, rot)


def sample_patterns(canvas: torch.Tensor, canvas_extent: tuple[float, float],
                    where: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinearly sample ``canvas`` (B, cy, cx) at coordinates ``where`` (B, P, 2).

    ``canvas_extent`` (x, y) is the coordinate of the canvas' last pixel centre; outside the
    canvas the nearest border value is used. Returns (B, ky, kx).
    """
    ex, ey = canvas_extent
    norm = where / where.new_tensor([ex, ey])
    grid = norm.reshape(norm.shape[0], shape[0], shape[1], 2)
    out = F.grid_sample(canvas.unsqueeze(1), grid.to(canvas.dtype), mode="bilinear",
                        padding_mode="border", align_corners=True)
    return out[:, 0]


def rotate_patterns(patterns: torch.Tensor, angle: torch.Tensor,
                    shift: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate (B, ky, kx) patterns by ``angle`` [rad] about their centre, then shift.

    Bilinear interpolation; exact for multiples of 90 degrees on square patterns.
    """
    shape = tuple(patterns.shape[-2:])
    coords = coordinate_grid(shape).to(patterns.device)
    unit = pixel_unit(shape)
    extent = ((shape[1] - 1) / 2 / unit, (shape[0] - 1) / 2 / unit)
    where = inverse_transform(coords, angle.to(coords.dtype),
                              None if shift is None else shift.to(coords.dtype))
    return sample_patterns(patterns, extent, where, shape)


def canvas_size(shape: tuple[int, int]) -> int:
    """Side of a square canvas (same pixel pitch) that covers ``shape`` at any rotation.

    Its parity matches the pattern's so that angle 0 samples canvas pixel centres exactly.
    """
    ny, nx = shape
    diagonal = math.hypot(ny - 1, nx - 1)
    n = int(math.ceil(diagonal)) + 3
    if (n - max(ny, nx)) % 2:
        n += 1
    return n


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles [rad] to (-pi, pi]."""
    wrapped = np.angle(np.exp(1j * np.asarray(angle, dtype=float)))
    return np.where(wrapped <= -np.pi, np.pi, wrapped)


def unwrap_map(angle: np.ndarray) -> np.ndarray:
    """Unwrap a 2-D angle map [rad] along scan_x in every row, then rows along scan_y.

    A path-following unwrap: exact where neighbouring probes differ by less than pi.
    """
    out = np.unwrap(np.asarray(angle, dtype=float), axis=1)
    first = np.unwrap(out[:, 0])
    return out + (first - out[:, 0])[:, None]
