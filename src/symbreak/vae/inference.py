"""Encoding and decoding with a fitted :class:`~symbreak.vae.api.RotationalVAE`: latent
maps over the scan, reconstructions, decoded patterns, manifolds and traversals.

Every function takes the fitted estimator; lazy input larger than the in-memory share of
the memory budget (or any lazy input while a dask.distributed client is active) is encoded
as a chunked dask map.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
import xarray as xr
import zarr
from scipy.stats import norm
from sklearn.exceptions import NotFittedError

from ..engine import active_client, placement
from ..dataset import Dataset4D
from ..errors import DataError, SettingsError
from .data import as_patterns
from .encode_map import (EncoderSpec, columns, encode_lazy, encode_patterns,
                         symmetric_posterior, symmetry_copies)
from .geometry import pixel_unit, unwrap_map, wrap_angle
from .inputs import is_lazy
from .loss import mean_from_output
from .train import cpu_threads, default_threads

INFERENCE_BATCH = 512


def check_fitted(est: Any) -> None:
    if not hasattr(est, "model_"):
        raise NotFittedError("this RotationalVAE is not fitted yet; call fit(X) or "
                             "RotationalVAE.load(folder) first")


def copies(est: Any) -> int:
    """Rotated copies the estimator combines when encoding (1: plain encoder)."""
    return symmetry_copies(est.architecture_, bool(getattr(est, "symmetrize", False)))


def threads(est: Any) -> Any:
    """The estimator's CPU thread setting as a context manager."""
    return cpu_threads(default_threads(est.settings_))


def patterns_of(est: Any, X: Any) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(n, ky, kx) float32 patterns and the scan shape; refuses another pattern shape."""
    check_fitted(est)
    patterns, scan_shape = as_patterns(X)
    if tuple(patterns.shape[1:]) != est.pattern_shape_:
        raise DataError(f"patterns of shape {tuple(patterns.shape[1:])} do not match the "
                        f"model's {est.pattern_shape_}; preprocess them the same way "
                        "as the training data")
    return patterns, scan_shape


def encode_array(est: Any, patterns: np.ndarray, symmetrize: bool | None = None
                 ) -> dict[str, np.ndarray]:
    """Encodings by name (``angle``, ``angle_sd``, ``error``, ``z``, ``z_sd``, ``shift``,
    ``shift_sd``) of in-memory (n, ky, kx) patterns; ``symmetrize`` None: the estimator's."""
    n_copies = copies(est) if symmetrize is None else symmetry_copies(est.architecture_,
                                                                      symmetrize)
    with threads(est):
        values = encode_patterns(est.model_, patterns, est.settings_.likelihood,
                                 est.settings_.translation_prior, est.device_, n_copies)
    return _by_name(est, values)


def _by_name(est: Any, values: np.ndarray) -> dict[str, np.ndarray]:
    enc = {k: values[:, c] for k, c in columns(est.architecture_).items()}
    for k in ("angle", "angle_sd", "error"):
        enc[k] = enc[k][:, 0]
    return enc


def encode(est: Any, X: Any) -> tuple[dict[str, np.ndarray], tuple[int, int] | None, int]:
    """Encodings by name, the scan shape (None for a stack) and the pattern count."""
    check_fitted(est)
    array = X.array if isinstance(X, Dataset4D) else X
    if isinstance(array, (str, os.PathLike)):
        array = zarr.open_array(str(array), mode="r")
    if is_lazy(array) and (placement(int(np.prod(array.shape)) * 4).streamed
                           or active_client() is not None):
        if tuple(array.shape[-2:]) != est.pattern_shape_:
            raise DataError(f"patterns of shape {tuple(array.shape[-2:])} do not match "
                            f"the model's {est.pattern_shape_}; preprocess them the "
                            "same way as the training data")
        spec = EncoderSpec.from_model(est.model_, f"{est.fingerprint_}-{id(est.model_)}",
                                      est.settings_.likelihood,
                                      est.settings_.translation_prior, copies(est))
        values = encode_lazy(array, spec, est.progress)
        scan = tuple(int(n) for n in array.shape[:2]) if array.ndim == 4 else None
        return _by_name(est, values), scan, values.shape[0]
    patterns, scan = patterns_of(est, X)
    return encode_array(est, patterns), scan, patterns.shape[0]


def latent_maps(est: Any, X: Any) -> xr.Dataset:
    """The ``transform`` output: latent means and sds as maps over the scan."""
    enc, scan_shape, n = encode(est, X)
    dims, coords = _sample_dims(X, scan_shape, n)
    shape = scan_shape if scan_shape is not None else (n,)
    angle = enc["angle"].reshape(shape)
    unwrapped = unwrap_map(angle) if scan_shape is not None else np.unwrap(angle)
    ldims = ("latent",) + dims
    out = {
        "latent_angle": (dims, wrap_angle(angle), {"units": "rad"}),
        "latent_angle_unwrapped": (dims, unwrapped, {"units": "rad"}),
        "latent_angle_sd": (dims, enc["angle_sd"].reshape(shape), {"units": "rad"}),
        "latent_z": (ldims, _latent_first(enc["z"], shape), {"units": "1"}),
        "latent_z_sd": (ldims, _latent_first(enc["z_sd"], shape), {"units": "1"}),
        "reconstruction_error": (dims, enc["error"].reshape(shape), {"units": "intensity^2"}),
    }
    if "shift" in enc:
        sdims = ("shift",) + dims
        unit = pixel_unit(est.pattern_shape_)
        for key, name in (("shift", "latent_shift"), ("shift_sd", "latent_shift_sd")):
            yx = enc[key][:, ::-1] * unit
            out[name] = (sdims, _latent_first(yx, shape), {"units": "px"})
        coords["shift"] = ["y", "x"]
    coords["latent"] = np.arange(est.settings_.latent_dim)
    ds = xr.Dataset({k: xr.Variable(*v) for k, v in out.items()}, coords=coords)
    ds.attrs["model"] = "symbreak.RotationalVAE"
    ds.attrs["settings"] = json.dumps(est.settings_.to_dict())
    ds.attrs["symmetrized_copies"] = copies(est)
    ds.attrs["angle_convention"] = ("radians from +kx towards +ky (as arctan2(com_y, "
                                    "com_x)); decoded content rotates by +angle")
    return ds


