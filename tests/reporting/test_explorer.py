"""The report's pattern explorer in headless Chromium, driven by real pointer events
(CDP ``Input.dispatchMouseEvent``): pointing at a probe position on a map must draw the
stored pattern of that position (pixel by pixel, through the colour map) and its
reconstruction, name the position, and put a cross-hair on the other maps."""

import json

import numpy as np
import pytest
import xarray as xr

from symbreak.reporting import explorer

from .cdp import Chromium
from .conftest import NX, NY, STRIDE
from .test_browser import FLAGS, chromium

MAP = "#{} .sb-map img"
GEOMETRY = """(function () {{ var img = document.querySelector('{sel}');
  img.scrollIntoView({{block: 'center'}}); var b = img.getBoundingClientRect();
  return {{left: b.left, top: b.top, width: b.width, height: b.height,
          maps: JSON.parse(img.dataset.maps)}}; }})()"""
PIXELS = """(function () {{ var c = document.getElementById('{id}');
  return {{w: c.width, h: c.height,
          rgba: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)}};
}})()"""


@pytest.fixture(scope="module")
def page(results_dir, tmp_path_factory):
    browser = Chromium(chromium(), FLAGS, str(tmp_path_factory.mktemp("profile")))
    try:
        browser.open((results_dir / "report.html").as_uri())
        browser.wait_for("document.body && document.body.dataset.explorer === 'ready'")
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def results(results_dir):
    with xr.open_zarr(results_dir / "results.zarr") as r:
        return r.load()


def client_point(geometry, results, row, column, which=0):
    """Viewport position of the probe (row, column) on map ``which`` of an image, from
    the figure's recorded axes box and limits (not from the page's script)."""
    region = geometry["maps"][which]
    x, y = float(results.scan_x[column]), float(results.scan_y[row])
    (b0, b1, b2, b3), (x0, x1), (y0, y1) = region["box"], region["x"], region["y"]
    fx = b0 + (x - x0) / (x1 - x0) * (b2 - b0)
    fy = b1 + (y - y0) / (y1 - y0) * (b3 - b1)
    return geometry["left"] + fx * geometry["width"], geometry["top"] + fy * geometry["height"]


def drawn(page, canvas_id):
    out = page.evaluate(PIXELS.format(id=canvas_id))
    return np.array(out["rgba"], dtype=np.uint8).reshape(out["h"], out["w"], 4)


