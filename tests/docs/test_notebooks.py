"""The tutorials in docs/notebooks execute from top to bottom (nbclient, in a temporary
folder) and show what they promise: the Dataset4D summary, progress bars, figures, and a
report written by the last cell."""

import json
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is a test dependency: "
                               "pip install -e '.[test]'")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "docs" / "notebooks"
NAMES = ["01_quick_start", "02_your_own_file", "03_rrvae_api"]


@pytest.fixture(autouse=True)
def kernel_environment(monkeypatch):
    """The kernel inherits the environment: run it as a user's (progress bars on, the
    inline backend), not with the test suite's SYMBREAK_PROGRESS=0 and MPLBACKEND=Agg."""
    monkeypatch.delenv("SYMBREAK_PROGRESS", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)


def execute(name, folder):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def outputs(notebook):
    """(cell source, output) pairs of the code cells."""
    return [(cell.source, out) for cell in notebook.cells if cell.cell_type == "code"
            for out in cell.get("outputs", [])]


def test_notebooks_are_stored_without_outputs():
    for name in NAMES:
        notebook = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
        assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
def test_quick_start(tmp_path):
    found = outputs(execute("01_quick_start", tmp_path))
    html = [o["data"]["text/html"] for _, o in found if "text/html" in o.get("data", {})]
    assert any("symbreak.Dataset4D" in h and "24 x 24 probe positions" in h for h in html)
    bars = [o.get("text", "") + o.get("data", {}).get("text/plain", "")
            for s, o in found if "analyze(" in s and o["output_type"] != "execute_result"]
    # progress bars by default in a kernel: widgets (ipywidgets) or text on stderr
    assert any(b.startswith("rrVAE:") and "epoch" in b for b in bars), bars
    assert sum("image/png" in o.get("data", {}) for _, o in found) >= 3
    assert "fraction of incident beam 0.9" in "".join(o.get("text", "") for _, o in found)
    assert (tmp_path / "quick-start" / "report.html").stat().st_size > 100_000


@pytest.mark.slow
def test_your_own_file(tmp_path):
    found = outputs(execute("02_your_own_file", tmp_path))
    assert (tmp_path / "my-scan.h5").exists()
    assert (tmp_path / "my-scan-analysis" / "report.html").exists()
    assert any("image/png" in o.get("data", {}) for _, o in found)


@pytest.mark.slow
def test_rrvae_api(tmp_path):
    found = outputs(execute("03_rrvae_api", tmp_path))
    text = "".join(o.get("text", "") for _, o in found)
    spread = float(text.split("angle latent - COM angle [rad]:")[1].split()[0])
    assert spread < 1.0  # the angle latent follows the COM direction
    assert "(5, 5, 32, 32)" in "".join(o.get("data", {}).get("text/plain", "") for _, o in found)