def reconstruct(est: Any, X: Any) -> np.ndarray:
    """Decoded patterns at the latent means, shaped like ``X``."""
    patterns, scan_shape = patterns_of(est, X)
    out = []
    with torch.no_grad():
        for i in range(0, patterns.shape[0], INFERENCE_BATCH):
            x = torch.from_numpy(patterns[i:i + INFERENCE_BATCH]).to(est.device_)
            post = symmetric_posterior(est.model_, x, copies(est))
            y = est.model_.decode(post.z, post.angle, post.shift)
            out.append(mean_from_output(y, est.settings_.likelihood).cpu().numpy())
    recon = np.concatenate(out)
    return recon.reshape(*scan_shape, *est.pattern_shape_) if scan_shape else recon


def decode(est: Any, z: Any, angle: Any = 0.0, shift: Any = None) -> np.ndarray:
    """Patterns for content latents ``z`` (latent_dim,) or (n, latent_dim), rotated by
    ``angle`` [rad] (scalar or (n,)) and shifted by ``shift`` (y, x) [px]."""
    check_fitted(est)
    d = est.settings_.latent_dim
    z_arr = np.asarray(z, dtype=np.float32)
    single = z_arr.ndim == 1
    z_arr = np.atleast_2d(z_arr)
    if z_arr.ndim != 2 or z_arr.shape[1] != d:
        raise DataError(f"z must have shape ({d},) or (n, {d}), got {np.shape(z)}")
    n = z_arr.shape[0]
    angles = np.broadcast_to(np.asarray(angle, dtype=np.float32), (n,))
    shift_coord = None
    if shift is not None:
        s = np.broadcast_to(np.asarray(shift, dtype=np.float32), (n, 2))
        shift_coord = torch.from_numpy(np.ascontiguousarray(s[:, ::-1])
                                       / pixel_unit(est.pattern_shape_)).to(est.device_)
    with torch.no_grad():
        zt = torch.from_numpy(z_arr).to(est.device_)
        at = torch.from_numpy(np.array(angles)).to(est.device_)
        y = est.model_.decoder(zt, at, shift_coord)
        y = mean_from_output(y, est.settings_.likelihood).cpu().numpy()
    return y[0] if single else y


def manifold(est: Any, d: int = 9, latents: tuple[int, int] = (0, 1), angle: float = 0.0
             ) -> xr.DataArray:
    """A d x d grid of decoded patterns over two content latents (others 0), at
    standard-normal quantiles from 5 % to 95 % (as atomai's manifold)."""
    check_fitted(est)
    if est.settings_.latent_dim < 2:
        raise SettingsError("manifold needs latent_dim >= 2; use traversal(0) instead")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise SettingsError(f"d={d!r} must be a positive integer")
    i, j = (latent_index(est, k) for k in latents)
    values = norm.ppf(np.linspace(0.05, 0.95, d))
    z = np.zeros((d, d, est.settings_.latent_dim), dtype=np.float32)
    z[:, :, j] = values[:, None]
    z[:, :, i] = values[None, :]
    patterns = decode(est, z.reshape(d * d, -1), angle).reshape(d, d, *est.pattern_shape_)
    return xr.DataArray(patterns, dims=("manifold_y", "manifold_x", "ky", "kx"),
                        coords={"manifold_y": values, "manifold_x": values},
                        attrs={"latent_x": i, "latent_y": j, "angle": angle,
                               "units": "intensity"})


def traversal(est: Any, latent: int | str = 0, n: int = 9, span: float = 2.0
              ) -> xr.DataArray:
    """Decoded patterns along one latent (others 0): a content latent from -span to
    +span, or ``"angle"`` over a full turn."""
    check_fitted(est)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SettingsError(f"n={n!r} must be a positive integer")
    z = np.zeros((n, est.settings_.latent_dim), dtype=np.float32)
    if latent == "angle":
        values = np.linspace(-np.pi, np.pi, n, endpoint=False)
        patterns = decode(est, z, values)
    else:
        values = np.linspace(-span, span, n)
        z[:, latent_index(est, latent)] = values
        patterns = decode(est, z)
    return xr.DataArray(patterns, dims=("step", "ky", "kx"), coords={"value": ("step", values)},
                        attrs={"latent": str(latent), "units": "intensity"})


def latent_index(est: Any, k: Any) -> int:
    d = est.settings_.latent_dim
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < d:
        raise SettingsError(f"latent {k!r} does not exist; content latents are 0..{d - 1}")
    return int(k)


def _latent_first(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.moveaxis(values.reshape(*shape, values.shape[-1]), -1, 0)


def _sample_dims(X: Any, scan_shape: tuple[int, int] | None, n: int
                 ) -> tuple[tuple[str, ...], dict[str, Any]]:
    if scan_shape is None:
        return ("pattern",), {"pattern": np.arange(n)}
    coords: dict[str, Any] = {}
    if isinstance(X, Dataset4D):
        for name, (values, unit) in list(X.coords().items())[:2]:
            coords[name] = xr.Variable(name, values, attrs={"units": unit})
    return ("scan_y", "scan_x"), coords