@pytest.mark.parametrize("row, column", [(6, 8), (0, 0), (NY - 2, NX - 2)])
def test_pointing_at_a_map_draws_that_positions_pattern(page, results, row, column):
    geometry = page.evaluate(GEOMETRY.format(sel=MAP.format("virtual-images")))
    assert len(geometry["maps"]) == 2  # BF and ADF
    page.mouse("mouseMoved", *client_point(geometry, results, row, column, which=1))
    position = page.evaluate("Object.assign({}, document.getElementById('sb-position').dataset)")
    assert (int(position["row"]), int(position["column"])) == (row, column)
    text = page.evaluate("document.getElementById('sb-position').textContent")
    assert f"x = {results.scan_x.values[column]:.2f} Å" in text
    lut = explorer.lookup_table()
    for name, canvas in ((explorer.PATTERN, "sb-pattern"),
                         (explorer.RECONSTRUCTION, "sb-reconstruction")):
        codes = results[name].values[row // STRIDE, column // STRIDE]
        image = drawn(page, canvas)
        np.testing.assert_array_equal(image[..., :3], lut[codes])
        assert (image[..., 3] == 255).all()


def test_maps_are_linked_by_a_crosshair(page, results):
    row, column = 4, 10
    source = page.evaluate(GEOMETRY.format(sel=MAP.format("virtual-images")))
    page.mouse("mouseMoved", *client_point(source, results, row, column))
    # the COM figure's overlay: the cross-hair passes through the same probe position
    com = page.evaluate(GEOMETRY.format(sel=MAP.format("com")))
    overlay = page.evaluate("""(function () { var c = document.querySelector('#com .sb-map canvas');
      var b = c.getBoundingClientRect();
      return {w: c.width, h: c.height, rect: [b.left, b.top, b.width, b.height],
              rgba: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)};
    })()""")
    # the overlay lies exactly on the image, one canvas pixel per CSS pixel
    np.testing.assert_allclose(overlay["rect"], [com["left"], com["top"], com["width"],
                                                 com["height"]], atol=0.5)
    assert (overlay["w"], overlay["h"]) == (round(com["width"]), round(com["height"]))
    alpha = np.array(overlay["rgba"], dtype=np.uint8).reshape(overlay["h"], overlay["w"], 4)[..., 3]
    for which in range(len(com["maps"])):
        x, y = client_point(com, results, row, column, which)
        px, py = int(round(x - com["left"])), int(round(y - com["top"]))
        box = com["maps"][which]["box"]
        assert alpha[py - 1:py + 2, px - 1:px + 2].max() > 0, which
        # ... and nowhere far from it inside the map, away from the two lines
        far_x = int((box[0] + 0.02) * com["width"]) if px > com["width"] * (box[0] + box[2]) / 2 \
            else int((box[2] - 0.02) * com["width"])
        far_y = int((box[1] + 0.02) * com["height"]) if py > com["height"] * (box[1] + box[3]) / 2 \
            else int((box[3] - 0.02) * com["height"])
        assert alpha[far_y, far_x] == 0, which


def test_click_pins_the_position(page, results):
    geometry = page.evaluate(GEOMETRY.format(sel=MAP.format("virtual-images")))
    page.mouse("mousePressed", *client_point(geometry, results, 2, 2))
    page.mouse("mouseReleased", *client_point(geometry, results, 2, 2))
    page.mouse("mouseMoved", *client_point(geometry, results, 8, 12))
    position = page.evaluate("Object.assign({}, document.getElementById('sb-position').dataset)")
    assert (int(position["row"]), int(position["column"])) == (2, 2)
    assert "pinned" in page.evaluate("document.getElementById('sb-position').textContent")
    page.mouse("mousePressed", *client_point(geometry, results, 8, 12))
    page.mouse("mouseReleased", *client_point(geometry, results, 8, 12))
    assert page.evaluate("document.getElementById('sb-position').dataset.row") == "8"


def test_nav_link_lands_on_its_section_heading(page):
    for anchor in ("summary", "com", "settings"):
        page.evaluate(f"location.hash = '#{anchor}'")
        tops = page.evaluate(f"""(function () {{
          var nav = document.querySelector('nav').getBoundingClientRect();
          var h = document.querySelector('#{anchor} h2').getBoundingClientRect();
          return [nav.bottom, h.top]; }})()""")
        assert tops[1] >= tops[0], (anchor, tops)
        assert tops[1] < tops[0] + 150, (anchor, tops)  # the heading, not what follows


def test_explorer_data_round_trip(results):
    """What the page embeds decodes to the stored codes (Python side of the format)."""
    import base64
    import zlib

    data = explorer.explorer_data(results)
    codes = np.frombuffer(zlib.decompress(base64.b64decode(data["pattern"])), dtype=np.uint8)
    np.testing.assert_array_equal(codes.reshape(results[explorer.PATTERN].shape),
                                  results[explorer.PATTERN].values)
    assert data["stride"] == STRIDE and json.dumps(data)


def test_every_overlay_lies_exactly_on_its_image(page, results):
    geometry = page.evaluate(GEOMETRY.format(sel=MAP.format("virtual-images")))
    page.mouse("mouseMoved", *client_point(geometry, results, 3, 3))  # draws every overlay
    rects = page.evaluate("""Array.from(document.querySelectorAll('.sb-map')).map(function (m) {
      var a = m.querySelector('img').getBoundingClientRect(),
          b = m.querySelector('canvas').getBoundingClientRect();
      return [m.closest('section').id, a.left, a.top, a.width, a.height,
              b.left, b.top, b.width, b.height]; })""")
    assert {r[0] for r in rects} >= {"virtual-images", "com", "pca", "rrvae", "angles", "patterns"}
    for section, *img_and_canvas in rects:
        np.testing.assert_allclose(img_and_canvas[4:], img_and_canvas[:4], atol=0.5,
                                   err_msg=section)
