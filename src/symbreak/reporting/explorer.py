"""The report's pattern explorer: point at any scan map of the page (mouse move; a click
pins the position) and a panel shows the preprocessed diffraction pattern at that probe
position and its rrVAE reconstruction; a cross-hair marks the position on every map.

Everything is in the one HTML file: the 8-bit patterns of the explorer stage
(:mod:`symbreak.analysis.explorer_stage`), zlib-compressed and base64-encoded, are
decoded by a few lines of hand-written JavaScript (the browser's own
``DecompressionStream``) onto canvases. Map figures mark their scan-map axes with the
gid :data:`SCAN_MAP`; :func:`scan_regions` records where those axes lie in the PNG.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps

from .markup import Html, html, json_script, trusted

SCAN_MAP = "scan-map"  # gid of matplotlib axes that show a map over the scan
PATTERN = "explorer_pattern"
RECONSTRUCTION = "explorer_reconstruction"
COLOUR_MAP = "magma"


def scan_regions(fig: Any) -> list[dict[str, list[float]]]:
    """Where the scan maps of a drawn figure lie in its image: for each axes with gid
    :data:`SCAN_MAP`, ``box`` = [left, top, right, bottom] as fractions of the image
    width/height (top down) and the data values [Å] at its edges: ``x`` = [left, right],
    ``y`` = [top, bottom]. Call after ``savefig`` (the layout is final then)."""
    out = []
    for ax in fig.axes:
        if ax.get_gid() != SCAN_MAP or not ax.get_visible():
            continue
        box = ax.get_position()
        (x0, x1), (y_bottom, y_top) = ax.get_xlim(), ax.get_ylim()
        out.append({"box": [round(float(v), 5) for v in (box.x0, 1 - box.y1, box.x1, 1 - box.y0)],
                    "x": [float(x0), float(x1)], "y": [float(y_top), float(y_bottom)]})
    return out


def present(results: xr.Dataset) -> bool:
    """True when the results hold the explorer stage's patterns."""
    return PATTERN in results


def lookup_table(name: str = COLOUR_MAP) -> np.ndarray:
    """(256, 3) uint8 RGB colours of the explorer's colour map."""
    rgb = colormaps[name](np.linspace(0, 1, 256))[:, :3]
    return np.round(rgb * 255).astype(np.uint8)


def _packed(values: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(values).tobytes(), 9)).decode()


def explorer_data(results: xr.Dataset) -> dict[str, Any]:
    """What the page's script needs: shapes, positions [Å], scale and packed patterns."""
    p = results[PATTERN]
    ny, nx, ky, kx = p.shape
    ys, xs = results["explorer_y"].values, results["explorer_x"].values
    data = {
        "ny": ny, "nx": nx, "ky": ky, "kx": kx,
        "y": [float(v) for v in ys], "x": [float(v) for v in xs],
        "stride": int(p.attrs.get("stride", 1)), "low": float(p.attrs["low"]),
        "high": float(p.attrs["high"]),
        "unit": str(results["explorer_y"].attrs.get("units", results["scan_y"].attrs.get(
            "units", "px"))),
        "lut": base64.b64encode(lookup_table().tobytes()).decode(),
        "pattern": _packed(p.values.astype(np.uint8)),
        "reconstruction": (_packed(results[RECONSTRUCTION].values.astype(np.uint8))
                           if RECONSTRUCTION in results else None),
    }
    return data


def _ordinal(n: int) -> str:
    return f"{n}{'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def explorer_html(results: xr.Dataset) -> Html:
    """The section's text, the floating probe panel, the data and the script."""
    if not present(results):
        return html('<p class="missing">no explorer patterns in these results (they are '
                    'written by symbreak analyze 0.1 and later)</p>')
    data = explorer_data(results)
    ny, nx = results.sizes["scan_y"], results.sizes["scan_x"]
    stride = data["stride"]
    kept = (f"every probe position ({ny} x {nx})" if stride == 1 else
            f"every {_ordinal(stride)} probe position in y and x ({data['ny']} x "
            f"{data['nx']} of {ny} x {nx}; the pattern shown is the one at the stored "
            "position nearest to the pointer)")
    size = len(data["pattern"]) + len(data["reconstruction"] or "")
    missing = "" if data["reconstruction"] else "; no reconstructions (no rrVAE in these results)"
    text = html(
        "<p>Point at any map of this page (BF/ADF, COM, PCA scores, rrVAE latents, symmetry "
        "scores): the panel at the bottom right shows the preprocessed diffraction pattern at "
        "that probe position (the rrVAE's input: cropped, mean-subtracted, scaled to [0, 1]) "
        "and the rrVAE's reconstruction of it, on one common colour scale; a cross-hair marks "
        "the position on every map. Click to pin the position, click again to follow the "
        "pointer.</p><p>Stored: {}, 8 bits per pixel, {:.1f} MB in this page{}.</p>",
        kept, size / 2**20, missing)
    return text + PANEL + json_script(data, "sb-explorer-data") + SCRIPT


STYLE = trusted("""
.sb-map{position:relative;display:inline-block;max-width:100%;vertical-align:top}
.sb-map img{cursor:crosshair}
.sb-overlay{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
#sb-probe{position:fixed;right:14px;bottom:14px;background:#fff;border:1px solid #c9cfdb;
border-radius:8px;padding:8px 10px;box-shadow:0 4px 14px rgba(0,0,0,.18);z-index:5;
font-size:12px;max-width:380px}
#sb-probe canvas{width:170px;height:170px;image-rendering:pixelated;border:1px solid #ccd}
#sb-probe figure{display:inline-block;margin:0 4px 0 0}#sb-probe figcaption{margin:0}
#sb-probe .sb-close{float:right;cursor:pointer;border:0;background:none;font-size:15px}
""")

