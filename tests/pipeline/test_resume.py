"""An interrupted analyze leaves no results; --resume finishes it as if uninterrupted."""

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.vae import train


def test_interrupt_then_resume(scan, tmp_path, monkeypatch):
    out = tmp_path / "run"
    original = train.Trainer.save_checkpoint
    calls = []

    def interrupt_after_two(self):
        original(self)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "save_checkpoint", interrupt_after_two)
    options = dict(epochs=4, pca_components=2, manifold_size=3, progress=False)
    with pytest.raises(KeyboardInterrupt):
        symbreak.analyze(scan, out=out, **options)
    assert not (out / "results.zarr").exists() and not (out / "model").exists()
    assert (out / ".checkpoints").is_dir()
    monkeypatch.setattr(train.Trainer, "save_checkpoint", original)

    resumed = symbreak.analyze(scan, out=out, resume=True, **options)
    assert resumed.sizes["epoch"] == 4
    assert not (out / ".checkpoints").exists()
    saved = xr.open_zarr(out / "results.zarr")
    reference = symbreak.analyze(scan, **options)  # uninterrupted, in memory
    np.testing.assert_allclose(saved["latent_z"].values, reference["latent_z"].values,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(saved["history_train_loss"].values,
                               reference["history_train_loss"].values, rtol=1e-4)
