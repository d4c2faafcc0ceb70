"""`symbreak report` on an edited results.zarr: a correct report or one line naming what
is wrong, never a traceback, and nothing left behind on failure (issue 22, item 11).

Every case starts from the results of a real `symbreak analyze` run (the session
fixture ``analyzed``), changes one thing and writes it as a new results.zarr.
"""

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symbreak
from symbreak.cli import main
from symbreak.errors import SymbreakError


def write(results: xr.Dataset, folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results.to_zarr(folder / "results.zarr", mode="w")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_attr(name, value):
    return lambda r: r.assign_attrs({name: value})


def with_json_key(attr, key, value):
    def change(r):
        try:
            record = json.loads(r.attrs[attr])
        except (KeyError, TypeError, ValueError):  # an earlier edit took it away
            return r
        if not isinstance(record, dict):
            return r
        record[key] = value
        return r.assign_attrs({attr: json.dumps(record)})
    return change


def with_variable(name, values, dims=None):
    return lambda r: r.assign({name: (dims or r[name].dims, values(r[name].values))})


def scan_of(ny, nx):
    def change(r):
        return r.isel(scan_y=slice(0, ny), scan_x=slice(0, nx), explorer_y=slice(0, ny),
                      explorer_x=slice(0, nx))
    return change


# the 14 cases of issue 22, item 11: (id, change, "refused" or "reported")
CASES = [
    ("unknown verdict", with_json_key("rrvae_fit", "verdict", "splendid"), "rrvae_fit"),
    ("timings as strings", with_attr("timings", json.dumps({"COM": "fast"})), "timings"),
    ("settings as a JSON list", with_attr("settings", "[1, 2]"), "settings"),
    ("adf dropped", lambda r: r.drop_vars("adf"), None),
    ("empty dataset", lambda r: xr.Dataset(), "scan_y"),
    ("bf as strings", with_variable("bf", lambda v: v.astype(str)), "'bf'"),
    ("bf complex", with_variable("bf", lambda v: v + 1j), "'bf'"),
    ("threshold as a string", lambda r: r.assign(symmetry_threshold=((), "high")),
     "symmetry_threshold"),
    ("explorer low as a string", lambda r: r.assign(
        explorer_pattern=r.explorer_pattern.assign_attrs(low="0.1")), "low"),
    ("anomaly scores as strings", lambda r: r.assign(symmetry_anomaly_score=(
        "anomaly", np.array([], dtype=str))), "symmetry_anomaly_score"),
    ("deeply nested settings", with_attr("settings", json.dumps({"a": json.loads(nested(500))})),
     "settings"),
    ("deeply nested fit JSON", with_attr("rrvae_fit", '{"verdict": "ok", "x": '
                                         + nested(100000) + "}"), "rrvae_fit"),
    ("zero-length scan", scan_of(0, 0), "scan_y"),
    ("1 x 1 scan", scan_of(1, 1), None),
]


# the cases that end in a drawn report take a report's time: the slow suite runs them
# and so do half of the refused ones (each writes a store and starts a report)
DEFAULT_CASES = {"unknown verdict", "bf complex", "deeply nested fit JSON", "zero-length scan",
                 "explorer low as a string", "settings as a JSON list"}
PARAMS = [pytest.param(*c[1:], id=c[0],
                       marks=[] if c[0] in DEFAULT_CASES else [pytest.mark.slow])
          for c in CASES]


@pytest.mark.parametrize("change, refused", PARAMS)
def test_tampered_results_give_one_line_or_a_report(analyzed, tmp_path, capsys, change,
                                                    refused):
    folder = tmp_path / "run"
    write(change(analyzed), folder)
    status = main(["report", str(folder)])
    out, err = capsys.readouterr()
    if refused is None:
        assert status == 0, err
        assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
        return
    assert status == 2
    (line,) = err.strip().splitlines()
    assert refused in line and "Traceback" not in err and "cannot draw" not in line, line
    assert sorted(p.name for p in folder.iterdir()) == ["results.zarr"]  # nothing left


@pytest.mark.slow
def test_dropped_adf_is_left_out_and_bf_still_shown(analyzed, tmp_path):
    write(analyzed.drop_vars("adf"), tmp_path)
    page = symbreak.report(tmp_path).read_text()
    virtual = page.split('<section id="virtual-images">')[1].split("</section>")[0]
    assert virtual.count("<img") == 1 and 'alt="Virtual images"' in virtual


def test_a_bad_result_after_a_good_report_leaves_the_old_report(analyzed, tmp_path):
    write(analyzed, tmp_path)
    page = symbreak.report(tmp_path)
    before = page.read_bytes(), sorted(p.name for p in (tmp_path / "figures").iterdir())
    write(analyzed.assign_attrs(timings='{"COM": "fast"}'), tmp_path)
    with pytest.raises(SymbreakError, match="timings"):
        symbreak.report(tmp_path)
    assert page.read_bytes() == before[0]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == before[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "report.html",
                                                          "results.zarr"]


# ------------------------------------------------------------------ property-based
PAYLOAD = st.sampled_from(["<script>x</script>", "$\\frac{$", "x" * 100_000, "", "{}",
                           "null", "[", "\u2028", "NaN"])
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | PAYLOAD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                   max_size=3),
    max_leaves=8)


