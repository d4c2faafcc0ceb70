"""`symbreak train` and `symbreak encode` end to end on small .npy files."""

import numpy as np
import xarray as xr

from symbreak import RotationalVAE
from symbreak.cli import main
from vae_synthetic import dipole_patterns


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return dipole_patterns(rng.uniform(-np.pi, np.pi, n), rng.uniform(0, 1, n), size=16)


def test_train_then_encode(tmp_path, capsys):
    X = _data().reshape(10, 12, 16, 16)
    np.save(tmp_path / "scan.npy", X)
    model_dir = tmp_path / "model"
    rc = main(["train", str(tmp_path / "scan.npy"), "--out", str(model_dir), "--epochs", "2",
               "--latent-dim", "1", "--hidden", "16", "--no-preprocess"])
    assert rc == 0 and "validation loss" in capsys.readouterr().out
    assert (model_dir / "model.safetensors").is_file()
    assert not (tmp_path / "model.checkpoints").exists()  # a finished run keeps none
    rc = main(["encode", str(tmp_path / "scan.npy"), "--model", str(model_dir),
               "--out", str(tmp_path / "latents.zarr")])
    assert rc == 0
    saved = xr.open_zarr(tmp_path / "latents.zarr")
    expected = RotationalVAE.load(model_dir).transform(X)
    assert saved.latent_angle.dims == ("scan_y", "scan_x")
    np.testing.assert_array_equal(saved.latent_angle.values, expected.latent_angle.values)
    np.testing.assert_array_equal(saved.latent_z.values, expected.latent_z.values)
    # existing outputs are never overwritten without --overwrite
    rc = main(["encode", str(tmp_path / "scan.npy"), "--model", str(model_dir),
               "--out", str(tmp_path / "latents.zarr")])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_train_resume_and_errors(tmp_path, capsys):
    np.save(tmp_path / "stack.npy", _data())
    out = tmp_path / "m"
    args = ["train", str(tmp_path / "stack.npy"), "--out", str(out), "--epochs", "2",
            "--hidden", "16", "--latent-dim", "1", "--checkpoint-dir", str(tmp_path / "ck")]
    assert main(args) == 0
    assert main(args + ["--overwrite", "--epochs", "3", "--resume"]) == 0
    assert RotationalVAE.load(out).n_epochs_ == 3
    assert main(["train", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "x")]) == 2
    assert main(["train", str(tmp_path / "stack.npy"), "--out", str(tmp_path / "y"),
                 "--latent-dim", "0"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "--latent-dim must be an integer >= 1 and <= 1024, got 0" in err
    assert not (tmp_path / "y").exists()


def test_a_checkpoint_in_a_named_folder_is_never_replaced(tmp_path, capsys):
    """A new run (no --resume) refuses a --checkpoint-dir that holds a checkpoint, also an
    attempt's, and leaves the file and --out alone; --resume continues it."""
    np.save(tmp_path / "stack.npy", _data())
    ck = tmp_path / "ck"
    (ck / "attempt-1").mkdir(parents=True)
    for path in (ck / "checkpoint.pt", ck / "attempt-1" / "checkpoint.pt"):
        args = ["train", str(tmp_path / "stack.npy"), "--out", str(tmp_path / "m"), "--epochs",
                "1", "--hidden", "16", "--latent-dim", "1", "--checkpoint-dir", str(ck)]
        path.write_bytes(b"the user's own file")
        assert main(args) == 2
        err = capsys.readouterr().err
        assert str(path) in err and "--resume" in err and "Traceback" not in err
        assert path.read_bytes() == b"the user's own file"
        assert not (tmp_path / "m").exists()
        path.unlink()
    assert main(args) == 0
    written = (ck / "checkpoint.pt").read_bytes()
    assert main(args + ["--overwrite"]) == 2  # a finished run's checkpoint: kept as well
    assert (ck / "checkpoint.pt").read_bytes() == written
    assert main(args + ["--overwrite", "--resume", "--epochs", "2"]) == 0


def test_train_prints_verdict_and_strict_fails_on_a_failed_fit(tmp_path, capsys):
    """Noise has nothing to explain: the fit is judged failed, printed as such, and
    --strict turns it into exit status 3 (the model is still written for inspection)."""
    np.save(tmp_path / "noise.npy",
            np.random.default_rng(0).random((120, 16, 16)).astype(np.float32))
    args = ["train", str(tmp_path / "noise.npy"), "--epochs", "3", "--hidden", "16",
            "--latent-dim", "1", "--restarts", "0"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "fit quality: FAILED" in out and "stopped: epochs after 3 epochs" in out
    assert main(args + ["--out", str(tmp_path / "b"), "--strict"]) == 3
    assert "not a result" in capsys.readouterr().err
    assert RotationalVAE.load(tmp_path / "b").diagnostics_.verdict == "failed"
