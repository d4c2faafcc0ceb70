"""The estimator contract and the rejection of bad settings and data."""

import numpy as np
import pytest
from sklearn.base import clone

from symbreak import RotationalVAE
from symbreak.errors import DataError, SettingsError
from symbreak.vae.settings import RECIPES, fit_settings

X = np.random.default_rng(0).random((30, 8, 8)).astype(np.float32)


def test_init_only_stores_and_clone_works():
    model = RotationalVAE(latent_dim=0, recipe="nonsense")  # validated at fit, not here
    assert model.latent_dim == 0
    params = RotationalVAE(latent_dim=3, beta=0.5).get_params()
    assert clone(RotationalVAE(latent_dim=3, beta=0.5)).get_params() == params


@pytest.mark.parametrize("params, match", [
    (dict(latent_dim=0), "latent_dim must be an integer >= 1 and <= 1024, got 0"),
    (dict(latent_dim=1.5), "latent_dim"),
    (dict(recipe="atomai"), "recipe must be one of .*got 'atomai'"),
    (dict(encoder="transformer"), "encoder"),
    (dict(decoder="pixel"), "decoder"),
    (dict(likelihood="poisson"), "likelihood"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(batch_size=0), "batch_size"),
    (dict(epochs=0), "epochs"),
    (dict(rotation_prior=0), "rotation_prior"),
    (dict(beta=float("nan")), "beta"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(precision="int8"), "precision"),
    (dict(random_state=-1), "random_state"),
    (dict(early_stopping=0), "early_stopping"),
])
def test_bad_settings_are_rejected_at_fit(params, match):
    with pytest.raises(SettingsError, match=match):
        RotationalVAE(**params).fit(X)