PANEL = trusted("""<div id="sb-probe" hidden><button class="sb-close" title="close">&times;</button>
<div id="sb-position">point at a map</div>
<figure><canvas id="sb-pattern"></canvas><figcaption>pattern (preprocessed)</figcaption></figure>
<figure><canvas id="sb-reconstruction"></canvas><figcaption>rrVAE reconstruction</figcaption>
</figure><div id="sb-scale"></div></div>""")

SCRIPT = trusted(r"""<script>(function () {
var D = JSON.parse(document.getElementById('sb-explorer-data').textContent);
function bytes(b64) { var s = atob(b64), a = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return a; }
function inflate(b64) { if (!b64) return Promise.resolve(null);
  var stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); }); }
var lut = bytes(D.lut), stacks = null, pinned = false, current = null;
var panel = document.getElementById('sb-probe'), npx = D.ky * D.kx;
document.getElementById('sb-scale').textContent = 'colour scale (both): ' +
  D.low.toPrecision(3) + ' (black) to ' + D.high.toPrecision(3) + ' (white), dimensionless';
panel.querySelector('.sb-close').onclick = function () { panel.hidden = true; pinned = false; };
function nearest(values, v) { var best = 0;
  for (var i = 1; i < values.length; i++)
    if (Math.abs(values[i] - v) < Math.abs(values[best] - v)) best = i;
  return best; }
function draw(id, stack, k) { var c = document.getElementById(id); c.width = D.kx; c.height = D.ky;
  var ctx = c.getContext('2d'), img = ctx.createImageData(D.kx, D.ky);
  for (var i = 0; i < npx; i++) { var q = stack ? stack[k * npx + i] : 0;
    img.data[4 * i] = lut[3 * q]; img.data[4 * i + 1] = lut[3 * q + 1];
    img.data[4 * i + 2] = lut[3 * q + 2]; img.data[4 * i + 3] = stack ? 255 : 0; }
  ctx.putImageData(img, 0, 0); }
function crosshairs() { document.querySelectorAll('.sb-map').forEach(function (m) {
  var img = m.querySelector('img'), c = m.querySelector('canvas');
  c.width = img.clientWidth; c.height = img.clientHeight;
  c.style.width = c.width + 'px'; c.style.height = c.height + 'px';
  var ctx = c.getContext('2d'); ctx.clearRect(0, 0, c.width, c.height);
  if (!current) return;
  JSON.parse(img.dataset.maps).forEach(function (r) {
    var fx = r.box[0] + (current.x - r.x[0]) / (r.x[1] - r.x[0]) * (r.box[2] - r.box[0]);
    var fy = r.box[1] + (current.y - r.y[0]) / (r.y[1] - r.y[0]) * (r.box[3] - r.box[1]);
    var px = fx * c.width, py = fy * c.height;
    ctx.beginPath(); ctx.moveTo(r.box[0] * c.width, py); ctx.lineTo(r.box[2] * c.width, py);
    ctx.moveTo(px, r.box[1] * c.height); ctx.lineTo(px, r.box[3] * c.height);
    ctx.strokeStyle = 'rgba(0,0,0,0.7)'; ctx.lineWidth = 3; ctx.stroke();
    ctx.strokeStyle = pinned ? '#00e5ff' : '#ffffff'; ctx.lineWidth = 1.2; ctx.stroke();
    ctx.strokeRect(px - 4, py - 4, 8, 8); }); }); }
function show(x, y) { if (!stacks) return;
  var iy = nearest(D.y, y), ix = nearest(D.x, x), k = iy * D.nx + ix;
  current = {x: D.x[ix], y: D.y[iy], row: iy * D.stride, column: ix * D.stride};
  draw('sb-pattern', stacks[0], k); draw('sb-reconstruction', stacks[1], k);
  var pos = document.getElementById('sb-position');
  pos.textContent = 'probe at x = ' + current.x.toFixed(2) + ' ' + D.unit + ', y = ' +
    current.y.toFixed(2) + ' ' + D.unit + ' (scan row ' + current.row + ', column ' +
    current.column + ')' + (pinned ? ', pinned' : '');
  pos.dataset.row = current.row; pos.dataset.column = current.column;
  panel.hidden = false; crosshairs(); }
function locate(img, e) { var b = img.getBoundingClientRect();
  var fx = (e.clientX - b.left) / b.width, fy = (e.clientY - b.top) / b.height;
  var maps = JSON.parse(img.dataset.maps);
  for (var i = 0; i < maps.length; i++) { var r = maps[i];
    if (fx >= r.box[0] && fx <= r.box[2] && fy >= r.box[1] && fy <= r.box[3])
      return {x: r.x[0] + (fx - r.box[0]) / (r.box[2] - r.box[0]) * (r.x[1] - r.x[0]),
              y: r.y[0] + (fy - r.box[1]) / (r.box[3] - r.box[1]) * (r.y[1] - r.y[0])}; }
  return null; }
function listen() { document.querySelectorAll('.sb-map img').forEach(function (img) {
  img.addEventListener('mousemove', function (e) { var p = locate(img, e);
    if (p && !pinned) show(p.x, p.y); });
  img.addEventListener('click', function (e) { var p = locate(img, e); if (!p) return;
    pinned = !pinned; show(p.x, p.y); }); }); }
window.addEventListener('resize', crosshairs);
var parsed = new Promise(function (done) { if (document.readyState !== 'loading') done();
  else document.addEventListener('DOMContentLoaded', done); });
Promise.all([inflate(D.pattern), inflate(D.reconstruction), parsed]).then(function (s) {
  stacks = s; listen(); document.body.dataset.explorer = 'ready'; });
})();</script>""")
