"""Nothing from results.zarr reaches report.html as markup (issue 22, item 6): a payload
in every attribute and name a results.zarr can hold, rendered by `symbreak report`,
leaves no element, attribute, comment or script of its own in the page; and the
report's source writes HTML only through :mod:`symbreak.reporting.markup`."""

import ast
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.analysis import schema as S
from symbreak.analysis import symmetry_stage as Y
from symbreak.reporting import markup
from symbreak.reporting.markup import Html, html, json_script

from .cdp import Chromium
from .test_browser import FLAGS, chromium

MARK = "window.__pwned=1"
PAYLOAD = (f"\"'><script>{MARK}</script><img src=x onerror=\"{MARK}\"><!--<script></script>-->"
           f"<svg onload={MARK}>\u2028$\\frac{{$&amp;")
NAME = f"<img src=x onerror={MARK}>"  # no '/': variable names are zarr paths
TEXT_ATTRS = ("units", "long_name", "description", "note", "statement")


def _json_payloads(results: xr.Dataset) -> dict[str, str]:
    settings = json.loads(results.attrs["settings"])
    settings["detectors"]["detector_units"] = PAYLOAD
    settings[PAYLOAD] = {PAYLOAD: PAYLOAD}
    fit = json.loads(results.attrs["rrvae_fit"])
    fit.update(reasons=PAYLOAD, advice=PAYLOAD, notes=PAYLOAD, stop_reason=PAYLOAD,
               epochs=PAYLOAD, explained_fraction=PAYLOAD)
    calibration = json.loads(results.attrs["calibration"])
    calibration["sources"] = {"scan_step": PAYLOAD}
    return {"settings": json.dumps(settings), "rrvae_fit": json.dumps(fit),
            "calibration": json.dumps(calibration),
            "timings": json.dumps({PAYLOAD: 1.0}), "versions": json.dumps({PAYLOAD: PAYLOAD}),
            "provenance": json.dumps([{PAYLOAD: PAYLOAD}])}


def payloaded(results: xr.Dataset) -> xr.Dataset:
    """``results`` with PAYLOAD in every text attribute, JSON attribute, key, map name and
    variable and coordinate name the report could show."""
    r = results.copy()
    for name in list(r.variables):
        r[name].attrs.update({a: PAYLOAD for a in TEXT_ATTRS})
    r.attrs.update({a: PAYLOAD for a in ("input_file", "input_checksum", "input_dtype",
                                         "created", "symbreak_version", "title")})
    r.attrs.update(_json_payloads(results))
    maps = [str(m) for m in r[Y.MAP_DIM].values]
    maps[maps.index("combined") - 1] = PAYLOAD
    r = r.assign_coords({Y.MAP_DIM: maps, NAME: ("payload", [1.0, 2.0])})
    distance = np.hypot(*np.meshgrid(r.scan_y - 1.5, r.scan_x - 2.0, indexing="ij"))
    return r.assign({S.TRUTH_DISTANCE_TO_DEFECT: (S.SCAN, distance, {"units": PAYLOAD}),
                     f"{S.TRUTH_PREFIX}{NAME}": ("payload", [0.0, 1.0]),
                     NAME: ("payload", [0.0, 1.0])})


