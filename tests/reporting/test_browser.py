"""Open report.html in headless Chromium: every section's image must decode and the
page must render (a non-blank screenshot). Skipped only when no Chromium can be found;
`make browser` installs Debian's `chromium` (as root)."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from symbreak.reporting.html import SECTIONS

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
# Appended to a copy of the page: reports, per section, how many images decoded.
CHECK = """<script>window.addEventListener('load', function () {
  var out = {};
  document.querySelectorAll('section').forEach(function (s) {
    var imgs = Array.prototype.slice.call(s.querySelectorAll('img'));
    out[s.id] = {images: imgs.length, decoded: imgs.filter(function (i) {
      return i.complete && i.naturalWidth > 0; }).length};
  });
  var pre = document.createElement('pre'); pre.id = 'image-check';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


def chromium():
    path = os.environ.get("SYMBREAK_CHROMIUM") or next(
        (p for p in map(shutil.which, CANDIDATES) if p), None)
    if path is None:
        pytest.skip("no Chromium found (looked for " + ", ".join(CANDIDATES) + "); install "
                    "it with `make browser` (apt-get install chromium, as root)")
    return path


def run_chromium(args, tmp_path):
    cmd = [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_every_section_renders_its_images(results_dir, tmp_path):
    page = tmp_path / "check.html"
    page.write_text((results_dir / "report.html").read_text().replace("</body>", CHECK + "</body>"))
    done = run_chromium(["--virtual-time-budget=10000", "--dump-dom", page.as_uri()], tmp_path)
    match = re.search(r'<pre id="image-check">(.*?)</pre>', done.stdout)
    assert match, f"Chromium did not run the check: {done.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"'))
    for anchor, _, figure in SECTIONS:
        assert anchor in found, anchor
        if figure is not None:
            assert found[anchor] == {"images": 1, "decoded": 1}, anchor


def test_screenshot_is_not_blank(results_dir, tmp_path):
    shot = tmp_path / "report.png"
    done = run_chromium(["--window-size=1280,1600", f"--screenshot={shot}",
                         (results_dir / "report.html").as_uri()], tmp_path)
    assert shot.exists(), done.stderr[-2000:]
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (1600, 1280)
    # a rendered page has figures: many distinct colours, not one flat background
    assert image.std() > 0.05
    assert len(np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 500
