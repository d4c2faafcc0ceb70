"""The report: every section with an embedded PNG, figures on disk, markers placed."""

import base64
import re

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv

import symbreak
from symbreak.errors import DataError
from symbreak.reporting import figures
from symbreak.reporting.html import SECTIONS

FIGURE_SECTIONS = [anchor for anchor, _, fig in SECTIONS if fig is not None]


def sections(text):
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', text, flags=re.S))


def test_every_section_has_its_image(results_dir):
    page = results_dir / "report.html"
    found = sections(page.read_text())
    assert list(found) == [a for a, _, _ in SECTIONS]
    for anchor in FIGURE_SECTIONS:
        (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', found[anchor])
        assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n", anchor
    assert "60000 eV" in found["summary"] and "fake.h5" in found["summary"]
    assert "pca_components" in found["settings"] and "crop" in found["settings"]
    stems = {p.stem for p in (results_dir / "figures").glob("*.png")}
    assert stems == {fig for _, _, fig in SECTIONS if fig is not None}


def test_report_is_offline(results_dir):
    text = (results_dir / "report.html").read_text()
    assert not re.search(r'(src|href)="(https?:|//|file:)', text)
    assert "<link" not in text
    # the explorer's own inline scripts only: nothing loaded from elsewhere
    assert re.findall(r"<script[^>]*>", text) == ['<script type="application/json" '
                                                 'id="sb-explorer-data">', "<script>"]


def test_report_regenerates_without_leftovers(results_dir):
    assert symbreak.report(results_dir) == results_dir / "report.html"
    assert sorted(p.name for p in results_dir.iterdir()) == ["figures", "report.html", "results.zarr"]


def test_missing_results_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="results.zarr does not exist"):
        symbreak.report(tmp_path)


def test_truth_markers_in_scan_frame(results_dir):
    import xarray as xr

    r = xr.open_zarr(results_dir / "results.zarr").load()
    markers = figures.truth_markers(r)
    # probes start at (x, y) = (10, 20) Å, the scan frame at (0, 0)
    np.testing.assert_allclose(markers["atoms"][:2], [[0.5, 0.5], [1.0, 1.5]])
    np.testing.assert_allclose(markers["defects"], [[1.7, 1.5]])


def test_com_colour_wheel_convention():
    angle = np.array([0.0, np.pi / 2, np.pi, -np.pi / 2])
    hsv = rgb_to_hsv(figures.com_colors(angle, np.ones(4)))
    np.testing.assert_allclose(hsv[:, 0], [0.0, 0.25, 0.5, 0.75], atol=1e-6)
    dark = figures.com_colors(np.zeros(2), np.array([0.0, 1.0]))
    assert dark[0].max() == 0 and dark[1].max() == pytest.approx(1.0)


def test_report_command_rebuilds_the_page(results_dir, capsys):
    from symbreak.cli import main

    page = results_dir / "report.html"
    page.write_text("stale")
    assert main(["report", str(results_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"report:  {page}"
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_report_command_on_a_folder_without_results(tmp_path, capsys):
    from symbreak.cli import main

    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.zarr does not exist" in err[0]
    assert not (tmp_path / "report.html").exists()