@pytest.fixture(scope="module")
def page(analyzed, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("payload")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        payloaded(analyzed).to_zarr(folder / "results.zarr")
    return symbreak.report(folder)


class Elements(HTMLParser):
    """Every element, attribute, comment and text of a page, as the HTML5 parser sees
    them (html.parser follows its tokenizer for scripts, comments and attributes)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.comments, self.text, self.scripts = [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_comment(self, data):
        self.comments.append(data)

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def test_no_payload_becomes_markup(page, analyzed):
    parser = Elements()
    parser.feed(page.read_text(encoding="utf-8"))
    scripts = [a for t, a in parser.tags if t == "script"]
    assert scripts == [{"type": "application/json", "id": "sb-explorer-data"}, {}]
    assert not parser.comments
    assert not [t for t, _ in parser.tags if t == "svg"]
    assert not [(t, a) for t, a in parser.tags if any(k.startswith("on") for k in a)]
    images = [a for t, a in parser.tags if t == "img"]
    assert images and all(a["src"].startswith("data:image/png;base64,") for a in images)
    # the payload is there, as text: every place that shows it shows it whole
    text = "".join(parser.text)
    assert text.count(PAYLOAD) >= 12 and NAME.removeprefix("<") in text
    raw = parser.scripts[0]  # html.parser does not model <!--<script> inside a script
    assert not re.search(r"<!--|-->|<script|</script|\u2028|\u2029", raw, re.I)
    assert json.loads(raw)["unit"] == PAYLOAD  # lossless through the JSON escaping


def test_escaping_helpers():
    assert str(html("<b>{}</b>", "<i>&")) == "<b>&lt;i&gt;&amp;</b>"
    assert str(html('<a title="{}">', "\"'")) == '<a title="&quot;&#x27;">'
    assert str(html("<p>{:.2f} {}</p>", 1.234, html("<br>"))) == "<p>1.23 <br></p>"
    text = str(json_script({"u": "</script><!--\u2028&"}, "x"))
    assert "</script><!--" not in text[:-9] and "\u2028" not in text
    assert json.loads(text.split(">", 1)[1][:-9]) == {"u": "</script><!--\u2028&"}
    with pytest.raises(TypeError):
        html("<p>") + "<script>"
    with pytest.raises(TypeError):
        Html("<script>")
    with pytest.raises(ValueError):
        html("<script>{}</script>", "x")
    with pytest.raises(ValueError):
        html('<p style="color:{}">', "red")


TAG = re.compile(r"<\s*/?\s*[a-zA-Z!]")


def _markup_outside_helpers(path: Path) -> list[str]:
    """String literals with a tag that are not the template of ``html()`` or the
    argument of ``trusted()``, f-strings with a tag, and ``trusted()`` of anything but a
    literal, in one module."""
    tree = ast.parse(path.read_text())
    allowed = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("html", "trusted"):
            if node.args and isinstance(node.args[0], ast.Constant):
                allowed.add(id(node.args[0]))
            elif node.func.id == "trusted" or node.args:
                found.append(f"{path.name}:{node.lineno}: {node.func.id}() of a non-literal")
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for part in node.values:
                if isinstance(part, ast.Constant) and TAG.search(str(part.value)):
                    found.append(f"{path.name}:{node.lineno}: f-string with markup")
                allowed.add(id(part))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and TAG.search(node.value) and id(node) not in allowed
                and not _is_docstring(tree, node)):
            found.append(f"{path.name}:{node.lineno}: markup outside html()/trusted()")
    return found


def _is_docstring(tree, constant):
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and body[0].value is constant):
            return True
    return False


def test_markup_is_written_only_through_the_helpers():
    package = Path(markup.__file__).parent
    found = [f for path in sorted(package.glob("*.py")) if path.name != "markup.py"
             for f in _markup_outside_helpers(path)]
    assert found == []


def test_payload_runs_nothing_in_chromium(page, tmp_path):
    browser = Chromium(chromium(), FLAGS, str(tmp_path / "profile"))
    try:
        browser.open("about:blank")
        browser.send("Page.enable")
        browser.send("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__alerts = 0; window.alert = window.confirm = window.prompt = "
            "function () { window.__alerts += 1; };"))
        browser.send("Page.navigate", url=page.as_uri())
        browser.wait_for("document.body && document.body.dataset.explorer === 'ready'")
        found = browser.evaluate("""({pwned: window.__pwned === 1, alerts: window.__alerts,
          scripts: document.scripts.length,
          handlers: Array.from(document.querySelectorAll('*')).filter(function (e) {
            return Array.from(e.attributes).some(function (a) {
              return a.name.indexOf('on') === 0; }); }).length,
          svg: document.querySelectorAll('svg').length,
          foreign: Array.from(document.images).filter(function (i) {
            return i.src.indexOf('data:image/png;base64,') !== 0; }).length,
          unit: JSON.parse(document.getElementById('sb-explorer-data').textContent).unit,
          shown: document.body.textContent.split(%s).length - 1})""" % json.dumps(PAYLOAD))
    finally:
        browser.close()
    assert found == {"pwned": False, "alerts": 0, "scripts": 2, "handlers": 0, "svg": 0,
                     "foreign": 0, "unit": PAYLOAD, "shown": found["shown"]}
    assert found["shown"] >= 12
