"""``RotationalVAE``: the scikit-learn-style estimator around the rrVAE network.

The estimator keeps its parameters and the scikit-learn contract; the work lives in
:mod:`~symbreak.vae.fitting` (attempts, restarts), :mod:`~symbreak.vae.inputs` (memory vs
streamed data), :mod:`~symbreak.vae.inference` (encoding, decoding),
:mod:`~symbreak.vae.diagnostics` (fit quality) and :mod:`~symbreak.vae.persistence`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, TransformerMixin

from . import inference
from .diagnostics import FitDiagnostics, diagnose
from .fitting import fit_estimator
from .persistence import load_estimator, save_estimator

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
        Weight of the KL terms; ``"auto"``: the per-pixel variance a PCA with as many
        components as latents leaves unexplained, i.e. a Gaussian likelihood with the
        data's own noise scale instead of unit variance (the decoder then uses the content
        latents; see docs/vae.md).
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
        ``"auto"`` (bf16 autocast on CUDA GPUs that support it, and for the spatial decoder
        on CPUs with native bf16, AVX512-BF16 or AMX, detected at run time; else float32),
        ``"float32"``, ``"bf16"`` or ``"fp16"`` (CUDA only). Losses are always summed in
        float32. ``settings_.precision`` and ``settings_.cpu`` record what was used.
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
        (:func:`symbreak.engine.budget_bytes`) are streamed from disk chunk by chunk (a
        zarr array is read in place; other lazy input is first written to a zarr store in
        ``checkpoint_dir`` or a temporary folder); smaller ones are held in memory.
        True / False: always / never stream. Encoding of lazy input larger than the budget
        share is a chunked dask map (on a dask.distributed cluster when one is active).
    loader_workers
        DataLoader worker processes that read chunks ahead while streaming; None: 1.
    restarts
        Further attempts when a fit ends collapsed (explains < 2 % of the validation
        variance, or a constant angle latent): each from another seed, with an angle
        warm-up towards each pattern's first-moment (COM) direction and half the previous
        learning rate; the attempt with the best validation loss is kept (default 2).
    symmetrize
        Encode each pattern together with its exact quarter-turn copies (half turns for
        non-square patterns) and combine them (content: mean; angle: circular mean of
        angle_k - k x 90 degrees), so the content latents are exactly invariant and the
        angle exactly equivariant under those turns (not with ``translation``).

    angle_warmup
        Epochs at the start during which the angle latent is also pulled (with a weight
        fading to 0) towards each pattern's first-moment direction, the COM direction of
        the input; None: the recipe's. Restarts use at least 10.

    Fitted attributes beyond the model: ``diagnostics_`` (:class:`FitDiagnostics`, with
    the verdict), ``stop_reason_``, ``attempts_`` (one dict per attempt), ``history_``.

    Under ``torchrun --nproc_per_node N`` fitting runs in N processes with
    DistributedDataParallel: ``batch_size`` is the global batch (each process takes
    ``batch_size // N``), each process streams its own share of the chunks, and only the
    process of rank 0 writes checkpoints.
    """

    def __init__(self, *, latent_dim: int = 2, translation: bool = False,
                 encoder: str | None = None, decoder: str | None = None, hidden: int = 128,
                 output: str = "softplus", likelihood: str = "gaussian", beta: float | str = 1.0,
                 rotation_prior: float = 0.1, translation_prior: float = 0.1,
                 recipe: str = "default", epochs: int | None = None,
                 batch_size: int | None = None, learning_rate: float | None = None,
                 consistency: float | None = None, angle_head: str | None = None,
                 validation_fraction: float = 0.15, early_stopping: Any = "auto",
                 max_time: float | None = None, device: str = "auto",
                 precision: str = "auto", random_state: int = 0,
                 checkpoint_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, n_threads: int | None = None,
                 streaming: bool | str = "auto", loader_workers: int | None = None,
                 restarts: int = 2, symmetrize: bool = True,
                 angle_warmup: int | None = None) -> None:
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
        self.restarts = restarts
        self.symmetrize = symmetrize
        self.angle_warmup = angle_warmup

    def fit(self, X: Any, y: Any = None, *, resume: bool = False) -> "RotationalVAE":
        """Train on patterns ``X``; returns self.

        ``X``: a 4-D scan or 3-D stack as numpy, memory map, dask, zarr array, xarray,
        torch tensor or :class:`Dataset4D`. With ``resume=True`` training continues from the
        checkpoint in ``checkpoint_dir`` and ends exactly where an uninterrupted run would.
        Afterwards ``diagnostics_`` holds the fit quality and its verdict.
        """
        fit_estimator(self, X, resume)
        return self

    def transform(self, X: Any) -> xr.Dataset:
        """Latent means and sds as an ``xarray.Dataset`` (maps over the scan for 4-D input).

        Variables: ``latent_angle`` wrapped to (-pi, pi], ``latent_angle_unwrapped``,
        ``latent_angle_sd`` [rad]; ``latent_z``, ``latent_z_sd`` (latent, ...);
        ``latent_shift``, ``latent_shift_sd`` (shift = y, x) [px] with translation;
        ``reconstruction_error`` (mean squared error per pixel).
        """
        return inference.latent_maps(self, X)

    def diagnose(self, X: Any, com_angle: Any = None) -> FitDiagnostics:
        """Fit diagnostics and verdict on patterns ``X`` (best: held-out ones), with the
        Fisher-Lee agreement of the angle latent and ``com_angle`` [rad] when given."""
        patterns, _ = inference.patterns_of(self, X)
        com = None if com_angle is None else np.asarray(com_angle, dtype=float).ravel()
        diag = diagnose(self, patterns, com)
        diag.epochs = getattr(self, "n_epochs_", diag.epochs)
        return diag

    def reconstruct(self, X: Any) -> np.ndarray:
        """Decoded patterns at the latent means, shaped like ``X``."""
        return inference.reconstruct(self, X)

    def decode(self, z: Any, angle: Any = 0.0, shift: Any = None) -> np.ndarray:
        """Patterns for content latents ``z`` (latent_dim,) or (n, latent_dim), rotated by
        ``angle`` [rad] (scalar or (n,)) and shifted by ``shift`` (y, x) [px]."""
        return inference.decode(self, z, angle, shift)

    def manifold(self, d: int = 9, latents: tuple[int, int] = (0, 1), angle: float = 0.0
                 ) -> xr.DataArray:
        """A d x d grid of decoded patterns over two content latents (others 0).

        Latent values are standard-normal quantiles from 5 % to 95 % (as atomai's manifold).
        """
        return inference.manifold(self, d, latents, angle)

    def traversal(self, latent: int | str = 0, n: int = 9, span: float = 2.0) -> xr.DataArray:
        """Decoded patterns along one latent (others 0): a content latent from -span to
        +span, or ``"angle"`` over a full turn."""
        return inference.traversal(self, latent, n, span)

    def save(self, path: str | os.PathLike, extra: dict | None = None,
             overwrite: bool = False) -> None:
        """Write ``model.safetensors`` + ``config.json`` (diagnostics included) to the
        folder ``path``. ``extra``: JSON-able settings of the caller kept with it."""
        inference.check_fitted(self)
        save_estimator(self, path, extra, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> "RotationalVAE":
        """A fitted estimator from a folder written by :meth:`save` (never unpickles)."""
        return load_estimator(cls, path, device)
