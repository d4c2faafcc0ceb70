"""Save/load as data, refusal of pickles, checkpoints and resume after SIGKILL."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from symbreak import RotationalVAE
from symbreak.errors import FormatError, OutputExistsError, SettingsError
from symbreak.vae.train import CHECKPOINT, read_checkpoint
from vae_synthetic import train_dipoles


class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_save_load_gives_identical_latents(fitted, dipole_set, tmp_path):
    folder = tmp_path / "model"
    fitted.save(folder, extra={"crop": 32, "normalise": "minmax"})
    # the weights, the configuration and symbreak's marker and proof (which let
    # --overwrite replace the folder)
    assert sorted(os.listdir(folder)) == [".symbreak-output", ".symbreak-owner.json",
                                          "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["extra"] == {"crop": 32, "normalise": "minmax"}
    assert config["data"]["pattern_shape"] == [32, 32]
    assert "torch" in config["versions"] and config["settings"]["recipe"] == "default"
    loaded = RotationalVAE.load(folder)
    a, b = fitted.transform(dipole_set["X"]), loaded.transform(dipole_set["X"])
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert loaded.get_params() == fitted.get_params()
    with pytest.raises(OutputExistsError):
        fitted.save(folder)
    fitted.save(folder, overwrite=True)


def test_model_of_older_format_loads_with_typed_settings(fitted, dipole_set, tmp_path):
    """config.json files written before n_threads, angle_warmup and cpu were recorded
    still load; the settings are attributes, those three take the old fits' values."""
    folder = tmp_path / "model"
    fitted.save(folder)
    config = json.loads((folder / "config.json").read_text())
    assert list(config["settings"]) == list(fitted.settings_.to_dict())
    assert config["settings"] == json.loads(json.dumps(fitted.settings_.to_dict()))
    for key in ("n_threads", "angle_warmup", "cpu"):
        del config["settings"][key]
    (folder / "config.json").write_text(json.dumps(config))
    loaded = RotationalVAE.load(folder, device="cpu")
    s = loaded.settings_
    assert (s.n_threads, s.angle_warmup, s.cpu) == (None, 0, None)
    assert s.latent_dim == fitted.latent_dim and s.decoder == fitted.settings_.decoder
    a, b = fitted.transform(dipole_set["X"]), loaded.transform(dipole_set["X"])
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert json.loads(b.attrs["settings"])["angle_warmup"] == 0


def test_pickle_disguised_as_model_is_refused(fitted, tmp_path):
    folder = tmp_path / "model"
    fitted.save(folder)
    marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"w": _Payload(str(marker))}))
    with pytest.raises(FormatError, match="never unpickles"):
        RotationalVAE.load(folder)
    assert not marker.exists()


def test_pickle_disguised_as_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / CHECKPOINT
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(FormatError, match="never unpickles"):
        read_checkpoint(path)
    assert not marker.exists()
    model = RotationalVAE(epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(FormatError):
        model.fit(np.random.default_rng(0).random((20, 8, 8)), resume=True)
    assert not marker.exists()


def test_load_rejects_foreign_folders(tmp_path):
    with pytest.raises(FormatError, match="not a model folder"):
        RotationalVAE.load(tmp_path / "missing")
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(FormatError, match="not a symbreak"):
        RotationalVAE.load(tmp_path)


def test_resume_needs_matching_checkpoint(tmp_path):
    X = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    with pytest.raises(SettingsError, match="no checkpoint"):
        RotationalVAE(epochs=1, checkpoint_dir=tmp_path).fit(X, resume=True)
    RotationalVAE(epochs=1, checkpoint_dir=tmp_path).fit(X)
    with pytest.raises(SettingsError, match="another model"):
        RotationalVAE(epochs=1, latent_dim=3, checkpoint_dir=tmp_path).fit(X, resume=True)


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from symbreak import RotationalVAE
    X = np.load(sys.argv[1])
    RotationalVAE(latent_dim=1, epochs={epochs}, early_stopping=None,
                  checkpoint_dir=sys.argv[2]).fit(X)
""")


@pytest.mark.slow  # 16 s of training in a child process
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    epochs = 12
    reference, X = train_dipoles(latent_dim=1, epochs=epochs, early_stopping=None, n=400)
    np.save(tmp_path / "X.npy", X)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(epochs=epochs))
    ckpt = tmp_path / "ckpt"
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "X.npy"), str(ckpt)])
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and child.poll() is None:
        if (ckpt / CHECKPOINT).exists():
            done = len(read_checkpoint(ckpt / CHECKPOINT)["history"])
            if done >= 3:
                break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 3 <= done < epochs, f"child finished {done} epochs before the kill"
    resumed = RotationalVAE(latent_dim=1, epochs=epochs, early_stopping=None,
                            checkpoint_dir=ckpt).fit(X, resume=True)
    assert resumed.n_epochs_ == epochs
    ref, got = reference.history_[-1]["val_loss"], resumed.history_[-1]["val_loss"]
    assert abs(got - ref) <= 0.02 * abs(ref)
    assert not [p for p in os.listdir(ckpt) if p.endswith(".tmp")]
