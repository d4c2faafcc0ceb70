"""`symbreak preprocess`, and `train` / `encode` preprocessing 4D-STEM files as `analyze` does."""

import warnings

import numpy as np
import pytest
import xarray as xr

from symbreak import RotationalVAE, load
from symbreak.cli import build_parser, main
from vae_synthetic import dipole_patterns


def _scan(tmp_path, ny=8, nx=10, size=24, seed=0):
    rng = np.random.default_rng(seed)
    X = dipole_patterns(rng.uniform(-np.pi, np.pi, ny * nx), rng.uniform(0, 1, ny * nx),
                        size=size).reshape(ny, nx, size, size).astype(np.float32)
    np.save(tmp_path / "scan.npy", X)
    return X


def _expected(X):
    """Mean pattern subtracted, then min-max normalised over the whole stack (numpy)."""
    centred = X.astype(np.float64) - X.mean(axis=(0, 1), dtype=np.float64)
    return (centred - centred.min()) / (centred.max() - centred.min())


def test_preprocess_command_matches_numpy(tmp_path, capsys):
    X = _scan(tmp_path)
    assert main(["preprocess", str(tmp_path / "scan.npy"), str(tmp_path / "p.zarr"),
                 "--crop", "24"]) == 0
    assert "8 x 10 patterns of 24 x 24 px" in capsys.readouterr().out
    written = load(tmp_path / "p.zarr")
    np.testing.assert_allclose(written.to_numpy(), _expected(X), atol=2e-6)
    recorded = [p for p in written.provenance if p.get("step") == "preprocess"]
    assert recorded[-1]["settings"]["crop"] == 24 and recorded[-1]["settings"]["normalize"]
    # never over an existing output without --overwrite
    assert main(["preprocess", str(tmp_path / "scan.npy"), str(tmp_path / "p.zarr")]) == 2


def test_train_preprocesses_a_raw_scan_and_encode_repeats_it(tmp_path, capsys):
    X = _scan(tmp_path)
    model = tmp_path / "m"
    assert main(["train", str(tmp_path / "scan.npy"), "--out", str(model), "--epochs", "2",
                 "--hidden", "16", "--latent-dim", "1", "--crop", "20", "--bin", "2"]) == 0
    out = capsys.readouterr().out
    assert "preprocessed as symbreak analyze does (crop 20 px, bin 2" in out
    fitted = RotationalVAE.load(model)
    assert fitted.extra_["preprocessing"]["crop"] == 20
    assert fitted.extra_["preprocessing"]["bin"] == 2
    assert not (tmp_path / "m.checkpoints").exists()
    # encode the raw file: preprocessed with the model's settings, so the latents equal
    # those of the file that `symbreak preprocess` writes with the same settings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ZarrUserWarning or other noise
        assert main(["encode", str(tmp_path / "scan.npy"), "--model", str(model),
                     "--out", str(tmp_path / "raw.zarr")]) == 0
    assert main(["preprocess", str(tmp_path / "scan.npy"), str(tmp_path / "p.zarr"),
                 "--crop", "20", "--bin", "2"]) == 0
    assert main(["encode", str(tmp_path / "p.zarr"), "--model", str(model),
                 "--out", str(tmp_path / "pre.zarr")]) == 0
    raw, pre = xr.open_zarr(tmp_path / "raw.zarr"), xr.open_zarr(tmp_path / "pre.zarr")
    assert raw.latent_z.shape == (1, 8, 10)
    np.testing.assert_allclose(raw.latent_z.values, pre.latent_z.values, atol=1e-5)
    # a preprocessed file is trained on as it is: 10 x 10 px patterns, not cropped again
    capsys.readouterr()
    assert main(["train", str(tmp_path / "p.zarr"), "--out", str(tmp_path / "m2"),
                 "--epochs", "1", "--hidden", "16", "--latent-dim", "1"]) == 0
    assert "preprocessed as" not in capsys.readouterr().out
    assert RotationalVAE.load(tmp_path / "m2").extra_["preprocessing"]["bin"] == 2


@pytest.mark.parametrize("argv, dest, value", [
    (["analyse", "x.npy", "--out", "o"], "command", "analyse"),
    (["demo"], "out", "demo-output"),
])
def test_cli_seams(argv, dest, value):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert args.func.__module__ in ("symbreak.cli.analyze", "symbreak.cli.demo")


def test_demo_help_states_the_epochs_it_uses(capsys):
    from symbreak.cli.demo import VAE_EPOCHS

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert f"(default: {VAE_EPOCHS}, with early stopping)" in capsys.readouterr().out