def _retype(values, kind):
    if kind == "str":
        return values.astype(str)
    if kind == "complex":
        return values.astype(complex)
    if kind == "bool":
        return values.astype(bool)
    if kind == "int":
        return np.nan_to_num(values).astype(np.int64)
    if kind == "nan":
        return np.full(values.shape, np.nan)
    if kind == "inf":
        return np.where(np.arange(values.size).reshape(values.shape) % 2, np.inf, -np.inf)
    return values * 1e300


@st.composite
def mutations(draw, results):
    """One edit of ``results``: a variable dropped, retyped, reshaped, filled with
    NaN/inf, or an attribute dropped, retyped, nested or replaced by a huge string."""
    names = sorted(map(str, results.variables))
    kind = draw(st.sampled_from(["drop", "retype", "reshape", "attr", "json", "var_attr"]))
    if kind == "drop":
        name = draw(st.sampled_from(names))
        return f"drop {name}", lambda r: r.drop_vars(name) if name in r.variables else r
    if kind == "retype":
        name = draw(st.sampled_from(sorted(map(str, results.data_vars))))
        how = draw(st.sampled_from(["str", "complex", "bool", "int", "nan", "inf", "huge"]))
        return f"{name} as {how}", lambda r: r.assign({name: (r[name].dims, _retype(
            r[name].values, how), r[name].attrs)})
    if kind == "reshape":
        name = draw(st.sampled_from(sorted(map(str, results.data_vars))))
        dims = draw(st.sampled_from([(), ("scan_x",), ("scan_x", "scan_y"), ("other",),
                                     ("scan_y", "scan_x", "other")]))
        size = {"other": 3}

        def reshape(r):
            shape = tuple(size.get(d, r.sizes.get(d, 3)) for d in dims)
            return r.drop_vars(name).assign({name: (dims, np.ones(shape))})
        return f"{name} with dims {dims}", reshape
    if kind == "attr":
        name = draw(st.sampled_from(sorted(results.attrs)))
        value = draw(PAYLOAD | st.builds(lambda d: nested(d), st.integers(1, 3000))
                     | JSON_VALUE.map(json.dumps) | st.integers())
        return f"attribute {name} = {str(value)[:40]!r}", with_attr(name, value)
    if kind == "json":
        attr = draw(st.sampled_from(["rrvae_fit", "settings", "timings", "calibration"]))
        record = json.loads(results.attrs[attr])
        key = draw(st.sampled_from(sorted(record) + ["verdict", "detectors"]))
        value = draw(JSON_VALUE)
        return f"{attr}[{key}] = {str(value)[:40]!r}", with_json_key(attr, key, value)
    name = draw(st.sampled_from(names))
    attr = draw(st.sampled_from(["units", "long_name", "description", "note", "statement",
                                 "stride", "low", "high"]))
    value = draw(PAYLOAD | st.integers(-3, 10**6) | st.floats())
    return (f"{name}.{attr} = {str(value)[:40]!r}",
            lambda r: r.assign({name: r[name].assign_attrs({attr: value})}))


def check_report(results, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tampered")
    try:
        write(results, folder)
    except Exception:  # xarray/zarr cannot store this edit: nothing to report on
        assume(False)
    try:
        page = symbreak.report(folder)
    except SymbreakError as error:
        message = str(error)
        assert "\n" not in message and message, message
        assert "cannot draw" not in message, message  # caught at load, not by the net
        assert sorted(p.name for p in folder.iterdir()) == ["results.zarr"]
        return
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def _property(max_examples):
    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(analyzed, tmp_path_factory, data):
        edits = data.draw(st.lists(mutations(analyzed), min_size=1, max_size=2), label="edits")
        results = analyzed
        for _, edit in edits:
            results = edit(results)
        check_report(results, tmp_path_factory)
    return run


test_tampered_results_property = _property(2)
test_tampered_results_property_long = pytest.mark.slow(_property(20))
