"""Bad settings and bad output folders are rejected before any heavy work."""

import tomllib

import pytest

import symbreak
from symbreak.analysis import api, inputs
from symbreak.errors import OutputExistsError, SettingsError
from symbreak.storage.safe_output import mark
from symbreak.analysis.settings import AnalyzeSettings


@pytest.fixture
def no_heavy_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("heavy work started before the settings were checked")

    monkeypatch.setattr(api.pp, "mean_pattern", forbidden)
    monkeypatch.setattr(inputs, "in_memory", forbidden)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"crops": 10}, SettingsError, "unknown option.*crops"),
        ({"crop": -4}, SettingsError, "crop must be an integer >= 2, got -4"),
        ({"crop": 40}, SettingsError, "crop 40 px is larger than the patterns"),
        ({"latent_dim": 0}, SettingsError,
         "latent_dim must be an integer >= 1 and <= 1024, got 0"),
        ({"recipe": "fastest"}, SettingsError, "recipe"),
        ({"bf": (10, 5)}, SettingsError, "inner < outer"),
        ({"max_time": -1}, SettingsError, "max_time"),
    ],
)
def test_bad_options(scan, tmp_path, no_heavy_work, options, error, match):
    with pytest.raises(error, match=match):
        symbreak.analyze(scan, out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_output_folder_with_other_files(scan, tmp_path, no_heavy_work):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SettingsError, match="not written by symbreak"):
        symbreak.analyze(scan, out=tmp_path, overwrite=True)
    mark(tmp_path, "analyze")  # a folder of symbreak's that the user added a file to
    with pytest.raises(SettingsError, match=r"holds other files \(notes.txt\)"):
        symbreak.analyze(scan, out=tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_finished_results_need_overwrite(scan, tmp_path, no_heavy_work):
    (tmp_path / "results.zarr").mkdir()
    mark(tmp_path, "analyze")
    with pytest.raises(OutputExistsError, match="overwrite"):
        symbreak.analyze(scan, out=tmp_path)


def test_interrupted_run_needs_resume_or_overwrite(scan, tmp_path, no_heavy_work):
    (tmp_path / ".checkpoints").mkdir()
    mark(tmp_path, "analyze")
    with pytest.raises(OutputExistsError, match="resume"):
        symbreak.analyze(scan, out=tmp_path)


def test_config_files_toml_and_yaml(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text("[preprocess]\ncrop = 12\n[vae]\nepochs = 7\nrecipe = 'paper'\n")
    s = AnalyzeSettings.from_file(toml)
    assert (s.preprocess.crop, s.vae.epochs, s.vae.recipe) == (12, 7, "paper")
    yaml = tmp_path / "s.yaml"
    yaml.write_text("vae:\n  latent_dim: 3\nbf: [0, 20]\n")
    s = AnalyzeSettings.from_file(yaml)
    assert s.vae.latent_dim == 3 and s.detectors.bf == (0.0, 20.0)
    bad = tmp_path / "bad.toml"
    bad.write_text("[vae]\ncrop = 3\n")
    with pytest.raises(SettingsError, match="unknown option 'crop' in section \\[vae\\]"):
        AnalyzeSettings.from_file(bad)


def test_toml_round_trip():
    s = AnalyzeSettings.from_options(crop=20, bf=(0, 30), epochs=5, resize=16, max_time=9)
    assert AnalyzeSettings.from_mapping(tomllib.loads(s.to_toml())) == s


def test_cli_rejects_bad_option_with_one_line(scan, tmp_path, capsys):
    from symbreak.cli import main

    assert main(["analyze", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o"),
                 "--crop", "-3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "crop must be an integer >= 2, got -3" in err[0]


def test_with_data_defaults_derives_crop_and_detectors(scan):
    """with_data_defaults fills in what analyze derives from the data (measured on it by
    describe):
    the synthetic disk has a 9 mrad semi-angle at 1.5 mrad/px (6 px) on 24 px patterns
    centred at 11.5 px."""
    from symbreak import preprocess as pp
    from symbreak.analysis.plan import describe, with_data_defaults

    description = describe(scan, pp.mean_pattern(scan))
    filled = with_data_defaults(AnalyzeSettings(), description)
    assert filled.preprocess.crop == 14  # 1.16 x 12 px, rounded to even
    det = filled.detectors
    assert det.detector_units == "mrad" and det.bf == (0.0, 9.0)
    # ADF: outer = min(3 x 9, edge 11.5 px x 1.5) = 17.25; inner = min(13.5, mid 13.125)
    assert det.adf == (13.125, 17.25)
    # DF: from 1.1 x 9 mrad to 4 x the inscribed radius (17.25 mrad), past every corner
    assert det.df == (9.9, 69.0)
    given = AnalyzeSettings.from_options(crop=20, bf=(0, 5), detector_units="px")
    kept = with_data_defaults(given, description)
    assert (kept.preprocess.crop, kept.detectors.bf) == (20, (0.0, 5.0))
    assert kept.detectors.adf[1] == pytest.approx(11.5)  # the detector edge in px
