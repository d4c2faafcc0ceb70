"""Fit diagnostics of the rrVAE: did the model explain the data, which latents are used,
does the angle follow the rotation, are the content latents invariant, and a verdict.

The numbers are computed on held-out (validation) patterns. A fit that explains nothing
(the decoder returns the mean pattern: validation loss at about half the summed pixel
variance) or whose angle latent does not vary is ``failed``; one with weak but real
structure is ``doubtful``; anything else is ``ok``. Every verdict carries its reasons in
words and what to try.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from ..metrics import circular_correlation
from .geometry import coordinate_grid, rotate_patterns

# thresholds of the verdict (see docs/vae.md, "Fit diagnostics")
EXPLAINED_FAILED = 0.02      # explained fraction of the validation variance
EXPLAINED_DOUBTFUL = 0.10
UNTRAINED = 0.5              # explained < -this: far worse than the mean pattern
ANGLE_SPREAD_FAILED = 0.05   # rad, circular sd of the angle latent over the patterns
ANGLE_COM_DOUBTFUL = 0.5     # Fisher-Lee of angle latent vs COM (or first-moment) angle
DRIFT_DOUBTFUL = 0.10        # content drift under exact turns, in units of its spread
SHIFT_DOUBTFUL = 5.0         # deg, error of the angle shift under exact turns
INFORMATIVE = 0.002          # share of the validation variance a content latent must explain
INTERPOLATED_TURN = 30.0     # deg, the interpolated rotation tested


@dataclasses.dataclass
class FitDiagnostics:
    """Quality numbers of one fit (validation patterns unless said otherwise).

    Attributes
    ----------
    explained_fraction
        1 - SSE / SST of the reconstructions at the latent means, SST about the mean
        pattern (0: explains nothing, 1: perfect).
    baseline_loss, validation_loss
        -ELBO per pattern of the mean-pattern model (Gaussian: half the summed pixel
        variance) and of the fit.
    kl_per_latent
        Mean KL to the prior of each content latent [nats].
    latent_spread, latent_posterior_sd, latent_activity
        Sd over the patterns of each content latent's mean, its mean posterior sd, and
        their ratio. With the unit-variance Gaussian likelihood on [0, 1] data the
        posterior sd stays large, so a small ratio alone does not mean an unused latent.
    latent_explained
        Share of the validation variance each content latent explains: the rise of the
        squared reconstruction error when that latent is set to its mean over the
        patterns, over the summed variance (0: the decoder ignores it).
    angle_spread
        Circular sd of the angle latent over the patterns [rad].
    angle_vs_moment
        Fisher-Lee correlation of the angle latent with the direction of each pattern's
        first moment about the mean pattern (the COM direction of the input).
    angle_vs_com
        The same against a COM angle map given by the caller, else None.
    content_drift_turn, content_drift_turn_raw
        Largest RMS change of an informative content latent (all when none is) under
        exact turns of the inputs by
        multiples of 90 degrees (180 for non-square patterns), in units of the latent's
        spread; as encoded (symmetrised when on) and by the plain encoder.
    angle_shift_turn
        Largest error [deg] of the angle latent's shift under those turns.
    content_drift_interpolated, angle_shift_interpolated
        The same for an interpolated (bilinear) turn by 30 degrees (shift in degrees;
        30 is perfect).
    pca_explained
        Explained fraction of the same held-out variance by a PCA with as many
        components as the rrVAE has latents, fitted on training patterns: the structure
        the data hold above the noise (NaN when not computed).
    stop_reason, epochs
        Why training stopped (``epochs``, ``early_stopping``, ``max_time``, ``collapsed``)
        and the epochs done (best attempt).
    attempts
        One dict per attempt: seed, learning rate, angle warm-up, epochs, stop reason,
        best validation loss, explained fraction, angle spread, collapsed.
    verdict, reasons, advice, notes
        ``ok``, ``doubtful`` or ``failed``; why, what to try, and remarks that do not
        change the verdict (e.g. content latents the decoder does not use).
    """

    explained_fraction: float
    baseline_loss: float
    validation_loss: float
    kl_per_latent: list[float]
    latent_spread: list[float]
    latent_posterior_sd: list[float]
    latent_activity: list[float]
    latent_explained: list[float]
    angle_spread: float
    angle_vs_moment: float
    angle_vs_com: float | None
    content_drift_turn: float
    content_drift_turn_raw: float
    angle_shift_turn: float
    content_drift_interpolated: float
    angle_shift_interpolated: float
    stop_reason: str
    epochs: int
    pca_explained: float = float("nan")
    attempts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    verdict: str = "ok"
    reasons: list[str] = dataclasses.field(default_factory=list)
    advice: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FitDiagnostics":
        """Diagnostics from :meth:`to_dict`; numbers a file lacks (an older version's) are
        NaN, lists empty."""
        fields = dataclasses.fields(cls)
        known = {f.name: values[f.name] for f in fields if f.name in values}
        for f in fields:
            if f.name not in known and f.default is dataclasses.MISSING and \
                    f.default_factory is dataclasses.MISSING:
                known[f.name] = [] if "list" in str(f.type) else float("nan")
        return judge(cls(**known)) if "verdict" not in values else cls(**known)


# ------------------------------------------------------------------ basic numbers
def moment_angle(patterns: np.ndarray) -> np.ndarray:
    """Direction [rad] of each pattern's first moment about the mean pattern, in the
    convention of ``arctan2(com_y, com_x)`` (x along kx, y along ky, centre 0)."""
    x = np.asarray(patterns, dtype=np.float64)
    d = x - x.mean(axis=0)
    grid = coordinate_grid(tuple(x.shape[1:])).numpy().reshape(*x.shape[1:], 2)
    mx = np.einsum("nij,ij->n", d, grid[..., 0])
    my = np.einsum("nij,ij->n", d, grid[..., 1])
    return np.arctan2(my, mx)


def circular_spread(angles: np.ndarray) -> float:
    """Circular standard deviation sqrt(-2 ln R) [rad] (0: all equal)."""
    a = np.asarray(angles, dtype=float)
    r = float(np.hypot(np.cos(a).mean(), np.sin(a).mean()))
    return float(math.sqrt(-2 * math.log(max(min(r, 1.0), 1e-12))))


def explained_fraction(patterns: np.ndarray, recon: np.ndarray) -> float:
    """1 - SSE / SST, SST about the mean pattern of ``patterns``."""
    x = np.asarray(patterns, dtype=np.float64)
    sst = float(((x - x.mean(axis=0)) ** 2).sum())
    sse = float(((x - recon) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float("nan")


def baseline_loss(patterns: np.ndarray) -> float:
    """Gaussian -ELBO per pattern of the model that returns the mean pattern [intensity^2]:
    half the summed pixel variance."""
    x = np.asarray(patterns, dtype=np.float64)
    return float(0.5 * x.var(axis=0).sum())


def pca_explained(train: np.ndarray, held_out: np.ndarray, k: int) -> float:
    """Explained fraction of the held-out variance by a k-component PCA fitted on
    ``train`` (as many components as the rrVAE has latents): how much structure above
    the noise the data hold; near 0 means noise only."""
    from sklearn.decomposition import PCA
    t = np.asarray(train, np.float64).reshape(len(train), -1)
    v = np.asarray(held_out, np.float64).reshape(len(held_out), -1)
    k = int(min(k, t.shape[0] - 1, t.shape[1]))
    if k < 1:
        return float("nan")
    pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(t)
    recon = pca.inverse_transform(pca.transform(v))
    sst = float(((v - v.mean(axis=0)) ** 2).sum())
    return 1.0 - float(((v - recon) ** 2).sum()) / sst if sst > 0 else float("nan")


def _wrap_deg(d: np.ndarray) -> np.ndarray:
    return (np.asarray(d) + 180.0) % 360.0 - 180.0


def _mean_shift_deg(after: np.ndarray, before: np.ndarray) -> float:
    d = np.asarray(after, float) - np.asarray(before, float)
    return float(np.degrees(np.arctan2(np.sin(d).mean(), np.cos(d).mean())))


def _drift(z_after: np.ndarray, z_before: np.ndarray, spread: np.ndarray,
           active: np.ndarray) -> float:
    """Largest RMS change of a latent in ``active`` in units of its spread (NaN: none)."""
    if not active.any():
        return float("nan")
    rms = np.sqrt(((z_after - z_before) ** 2).mean(axis=0))
    return float((rms[active] / spread[active]).max())


# ------------------------------------------------------------------ the full check
def _turned(patterns: np.ndarray, k: int) -> np.ndarray:
    """Patterns turned exactly by k quarter turns in the angle's sense (+kx to +ky)."""
    return np.ascontiguousarray(np.rot90(patterns, k=-k, axes=(1, 2)))


def _invariance(est: Any, patterns: np.ndarray, base: dict, spread: np.ndarray,
                active: np.ndarray, symmetrize: bool | None) -> tuple[float, float]:
    """(content drift, angle shift error [deg]) under exact turns of the inputs."""
    from .inference import encode_array
    square = patterns.shape[1] == patterns.shape[2]
    drift, shift_err = 0.0, 0.0
    for k in ((1, 2, 3) if square else (2,)):
        enc = encode_array(est, _turned(patterns, k), symmetrize)
        drift = max(drift, _drift(enc["z"], base["z"], spread, active))
        shift = _mean_shift_deg(enc["angle"], base["angle"])
        shift_err = max(shift_err, abs(float(_wrap_deg(shift - 90.0 * k))))
    return drift, shift_err


def _interpolated(est: Any, patterns: np.ndarray, base: dict, spread: np.ndarray,
                  active: np.ndarray) -> tuple[float, float]:
    """(content drift, angle shift [deg]) under a bilinear turn by INTERPOLATED_TURN."""
    from .inference import encode_array
    x = torch.from_numpy(patterns)
    turn = torch.full((x.shape[0],), math.radians(INTERPOLATED_TURN))
    with torch.no_grad():
        turned = rotate_patterns(x, turn).numpy()
    enc = encode_array(est, turned)
    return (_drift(enc["z"], base["z"], spread, active),
            _mean_shift_deg(enc["angle"], base["angle"]))


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fisher-Lee correlation, NaN when there are too few finite pairs."""
    try:
        return circular_correlation(a, b)
    except DataError:
        return float("nan")


def _content_explained(est: Any, patterns: np.ndarray, base: dict) -> list[float]:
    """Per content latent: (SSE with that latent at its mean - SSE) / SST."""
    from .inference import decode
    x = patterns.astype(np.float64)
    sst = float(((x - x.mean(axis=0)) ** 2).sum())
    z = base["z"].astype(np.float32)
    sse = float(((decode(est, z, base["angle"]) - x) ** 2).sum())
    out = []
    for i in range(z.shape[1]):
        fixed = z.copy()
        fixed[:, i] = z[:, i].mean()
        sse_i = float(((decode(est, fixed, base["angle"]) - x) ** 2).sum())
        out.append((sse_i - sse) / sst if sst > 0 else float("nan"))
    return out


def diagnose(est: Any, patterns: np.ndarray, com_angle: np.ndarray | None = None,
             validation_loss: float | None = None, pca_explained: float = float("nan")
             ) -> FitDiagnostics:
    """All quality numbers of a fitted estimator on (n, ky, kx) patterns (use held-out
    ones), with the verdict. ``com_angle`` [rad]: the COM angle of the same patterns."""
    from .inference import encode_array, reconstruct
    patterns = np.ascontiguousarray(patterns, dtype=np.float32)
    base = encode_array(est, patterns)
    recon = reconstruct(est, patterns)
    contribution = _content_explained(est, patterns, base)
    z, z_sd = base["z"].astype(np.float64), base["z_sd"].astype(np.float64)
    spread = z.std(axis=0)
    post_sd = z_sd.mean(axis=0)
    activity = spread / np.maximum(post_sd, 1e-12)
    kl = 0.5 * (z ** 2 + z_sd ** 2 - 1 - 2 * np.log(np.maximum(z_sd, 1e-12))).mean(axis=0)
    active = np.array([e > INFORMATIVE for e in contribution])
    if not active.any():  # nothing informative: judge all latents with some spread
        active = spread > 0
    drift, shift_err = _invariance(est, patterns, base, spread, active, None)
    drift_raw, _ = _invariance(est, patterns, encode_array(est, patterns, False), spread,
                               active, False)
    drift_i, shift_i = _interpolated(est, patterns, base, spread, active)
    history = getattr(est, "history_", []) or []
    diag = FitDiagnostics(
        explained_fraction=explained_fraction(patterns, recon),
        baseline_loss=baseline_loss(patterns),
        validation_loss=float(validation_loss if validation_loss is not None
                              else getattr(est, "best_validation_loss_", float("nan"))),
        kl_per_latent=[float(v) for v in kl], latent_spread=[float(v) for v in spread],
        latent_posterior_sd=[float(v) for v in post_sd],
        latent_activity=[float(v) for v in activity], latent_explained=contribution,
        angle_spread=circular_spread(base["angle"]),
        angle_vs_moment=_agreement(base["angle"], moment_angle(patterns)),
        angle_vs_com=None if com_angle is None else _agreement(
            base["angle"], np.asarray(com_angle).ravel()),
        content_drift_turn=drift, content_drift_turn_raw=drift_raw,
        angle_shift_turn=shift_err, content_drift_interpolated=drift_i,
        angle_shift_interpolated=shift_i,
        stop_reason=getattr(est, "stop_reason_", "unknown"), epochs=len(history),
        pca_explained=float(pca_explained), attempts=list(getattr(est, "attempts_", [])))
    return judge(diag)


def with_com(diag: FitDiagnostics, latent_angle: Any, com_angle: Any) -> FitDiagnostics:
    """A copy of ``diag`` with ``angle_vs_com`` (Fisher-Lee of the angle latent map and
    the COM angle map [rad], e.g. of a whole scan) and the verdict judged again."""
    out = FitDiagnostics.from_dict(diag.to_dict())
    out.angle_vs_com = circular_correlation(np.asarray(latent_angle).ravel(),
                                            np.asarray(com_angle).ravel())
    return judge(out)


# ------------------------------------------------------------------ the verdict
def judge(diag: FitDiagnostics) -> FitDiagnostics:
    """Set ``verdict``, ``reasons`` and ``advice`` from the numbers (in place; returned)."""
    failed, doubtful, advice, notes = [], [], [], []
    ef = diag.explained_fraction
    pca = diag.pca_explained
    if not np.isfinite(ef):
        doubtful.append("too few held-out patterns to measure the fit (explained variance "
                        "undefined)")
    elif not ef > EXPLAINED_FAILED and pca < EXPLAINED_FAILED:
        failed.append(f"the data hold almost no structure above the noise (PCA with as many "
                      f"components as latents explains {pca:.1%} of the held-out variance, "
                      f"the model {ef:.1%}): they cannot support a fit")
        advice.append("a higher dose, or binning of the detector / scan before training")
    elif ef < -UNTRAINED:
        failed.append(f"the model reconstructs the validation patterns worse than their mean "
                      f"pattern (explained {ef:.1%}): it has not learned the data (too few "
                      "epochs, or a learning rate too high)")
    elif not ef > EXPLAINED_FAILED:
        failed.append(f"the model explains {ef:.1%} of the validation variance: the decoder "
                      "returns the mean pattern (the explain-nothing state)")
    elif ef < EXPLAINED_DOUBTFUL:
        doubtful.append(f"the model explains only {ef:.1%} of the validation variance")
    if np.isfinite(ef) and not diag.angle_spread > ANGLE_SPREAD_FAILED:
        failed.append(f"the angle latent hardly varies (circular sd {diag.angle_spread:.3g} "
                      "rad): no rotation was factored out")
    agreement = diag.angle_vs_com if diag.angle_vs_com is not None else diag.angle_vs_moment
    label = "COM angle" if diag.angle_vs_com is not None else "first-moment (COM) direction"
    if not failed and np.isfinite(agreement) and not abs(agreement) >= ANGLE_COM_DOUBTFUL:
        doubtful.append(f"the angle latent does not follow the {label} (Fisher-Lee "
                        f"{agreement:.2f})")
    _invariance_reasons(diag, doubtful)
    if failed and np.isfinite(agreement) and abs(agreement) >= 0.9 and diag.angle_spread > \
            ANGLE_SPREAD_FAILED:
        notes.append(f"the angle latent follows the {label} (Fisher-Lee {agreement:.2f}) but "
                     "the decoder explains nothing: the angle map is then no more than the COM "
                     "angle map (the angle warm-up pulls it that way), not a separate finding")
    if not failed and not any(e > INFORMATIVE for e in diag.latent_explained):
        best = max(diag.latent_explained, default=float("nan"))
        notes.append(f"the decoder does not use the content latents (best explains {best:.2%} "
                     "of the variance; posterior sd >> spread): their maps show the "
                     "encoder's means only; compare them with the COM magnitude before "
                     "reading them as findings")
    if diag.stop_reason == "max_time":
        doubtful.append("training was stopped by the time limit, not by convergence")
    if failed or doubtful:
        advice += _advice(diag, bool(failed) and not advice)
    diag.verdict = "failed" if failed else "doubtful" if doubtful else "ok"
    diag.reasons = failed + doubtful
    diag.advice = advice
    diag.notes = notes
    return diag


def _invariance_reasons(diag: FitDiagnostics, doubtful: list[str]) -> None:
    if diag.content_drift_turn > DRIFT_DOUBTFUL:
        doubtful.append(f"content latents move by {diag.content_drift_turn:.2f} of their "
                        "spread when the inputs are turned by 90 degrees")
    if diag.angle_shift_turn > SHIFT_DOUBTFUL:
        doubtful.append(f"the angle latent misses exact 90-degree turns by "
                        f"{diag.angle_shift_turn:.1f} degrees")


def _advice(diag: FitDiagnostics, failed: bool) -> list[str]:
    out = []
    if failed:
        out.append("more restarts (--restarts N) or a lower learning rate")
        out.append("check the preprocessing: patterns cropped to the bright-field disk, "
                   "mean-subtracted and normalised")
        out.append("at low dose: bin the detector or denoise (PCA) before training; the "
                   "data may not support a fit")
    if diag.stop_reason in ("max_time", "epochs"):
        out.append("a larger epoch budget (--epochs) without a time limit")
    if diag.content_drift_turn > DRIFT_DOUBTFUL:
        out.append("symmetrised encoding (symmetrize=True)")
    return out