def test_bad_data_is_rejected():
    with pytest.raises(DataError, match="3-D"):
        RotationalVAE().fit(X[0])
    bad = X.copy()
    bad[3, 2, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        RotationalVAE().fit(bad)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        RotationalVAE(likelihood="bernoulli").fit(X * 3)
    with pytest.raises(DataError, match="at least 2 patterns"):
        RotationalVAE().fit(X[:1])


def test_paper_recipe_is_the_notebook():
    s = fit_settings(RotationalVAE(recipe="paper").get_params())
    assert (s.encoder, s.decoder, s.angle_head, s.hidden, s.output) == (
        "mlp", "spatial", "linear", 128, "softplus")
    assert (s.learning_rate, s.batch_size, s.epochs, s.rotation_prior) == (1e-4, 20, 1000, 0.1)
    assert (s.consistency, s.early_stopping, s.likelihood, s.schedule) == (
        0.0, None, "gaussian", "constant")
    assert s.validation_fraction == 0.15 and s.random_state == 0
    assert set(RECIPES) == {"default", "paper"}


def test_default_recipe_learning_rate():
    """Adam 5e-4 in the default recipe: at 2e-3 the simulated graphene sets fell into the
    explain-nothing state (validation loss jumping back to ~0.5 x the stack's summed variance;
    graphene-cell's angle latent constant, Fisher-Lee 0.02 with the COM angle); at 5e-4 the
    angle followed the COM (0.98). Any explicit learning_rate still overrides it."""
    s = fit_settings(RotationalVAE().get_params())
    assert (s.learning_rate, s.batch_size, s.consistency, s.early_stopping) == (5e-4, 64, 0.2, 20)
    assert fit_settings(RotationalVAE(learning_rate=2e-3).get_params()).learning_rate == 2e-3


def test_not_fitted_and_shape_mismatch(fitted):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RotationalVAE().transform(X)
    with pytest.raises(DataError, match="do not match"):
        fitted.transform(X)
    with pytest.raises(DataError, match="z must have shape"):
        fitted.decode([0.1, 0.2, 0.3])


def test_other_likelihoods_and_encoder_run():
    data = np.clip(X, 0, 1)
    for kw in (dict(likelihood="bernoulli"), dict(likelihood="continuous_bernoulli"),
               dict(encoder="conv", decoder="spatial", output="linear")):
        model = RotationalVAE(epochs=2, hidden=16, **kw).fit(data)
        rec = model.reconstruct(data)
        assert np.isfinite(model.best_validation_loss_)
        if kw.get("likelihood"):
            assert rec.min() >= 0 and rec.max() <= 1


# config.json format version 1: the settings of a fit, in this order (saved models and
# the "settings" attribute of results.zarr depend on it)
SETTINGS_KEYS_V1 = [
    "latent_dim", "translation", "encoder", "decoder", "hidden", "output", "angle_head",
    "likelihood", "beta", "rotation_prior", "translation_prior", "recipe", "epochs",
    "batch_size", "learning_rate", "schedule", "warmup_epochs", "consistency",
    "validation_fraction", "early_stopping", "max_time", "device", "precision",
    "random_state", "n_threads", "angle_warmup", "cpu"]


def test_fit_settings_are_the_parameters_resolved():
    """FitSettings is derived from VAEParameters: every parameter of one fit, typed and
    filled from the recipe, keyed and ordered as config.json format 1."""
    from symbreak.vae.parameters import ESTIMATOR_ONLY, VAEParameters

    s = fit_settings(dict(recipe="paper", device="cpu", latent_dim=3))
    assert list(s.to_dict()) == SETTINGS_KEYS_V1
    own = [k for k in SETTINGS_KEYS_V1 if k not in ("schedule", "warmup_epochs", "cpu")]
    assert sorted(own) == sorted(set(VAEParameters.__dataclass_fields__) - set(ESTIMATOR_ONLY))
    paper = RECIPES["paper"]
    assert (s.latent_dim, s.decoder, s.angle_head, s.schedule, s.epochs) == (
        3, paper["decoder"], paper["angle_head"], paper["schedule"], paper["epochs"])
    with pytest.raises(TypeError):
        s["latent_dim"]  # attributes only: no string reads
    with pytest.raises(Exception, match="cannot assign"):
        s.latent_dim = 4  # frozen


def test_architecture_has_no_defaults_and_takes_the_recipes():
    """The network of a default fit is the default recipe's (rotate decoder, circular
    angle head), not values written a second time in Architecture."""
    import dataclasses

    from symbreak.vae.model import Architecture

    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Architecture))
    arch = Architecture.of(fit_settings(dict(device="cpu")), (16, 12))
    default = RECIPES["default"]
    assert (arch.pattern_shape, arch.decoder, arch.angle_head, arch.encoder) == (
        (16, 12), default["decoder"], default["angle_head"], default["encoder"])
    bernoulli = Architecture.of(fit_settings(dict(device="cpu", likelihood="bernoulli")), (8, 8))
    assert bernoulli.output == "linear"


@pytest.mark.parametrize("key, value", [("latent_dim", 0), ("latent_dim", 2000),
                                        ("hidden", 1), ("decoder", "pixel"),
                                        ("translation_prior", 0.0), ("translation", 1)])
def test_one_validator_per_parameter(key, value):
    """The estimator, the CLI and a model's config.json refuse a bad value with the same
    words: each parameter is validated in one place."""
    import argparse

    from symbreak.cli.options import add_settings_options, given
    from symbreak.errors import FormatError
    from symbreak.vae.model_config import check_config
    from symbreak.vae.parameters import VAEParameters

    with pytest.raises(SettingsError) as direct:
        VAEParameters(**{key: value})
    rule = str(direct.value).split(" must be ")[1]
    arch = dict(pattern_shape=[8, 8], latent_dim=2, translation=False, encoder="mlp",
                decoder="rotate", hidden=16, output="softplus", angle_head="circular",
                translation_prior=0.1)
    config = {"format": "symbreak.RotationalVAE", "format_version": 1,
              "architecture": dict(arch, **{key: value}), "settings": {}, "params": {},
              "data": {}}
    with pytest.raises(FormatError) as loaded:
        check_config(config, "m/config.json")
    assert f"architecture.{key} must be {rule}" in str(loaded.value)
    if key != "translation":  # a switch on the command line, never a value
        parser = argparse.ArgumentParser()
        add_settings_options(parser, VAEParameters)
        flag = "--" + key.replace("_", "-")
        with pytest.raises(SettingsError) as typed:
            given(parser.parse_args([flag, str(value)]), VAEParameters)
        assert f"{flag} must be {rule}" in str(typed.value)
