"""Jupyter display: the Dataset4D summary and progress bars in a kernel."""

import base64
import io
import re
import sys
import types

import dask.array as da
import numpy as np
import pytest
from matplotlib.image import imread

from symbreak import progress
from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D


def spot_data(k=16, spot=(3, 12)):
    array = np.full((4, 5, k, k), 1.0, dtype=np.float32)
    array[:, :, spot[0], spot[1]] = 100.0
    return Dataset4D(array, Calibration(energy=60e3, semiangle=20.0))


def test_dataset_html_in_memory_has_a_mean_pattern_thumbnail():
    html = spot_data()._repr_html_()
    assert "4 x 5 probe positions" in html and "16 x 16 px" in html and "float32" in html
    assert "60000 eV" in html and "20 mrad" in html and "in memory" in html
    (png,) = re.findall(r"data:image/png;base64,([^']+)", html)
    image = imread(io.BytesIO(base64.b64decode(png)))[..., :3].sum(axis=-1)
    y, x = np.unravel_index(np.argmax(image), image.shape)
    # the bright pixel (3, 12) of a 16 x 16 pattern, drawn 120 px wide
    assert abs(y - 3.5 * 120 / 16) <= 120 / 16 and abs(x - 12.5 * 120 / 16) <= 120 / 16


def test_dataset_html_lazy_reads_nothing():
    data = spot_data()
    lazy = Dataset4D(da.from_array(data.array, chunks=(2, 5, 16, 16)), data.calibration)
    html = lazy._repr_html_()
    assert "lazy (dask, chunks (2, 5, 16, 16))" in html and "<img" not in html


@pytest.fixture
def kernel(monkeypatch):
    """A stand-in IPython module whose shell was started by IPKernelApp."""
    shell = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.delenv("SYMBREAK_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)


def test_progress_on_in_a_notebook_by_default(kernel, monkeypatch):
    assert progress.in_notebook() and progress.enabled()
    assert progress.enabled(False) is False
    monkeypatch.setenv("SYMBREAK_PROGRESS", "0")
    assert not progress.enabled()


def test_progress_off_in_a_plain_ipython_or_script(monkeypatch):
    shell = types.SimpleNamespace(config={"TerminalIPythonApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.delenv("SYMBREAK_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not progress.in_notebook() and not progress.enabled()
    monkeypatch.delitem(sys.modules, "IPython")
    assert not progress.in_notebook()
