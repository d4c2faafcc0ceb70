"""``RotationalVAE``: the scikit-learn-style estimator around the rrVAE network."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import dask.array as da

import numpy as np
import torch
import xarray as xr
import zarr
from scipy.stats import norm
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from ..budget import IN_MEMORY_SHARE, memory_budget
from ..cluster import active_client
from ..dataset import Dataset4D
from ..errors import DataError, FormatError, SettingsError
from .data import as_patterns, check_unit_interval
from .encode_map import EncoderSpec, columns, encode_lazy, encode_patterns
from .geometry import pixel_unit, unwrap_map, wrap_angle
from .loss import mean_from_output
from .model import Architecture, RotationalVAEModule, build_model
from .parallel import Parallel, device_for, from_environment
from .serialize import load_model, save_model
from .settings import Settings, resolve, resolve_device
from .source import MemoryData, MemoryPatterns, StreamData, ZarrPatterns, pattern_sum, value_range
from .stage import stage_patterns
from .train import Trainer, cpu_threads, default_threads

INFERENCE_BATCH = 512
_NOT_SHAPE_KEYS = ("epochs", "max_time", "early_stopping", "device", "precision", "n_threads",
                   "streaming", "loader_workers")


class RotationalVAE(TransformerMixin, BaseEstimator):
    """Rotationally invariant variational autoencoder (rrVAE / rVAE) for diffraction patterns.

    One latent is the in-plane rotation angle of each pattern, optionally two are its shift,
    and ``latent_dim`` content latents describe the pattern with rotation (and shift)
    factored out. Both decoders render the unrotated pattern and sample it on a rotated grid,
    so a decoded pattern at angle ``a`` is exactly the angle-0 pattern rotated by ``a``.

    Parameters
    ----------
    latent_dim
        Number of content latents (the paper uses 2).
    translation
        Add two shift latents (rVAE); off for centred CBED patterns (rrVAE).
    encoder
        ``"mlp"`` (the paper's flatten -> 2 x hidden tanh) or ``"conv"``; None: the recipe's.
    decoder
        ``"spatial"`` (the paper's coordinate generator) or ``"rotate"`` (renders the unrotated
        pattern once and rotates it by bilinear sampling; much faster); None: the recipe's.
    hidden
        Width of the hidden layers.
    output
        ``"softplus"`` (non-negative, the paper's) or ``"linear"`` decoder output for the
        Gaussian likelihood; Bernoulli likelihoods read the output as logits.
    likelihood
        ``"gaussian"`` (0.5 * sum of squares, the paper's), ``"bernoulli"`` or
        ``"continuous_bernoulli"`` (intensities must lie in [0, 1]).
    beta
        Weight of the KL terms.
    rotation_prior
        Prior sd of the angle latent [rad]; only the posterior's spread is pulled towards it.
    translation_prior
        Prior sd of the shifts [coordinate units: half the pattern width].
    recipe
        ``"default"`` (symbreak's fast recipe) or ``"paper"`` (the notebook: MLP, spatial
        decoder, Adam 1e-4, batch 20, 1000 epochs, no early stopping).
    epochs, batch_size, learning_rate
        Override the recipe; None keeps it.
    consistency
        Weight of the rotation-consistency term (a randomly rotated copy of each input must
        move the angle latent by the applied angle and leave content latents unchanged);
        None: the recipe's (0.2 default, 0 paper).
    angle_head
        ``"circular"`` (the angle mean is atan2 of two outputs) or ``"linear"`` (paper);
        None: the recipe's.
    validation_fraction
        Share of patterns held out (seeded split, as sklearn's ``train_test_split``).
    early_stopping
        Stop after this many epochs without a better validation loss; None/False: never;
        ``"auto"``: the recipe's (20 default, off for paper). The best weights are kept.
    max_time
        Stop training after this many seconds [s] (checked between epochs); None: no limit.
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    precision
        ``"auto"`` (bf16 autocast on CUDA GPUs that support it, else float32), ``"float32"``,
        ``"bf16"`` or ``"fp16"`` (CUDA only). Losses are always summed in float32.
    random_state
        Seed of the weights, the split, the shuffling, the latent noise and the augmentation.
    checkpoint_dir
        Folder for an atomic checkpoint every epoch; needed for ``fit(..., resume=True)``.
    progress
        Progress bar with training and validation loss (None: only on a terminal).
    n_threads
        PyTorch CPU threads while fitting and encoding; None: 1 for the rotate decoder
        (its small operations run fastest single-threaded, above all on a shared machine),
        PyTorch's setting otherwise. Restored afterwards.
    streaming
        ``"auto"``: patterns larger than a quarter of the memory budget
        (:func:`symbreak.budget.memory_budget`) are streamed from disk chunk by chunk (a
        zarr array is read in place; other lazy input is first written to a zarr store in
        ``checkpoint_dir`` or a temporary folder); smaller ones are held in memory.
        True / False: always / never stream. Encoding of lazy input larger than the budget
        share is a chunked dask map (on a dask.distributed cluster when one is active).
    loader_workers
        DataLoader worker processes that read chunks ahead while streaming; None: 1.

    Under ``torchrun --nproc_per_node N`` fitting runs in N processes with
    DistributedDataParallel: ``batch_size`` is the global batch (each process takes
    ``batch_size // N``), each process streams its own share of the chunks, and only the
    process of rank 0 writes checkpoints.
    """

    def __init__(self, *, latent_dim: int = 2, translation: bool = False,
                 encoder: str | None = None, decoder: str | None = None, hidden: int = 128,
                 output: str = "softplus", likelihood: str = "gaussian", beta: float = 1.0,
                 rotation_prior: float = 0.1, translation_prior: float = 0.1,
                 recipe: str = "default", epochs: int | None = None,
                 batch_size: int | None = None, learning_rate: float | None = None,
                 consistency: float | None = None, angle_head: str | None = None,
                 validation_fraction: float = 0.15, early_stopping: Any = "auto",
                 max_time: float | None = None, device: str = "auto",
                 precision: str = "auto", random_state: int = 0,
                 checkpoint_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, n_threads: int | None = None,
                 streaming: bool | str = "auto", loader_workers: int | None = None) -> None:
        self.latent_dim = latent_dim
        self.translation = translation
        self.encoder = encoder
        self.decoder = decoder
        self.hidden = hidden
        self.output = output
        self.likelihood = likelihood
        self.beta = beta
        self.rotation_prior = rotation_prior
        self.translation_prior = translation_prior
        self.recipe = recipe
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.consistency = consistency
        self.angle_head = angle_head
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.max_time = max_time
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        self.n_threads = n_threads
        self.streaming = streaming
        self.loader_workers = loader_workers

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, resume: bool = False) -> "RotationalVAE":
        """Train on patterns ``X``; returns self.

        ``X``: a 4-D scan or 3-D stack as numpy, memory map, dask, zarr array, xarray,
        torch tensor or :class:`Dataset4D`. With ``resume=True`` training continues from the
        checkpoint in ``checkpoint_dir`` and ends exactly where an uninterrupted run would.
        """
        settings = resolve(self.get_params())
        parallel = from_environment(settings.device)
        settings = dataclasses.replace(settings, device=device_for(settings.device, parallel))
        with contextlib.ExitStack() as stack:
            source = self._source(X, stack)
            self._fit_source(source, settings, parallel, resume)
        return self

    def _fit_source(self, source: Any, settings: Settings, parallel: Parallel,
                    resume: bool) -> None:
        if settings.likelihood != "gaussian":
            low, high = value_range(source)
            check_unit_interval(np.array([low, high], np.float32), settings.likelihood)
        train_idx, val_idx = self._split(source.n, settings)
        arch = _architecture(settings, source.pattern_shape)
        model = build_model(arch, settings.random_state)
        fingerprint = _fingerprint(settings, (source.n, *source.pattern_shape),
                                   pattern_sum(source))
        trainer = Trainer(model, settings, fingerprint, self.checkpoint_dir, self.progress,
                          parallel)
        data = self._training_data(source, train_idx, val_idx, settings, parallel)
        t0 = time.perf_counter()
        history = trainer.fit(data, resume=resume)
        self.fit_time_ = time.perf_counter() - t0
        self.model_ = trainer.model.eval()
        self.settings_ = settings.to_dict()
        self.architecture_ = arch
        self.history_ = history
        self.best_validation_loss_ = float(trainer.best_val)
        self.n_epochs_ = len(history)
        self.pattern_shape_ = tuple(int(n) for n in source.pattern_shape)
        self.train_indices_ = train_idx
        self.validation_indices_ = val_idx
        self.device_ = settings.device
        self.fingerprint_ = fingerprint
        self.streamed_ = isinstance(data, StreamData)

    def _source(self, X: Any, stack: contextlib.ExitStack) -> Any:
        """A :class:`ZarrPatterns` for data streamed from disk, else :class:`MemoryPatterns`."""
        if self.streaming not in ("auto", True, False):
            raise SettingsError(f"streaming={self.streaming!r} must be 'auto', True or False")
        w = self.loader_workers
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 0):
            raise SettingsError(f"loader_workers={w!r} must be a non-negative integer "
                                "(0 reads in the training process)")
        if isinstance(X, Dataset4D):
            X = X.array
        if isinstance(X, xr.DataArray):
            X = X.data
        if isinstance(X, (str, os.PathLike)):
            X = zarr.open_array(str(X), mode="r")
        if not _is_lazy(X):
            return MemoryPatterns(as_patterns(X)[0])
        share = memory_budget() // IN_MEMORY_SHARE
        big = int(np.prod(X.shape)) * 4 > share
        if self.streaming is False or (self.streaming == "auto" and not big):
            return MemoryPatterns(as_patterns(X)[0])
        if isinstance(X, zarr.Array):
            return ZarrPatterns(X)
        if isinstance(X, np.memmap):
            return MemoryPatterns(X.reshape(-1, *X.shape[-2:]))
        folder = self.checkpoint_dir
        if folder is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="symbreak-"))
        return ZarrPatterns(stage_patterns(X, Path(folder) / "patterns.zarr"))

    def _training_data(self, source: Any, train_idx: np.ndarray, val_idx: np.ndarray,
                       settings: Settings, parallel: Parallel) -> Any:
        # a plain array in memory trains from one tensor; zarr and memory maps stream
        if type(getattr(source, "patterns", None)) is np.ndarray and self.streaming is not True:
            data = torch.from_numpy(source.patterns)
            return MemoryData(data[train_idx], data[val_idx], settings.batch_size, parallel)
        mask = np.zeros(source.n, dtype=bool)
        mask[train_idx] = True
        pattern_bytes = 4 * int(np.prod(source.pattern_shape))
        buffer = max(settings.batch_size, memory_budget() // 8 // pattern_bytes)
        workers = 1 if self.loader_workers is None else int(self.loader_workers)
        return StreamData(source, mask, settings.batch_size, settings.random_state, parallel,
                          buffer, workers)

    @staticmethod
    def _split(n: int, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(np.ceil(n * settings.validation_fraction))
        if n < 2 or n_val >= n:
            raise DataError(f"need at least 2 patterns to hold out a validation share of "
                            f"{settings.validation_fraction}, got {n}")
        train_idx, val_idx = train_test_split(np.arange(n), test_size=settings.validation_fraction,
                                              random_state=settings.random_state)
        return np.sort(train_idx), np.sort(val_idx)

    # ------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this RotationalVAE is not fitted yet; call fit(X) or "
                                 "RotationalVAE.load(folder) first")

    def _patterns(self, X: Any) -> tuple[np.ndarray, tuple[int, int] | None]:
        self._check_fitted()
        patterns, scan_shape = as_patterns(X)
        if tuple(patterns.shape[1:]) != self.pattern_shape_:
            raise DataError(f"patterns of shape {tuple(patterns.shape[1:])} do not match the "
                            f"model's {self.pattern_shape_}; preprocess them the same way "
                            "as the training data")
        return patterns, scan_shape

    def _spec(self) -> EncoderSpec:
        return EncoderSpec.from_model(self.model_, f"{self.fingerprint_}-{id(self.model_)}",
                                      self.settings_["likelihood"],
                                      self.settings_["translation_prior"])

    def _encode(self, X: Any) -> tuple[dict[str, np.ndarray], tuple[int, int] | None, int]:
        """Encodings by name, the scan shape (None for a stack) and the pattern count; lazy
        input larger than the memory share (or with a dask cluster active) is a dask map."""
        self._check_fitted()
        array = X.array if isinstance(X, Dataset4D) else X
        if isinstance(array, (str, os.PathLike)):
            array = zarr.open_array(str(array), mode="r")
        if _is_lazy(array) and (int(np.prod(array.shape)) * 4 > memory_budget() //
                                IN_MEMORY_SHARE or active_client() is not None):
            if tuple(array.shape[-2:]) != self.pattern_shape_:
                raise DataError(f"patterns of shape {tuple(array.shape[-2:])} do not match "
                                f"the model's {self.pattern_shape_}; preprocess them the "
                                "same way as the training data")
            values = encode_lazy(array, self._spec(), self.progress)
            scan = tuple(int(n) for n in array.shape[:2]) if array.ndim == 4 else None
        else:
            patterns, scan = self._patterns(X)
            with self._threads():
                values = encode_patterns(self.model_, patterns, self.settings_["likelihood"],
                                         self.settings_["translation_prior"], self.device_)
        enc = {k: values[:, c] for k, c in columns(self.architecture_).items()}
        for k in ("angle", "angle_sd", "error"):
            enc[k] = enc[k][:, 0]
        return enc, scan, values.shape[0]

    def _threads(self) -> Any:
        return cpu_threads(default_threads(Settings(**self.settings_)))

    def transform(self, X: Any) -> xr.Dataset:
        """Latent means and sds as an ``xarray.Dataset`` (maps over the scan for 4-D input).

        Variables: ``latent_angle`` wrapped to (-pi, pi], ``latent_angle_unwrapped``,
        ``latent_angle_sd`` [rad]; ``latent_z``, ``latent_z_sd`` (latent, ...);
        ``latent_shift``, ``latent_shift_sd`` (shift = y, x) [px] with translation;
        ``reconstruction_error`` (mean squared error per pixel).
        """
        enc, scan_shape, n = self._encode(X)
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
            unit = pixel_unit(self.pattern_shape_)
            for key, name in (("shift", "latent_shift"), ("shift_sd", "latent_shift_sd")):
                yx = enc[key][:, ::-1] * unit
                out[name] = (sdims, _latent_first(yx, shape), {"units": "px"})
            coords["shift"] = ["y", "x"]
        coords["latent"] = np.arange(self.settings_["latent_dim"])
        ds = xr.Dataset({k: xr.Variable(*v) for k, v in out.items()}, coords=coords)
        ds.attrs["model"] = "symbreak.RotationalVAE"
        ds.attrs["settings"] = json.dumps(self.settings_)
        ds.attrs["angle_convention"] = ("radians from +kx towards +ky (as arctan2(com_y, "
                                        "com_x)); decoded content rotates by +angle")
        return ds

    def reconstruct(self, X: Any) -> np.ndarray:
        """Decoded patterns at the latent means, shaped like ``X``."""
        patterns, scan_shape = self._patterns(X)
        out = []
        with torch.no_grad():
            for i in range(0, patterns.shape[0], INFERENCE_BATCH):
                x = torch.from_numpy(patterns[i:i + INFERENCE_BATCH]).to(self.device_)
                post = self.model_.encode(x)
                y = self.model_.decode(post.z, post.angle, post.shift)
                out.append(mean_from_output(y, self.settings_["likelihood"]).cpu().numpy())
        recon = np.concatenate(out)
        return recon.reshape(*scan_shape, *self.pattern_shape_) if scan_shape else recon

    def decode(self, z: Any, angle: Any = 0.0, shift: Any = None) -> np.ndarray:
        """Patterns for content latents ``z`` (latent_dim,) or (n, latent_dim), rotated by
        ``angle`` [rad] (scalar or (n,)) and shifted by ``shift`` (y, x) [px]."""
        self._check_fitted()
        d = self.settings_["latent_dim"]
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
                                           / pixel_unit(self.pattern_shape_)).to(self.device_)
        with torch.no_grad():
            zt = torch.from_numpy(z_arr).to(self.device_)
            at = torch.from_numpy(np.array(angles)).to(self.device_)
            y = self.model_.decoder(zt, at, shift_coord)
            y = mean_from_output(y, self.settings_["likelihood"]).cpu().numpy()
        return y[0] if single else y

    def manifold(self, d: int = 9, latents: tuple[int, int] = (0, 1), angle: float = 0.0
                 ) -> xr.DataArray:
        """A d x d grid of decoded patterns over two content latents (others 0).

        Latent values are standard-normal quantiles from 5 % to 95 % (as atomai's manifold).
        """
        self._check_fitted()
        if self.settings_["latent_dim"] < 2:
            raise SettingsError("manifold needs latent_dim >= 2; use traversal(0) instead")
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise SettingsError(f"d={d!r} must be a positive integer")
        i, j = (self._latent_index(k) for k in latents)
        values = norm.ppf(np.linspace(0.05, 0.95, d))
        z = np.zeros((d, d, self.settings_["latent_dim"]), dtype=np.float32)
        z[:, :, j] = values[:, None]
        z[:, :, i] = values[None, :]
        patterns = self.decode(z.reshape(d * d, -1), angle).reshape(d, d, *self.pattern_shape_)
        return xr.DataArray(patterns, dims=("manifold_y", "manifold_x", "ky", "kx"),
                            coords={"manifold_y": values, "manifold_x": values},
                            attrs={"latent_x": i, "latent_y": j, "angle": angle,
                                   "units": "intensity"})

    def traversal(self, latent: int | str = 0, n: int = 9, span: float = 2.0) -> xr.DataArray:
        """Decoded patterns along one latent (others 0): a content latent from -span to
        +span, or ``"angle"`` over a full turn."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SettingsError(f"n={n!r} must be a positive integer")
        z = np.zeros((n, self.settings_["latent_dim"]), dtype=np.float32)
        if latent == "angle":
            values = np.linspace(-np.pi, np.pi, n, endpoint=False)
            patterns = self.decode(z, values)
        else:
            values = np.linspace(-span, span, n)
            z[:, self._latent_index(latent)] = values
            patterns = self.decode(z)
        return xr.DataArray(patterns, dims=("step", "ky", "kx"), coords={"value": ("step", values)},
                            attrs={"latent": str(latent), "units": "intensity"})

    def _latent_index(self, k: Any) -> int:
        d = self.settings_["latent_dim"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < d:
            raise SettingsError(f"latent {k!r} does not exist; content latents are 0..{d - 1}")
        return int(k)

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike, extra: dict | None = None,
             overwrite: bool = False) -> None:
        """Write ``model.safetensors`` + ``config.json`` to the folder ``path``.

        ``extra``: JSON-able settings of the caller (e.g. the preprocessing) kept with it.
        """
        self._check_fitted()
        params = {k: (str(v) if isinstance(v, os.PathLike) else v)
                  for k, v in self.get_params().items()}
        config = {
            "params": params, "settings": self.settings_,
            "architecture": dataclasses.asdict(self.architecture_),
            "data": {"pattern_shape": list(self.pattern_shape_),
                     "n_train": int(len(self.train_indices_)),
                     "n_validation": int(len(self.validation_indices_))},
            "history": self.history_, "best_validation_loss": self.best_validation_loss_,
            "fingerprint": self.fingerprint_, "extra": extra or {},
        }
        try:
            json.dumps(config["extra"])
        except TypeError as exc:
            raise SettingsError(f"extra must be JSON-serialisable: {exc}") from exc
        save_model(path, self.model_.state_dict(), config, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "RotationalVAE":
        """A fitted estimator from a folder written by :meth:`save` (never unpickles)."""
        state, config = load_model(path)
        try:
            arch_dict = dict(config["architecture"])
            arch_dict["pattern_shape"] = tuple(arch_dict["pattern_shape"])
            arch = Architecture(**arch_dict)
            est = cls(**config["params"])
            model = RotationalVAEModule(arch)
            model.load_state_dict(state, strict=True)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise FormatError(f"the model in {path} does not match its config.json ({exc})"
                              ) from exc
        est.device_ = resolve_device(device)
        est.model_ = model.to(est.device_).eval()
        est.architecture_ = arch
        est.settings_ = dict(config["settings"], device=est.device_)
        est.history_ = config.get("history", [])
        est.best_validation_loss_ = config.get("best_validation_loss")
        est.n_epochs_ = len(est.history_)
        est.pattern_shape_ = arch.pattern_shape
        est.train_indices_ = np.arange(config["data"]["n_train"])
        est.validation_indices_ = np.arange(config["data"]["n_validation"])
        est.fingerprint_ = config.get("fingerprint")
        est.extra_ = config.get("extra", {})
        return est


def _architecture(settings: Settings, shape: tuple[int, ...]) -> Architecture:
    return Architecture(pattern_shape=(int(shape[0]), int(shape[1])),
                        latent_dim=settings.latent_dim, translation=settings.translation,
                        encoder=settings.encoder, decoder=settings.decoder, hidden=settings.hidden,
                        output=settings.output if settings.likelihood == "gaussian" else "linear",
                        angle_head=settings.angle_head,
                        translation_prior=settings.translation_prior)


def _fingerprint(settings: Settings, shape: tuple[int, ...], total: float) -> str:
    keys = {k: v for k, v in settings.to_dict().items() if k not in _NOT_SHAPE_KEYS}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode())
    digest.update(str(tuple(shape)).encode())
    digest.update(np.float64(total).tobytes())
    return digest.hexdigest()[:16]


def _is_lazy(array: Any) -> bool:
    """Data that live on disk or in a task graph rather than in memory."""
    return isinstance(array, (da.Array, zarr.Array, np.memmap)) or (
        isinstance(array, xr.DataArray) and isinstance(array.data, da.Array))


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
