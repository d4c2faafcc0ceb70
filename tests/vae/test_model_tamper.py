"""A damaged or hostile model folder: a correct result or one line, never a traceback and
never a large allocation (issue 22, items 8, 12 and 14, and the model-directory half of
its tamper test).

A tiny real model (64 dipole patterns of 16 x 16 px, 1 epoch, hidden 8) is saved once;
each test copies its folder and damages ``config.json`` or ``model.safetensors``. The
property-based test runs ``symbreak encode`` in a worker process whose address space is
capped at :data:`MEMORY_LIMIT` (the unharmed command needs about 1.3 GB of it), so an
allocation from a size the folder merely claims is a failure, not a slow test. Allowed
outcomes: exit 0 with latent maps of the scan's shape (equal, number for number, to the
undamaged model's when only the training record was changed), or exit 2 with one line
naming the damaged file and nothing written.

Examples: 3 by default; the ``slow`` variant runs 40 (``SYMBREAK_FUZZ_EXAMPLES`` sets
both).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import safetensors.torch
import torch
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbreak import RotationalVAE
from symbreak.cli import main
from symbreak.errors import FormatError, SettingsError
import support
from vae_synthetic import dipole_patterns

MEMORY_LIMIT = 2 * 2**30
TIMEOUT_S = 120
EXAMPLES = os.environ.get("SYMBREAK_FUZZ_EXAMPLES")
DEFAULT = settings(max_examples=int(EXAMPLES or 3), deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])
LONG = settings(DEFAULT, max_examples=int(EXAMPLES or 40))
# fields whose change leaves the latents as they were: the record of the training
INERT = ("history", "best_validation_loss", "fingerprint", "stop_reason", "attempts",
         "best_attempt", "diagnostics", "versions", "data")

WORKER = textwrap.dedent("""
    import contextlib, io, json, resource, sys, traceback
    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
    from symbreak.cli import main
    import symbreak.vae.api  # torch and the model code loaded once, before any job
    proto = sys.stdout
    for line in sys.stdin:
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                result = {"status": main(json.loads(line))}
        except BaseException as exc:
            result = {"status": None, "type": type(exc).__name__,
                      "traceback": traceback.format_exc()}
        result["stderr"] = err.getvalue()
        print(json.dumps(result), file=proto, flush=True)
""") % (MEMORY_LIMIT, MEMORY_LIMIT)


class Worker(support.Worker):
    """``symbreak`` commands in one long-lived process with a capped address space."""

    def __init__(self) -> None:
        super().__init__(WORKER, {"OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}, TIMEOUT_S)

    def run(self, *argv: str | Path) -> dict:
        answer = self.ask([str(a) for a in argv])
        if answer == "hang":
            return {"status": "hang", "stderr": f"no answer within {TIMEOUT_S} s"}
        if isinstance(answer, str):
            return {"status": "crash", "stderr": f"the worker died with status {answer[6:]}"}
        return answer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The saved tiny model, its config, an 8 x 8 scan of its patterns as .npy and the
    latents the fitted model gives them in this process (the independent truth)."""
    root = tmp_path_factory.mktemp("tiny_model")
    rng = np.random.default_rng(0)
    X = dipole_patterns(rng.uniform(-np.pi, np.pi, 64), rng.uniform(0, 1, 64), size=16)
    model = RotationalVAE(latent_dim=1, epochs=1, hidden=8, restarts=0, device="cpu",
                          random_state=0).fit(X)
    model.save(root / "model")
    np.save(root / "d.npy", X.reshape(8, 8, 16, 16))
    latents = model.transform(X.reshape(8, 8, 16, 16))
    return SimpleNamespace(folder=root / "model", data=root / "d.npy", latents=latents,
                           config=json.loads((root / "model" / "config.json").read_text()))


@pytest.fixture(scope="module")
def worker():
    proc = Worker()
    yield proc
    proc.close()


def copy_model(tiny, dest: Path, config: dict | str | None = None) -> Path:
    """A copy of the tiny model's folder at ``dest``, with ``config`` (an object or raw
    JSON text) as its config.json when given."""
    shutil.copytree(tiny.folder, dest)
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (dest / "config.json").write_text(text)
    return dest


def changed(tiny, path: tuple, value) -> dict:
    """The tiny model's config with the field at ``path`` set to ``value`` (or dropped
    for ``value`` DROP)."""
    config = json.loads(json.dumps(tiny.config))
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    if value is DROP:
        del node[last]
    else:
        node[last] = value
    return config


DROP = object()


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def assert_same_latents(out: Path, latents: xr.Dataset) -> None:
    with xr.open_zarr(out) as got:
        for name in latents.data_vars:
            np.testing.assert_array_equal(got[name].values, latents[name].values, name)


# ------------------------------------------------------------------ 8. n_train claims
def test_8_n_train_of_600_million_encodes_without_allocating_it(tiny, worker, tmp_path):
    """The issue's model: data.n_train = 600 000 000 took 5.2 GB (np.arange of it); under
    a 2 GiB address space the encode must succeed and give the undamaged latents."""
    folder = copy_model(tiny, tmp_path / "m", changed(tiny, ("data", "n_train"), 600_000_000))
    result = worker.run("encode", tiny.data, "--model", folder, "--out", tmp_path / "o.zarr")
    assert result["status"] == 0, result
    assert_same_latents(tmp_path / "o.zarr", tiny.latents)
    model = RotationalVAE.load(folder, device="cpu")
    assert len(model.train_indices_) == 600_000_000 and len(model.validation_indices_) == 10


@pytest.mark.parametrize("path, value", [
    (("data", "n_train"), 10**13), (("data", "n_validation"), -1),
    (("architecture", "latent_dim"), 10**6), (("architecture", "hidden"), 2**40),
    (("architecture", "pattern_shape"), [10**5, 10**5]), (("settings", "n_threads"), 10**6),
    (("settings", "epochs"), 10**9), (("settings", "batch_size"), 2**40),
    (("params", "loader_workers"), 10**6), (("params", "restarts"), 10**6)])
def test_8_every_size_a_config_gives_is_bounded(tiny, tmp_path, path, value):
    folder = copy_model(tiny, tmp_path / "m", changed(tiny, path, value))
    with pytest.raises(FormatError, match=path[-1]) as err:
        RotationalVAE.load(folder, device="cpu")
    assert "\n" not in str(err.value) and "config.json is damaged" in str(err.value)


@pytest.mark.parametrize("path", [("best_validation_loss",), ("params", "rotation_prior"),
                                  ("diagnostics", "explained_fraction"),
                                  ("attempts", 0, "time")])
def test_8_integer_beyond_float_range_is_one_line(tiny, tmp_path, path):
    """10**400 is a valid JSON number that float() cannot hold (OverflowError)."""
    folder = copy_model(tiny, tmp_path / "m", changed(tiny, path, 10**400))
    with pytest.raises(FormatError, match=str(path[-1])) as err:
        RotationalVAE.load(folder, device="cpu")
    assert "\n" not in str(err.value)


def test_8_history_longer_than_any_training_is_refused(tiny, tmp_path):
    config = changed(tiny, ("history",), [{}] * 100_001)
    with pytest.raises(FormatError, match="history must be a list of at most 100000"):
        RotationalVAE.load(copy_model(tiny, tmp_path / "m", config), device="cpu")


# -------------------------------------------------- 12. tampered model folders: one line
def _deep(tiny) -> str:
    return json.dumps(tiny.config)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"


CASES = {
    "n_train as text": (lambda t: changed(t, ("data", "n_train"), "54"), "data.n_train"),
    "format_version as text": (lambda t: changed(t, ("format_version",), "1"),
                               "format_version"),
    "no data": (lambda t: changed(t, ("data",), DROP), "has no 'data'"),
    "deeply nested": (_deep, "more than 32 deep"),
    "best_attempt zz": (lambda t: changed(t, ("best_attempt",), "zz"), "best_attempt"),
    "settings as a list": (lambda t: changed(t, ("settings",), []), "settings must be an "
                           "object"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_12_tampered_config_is_one_line(tiny, tmp_path, capsys, case):
    make, words = CASES[case]
    folder = copy_model(tiny, tmp_path / "m", make(tiny))
    status = main(["encode", str(tiny.data), "--model", str(folder), "--out",
                   str(tmp_path / "o.zarr")])
    line = one_line_error(capsys.readouterr().err)
    assert status == 2 and words in line and "config.json" in line, line
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.parametrize("tail, words", [
    ('"x": [' + "[]," * 300_000 + "[]]", r"lists or objects \(at most 200,000\)"),
    ('"x": "' + "a" * (33 * 2**20) + '"', "larger than 33,554,432 bytes")])
def test_12_config_that_would_parse_into_much_memory_is_not_parsed(tiny, tmp_path, tail,
                                                                      words):
    """300 001 empty lists take 1 MB as text and 20 MB as Python lists (a 32 MB file of
    them would take 640 MB); a file over 32 MiB is not read at all."""
    text = json.dumps(tiny.config)[:-1] + ", " + tail + "}"
    with pytest.raises(FormatError, match=words):
        RotationalVAE.load(copy_model(tiny, tmp_path / "m", text), device="cpu")


def test_12_fifo_in_place_of_config_does_not_hang(tiny, worker, tmp_path):
    folder = copy_model(tiny, tmp_path / "m")
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    result = worker.run("encode", tiny.data, "--model", folder, "--out", tmp_path / "o.zarr")
    assert result["status"] == 2 and "not a regular file" in one_line_error(result["stderr"])


def test_12_preprocessing_that_cannot_give_the_models_patterns_is_refused(tiny, tmp_path):
    prep = {"crop": None, "bin": 1, "resize": 10**9, "subtract_mean": True,
            "normalize": True, "denoise": False, "denoise_components": 20, "denoise_keep": 13}
    folder = copy_model(tiny, tmp_path / "m", changed(tiny, ("extra",), {"preprocessing": prep}))
    with pytest.raises(FormatError, match="1000000000 x 1000000000 px patterns"):
        RotationalVAE.load(folder, device="cpu")


@pytest.mark.parametrize("change, words", [
    (lambda s: {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in s.items()},
     "tensors differ"),
    (lambda s: {k: v.double() for k, v in s.items()}, "float64"),
    (lambda s: dict(list(s.items())[1:]), "the file holds none"),
    (lambda s: {**s, "decoder.extra": torch.zeros(3)}, "the config needs none")])
def test_12_weights_that_do_not_match_the_config_are_one_line(tiny, tmp_path, change, words):
    folder = copy_model(tiny, tmp_path / "m")
    state = safetensors.torch.load((folder / "model.safetensors").read_bytes())
    (folder / "model.safetensors").write_bytes(safetensors.torch.save(change(state)))
    with pytest.raises(FormatError, match=words) as err:
        RotationalVAE.load(folder, device="cpu")
    assert "\n" not in str(err.value)


def test_12_weights_larger_than_the_network_are_not_read(tiny, worker, tmp_path):
    """A 3 GiB (sparse) model.safetensors beside a 34 kB network: refused after reading at
    most the network's bytes plus 1 MiB of header, in the 2 GiB worker."""
    folder = copy_model(tiny, tmp_path / "m")
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.truncate(3 * 2**30)
    result = worker.run("encode", tiny.data, "--model", folder, "--out", tmp_path / "o.zarr")
    line = one_line_error(result["stderr"])
    assert result["status"] == 2 and "bytes, more than the network" in line, result


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("extra, words", [
    ([1], "extra must be a dict"), ({"a": _nested(31)}, "more than 31 deep"),
    ({"a": "x" * (33 * 2**20)}, "more than the 33,554,432")])
def test_save_refuses_what_load_would_refuse(tiny, tmp_path, extra, words):
    model = RotationalVAE.load(tiny.folder, device="cpu")
    with pytest.raises(SettingsError, match=words):
        model.save(tmp_path / "m", extra=extra)
    assert not (tmp_path / "m").exists()
    model.save(tmp_path / "ok", extra={"a": _nested(30)})  # the deepest that loads
    assert RotationalVAE.load(tmp_path / "ok").extra_ == {"a": _nested(30)}


# ----------------------------------------------------------- 14. non-UTF-8 folder names
def test_14_model_in_a_folder_whose_name_is_not_utf8(tiny, tmp_path, capsysbinary):
    """safetensors' load_file refused the surrogate-escaped name ``out\\xff`` as "not a
    safetensors file"; the weights are now read by Python."""
    out = Path(os.fsdecode(bytes(tmp_path) + b"/out\xff"))
    out.mkdir()
    RotationalVAE.load(tiny.folder, device="cpu").save(out / "model")
    status = main(["encode", str(tiny.data), "--model", str(out / "model"),
                   "--out", str(out / "o.zarr")])
    assert status == 0, capsysbinary.readouterr().err
    assert_same_latents(out / "o.zarr", tiny.latents)


@pytest.mark.slow
def test_14_analyze_into_a_folder_whose_name_is_not_utf8(tiny, tmp_path, capsysbinary):
    out = os.fsdecode(bytes(tmp_path) + b"/u\xff")
    status = main(["analyze", str(tiny.data), "--out", out, "--epochs", "1", "--no-report"])
    assert status == 0, capsysbinary.readouterr().err
    assert RotationalVAE.load(Path(out) / "model", device="cpu").n_epochs_ >= 1


# ------------------------------------------------------------ property-based tampering
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.sampled_from([0, -1, 1, 2, 2**31, 2**63, 10**12, 600_000_000, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["__DEEP__", "__HUGE_INT__"]))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
ACTIONS = st.one_of(st.tuples(st.just("drop")), st.tuples(st.just("text")),
                    st.tuples(st.just("negate")), st.tuples(st.just("scale")),
                    st.tuples(st.just("set"), VALUES))
# (which field: an index into the config's fields, action), one to three per example
CONFIG_CHANGES = st.lists(st.tuples(st.integers(0, 10**6), ACTIONS), min_size=1, max_size=3)
WEIGHT_CHANGES = st.one_of(
    st.none(),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("grow"), st.integers(0, 100), st.integers(1, 4)),
    st.tuples(st.just("dtype"), st.integers(0, 100),
              st.sampled_from(["float64", "float16", "bfloat16", "int32", "bool"])),
    st.tuples(st.just("drop"), st.integers(0, 100)),
    st.tuples(st.just("header"), st.integers(0, 100), st.sampled_from([[10**6, 10**6],
                                                                       [2**62], [-1], []])),
    st.tuples(st.just("flip"), st.integers(8, 2000), st.integers(1, 255)))


def field_paths(value, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        out += field_paths(item, prefix + (key,))
    return out


def damage_config(config: dict, changes: list) -> tuple[str, set]:
    """The config's JSON text after ``changes``, and the top-level fields they touched."""
    touched = set()
    for pick, (action, *arg) in changes:
        paths = field_paths(config)
        *parents, last = paths[pick % len(paths)]
        node = config
        for key in parents:
            node = node[key]
        touched.add(([*parents, last])[0])
        old = node[last]
        if action == "drop":
            del node[last]
        elif action == "text":
            node[last] = json.dumps(old)[:40]
        elif action == "negate" and isinstance(old, (int, float)):
            node[last] = -old
        elif action == "scale" and isinstance(old, (int, float)):
            node[last] = old * 10**12 if old else 10**12
        elif action == "set":
            node[last] = arg[0]
    text = json.dumps(config)
    text = text.replace('"__DEEP__"', "[" * 3000 + "]" * 3000)
    return text.replace('"__HUGE_INT__"', "9" * 5000), touched


def damage_weights(path: Path, change) -> None:
    raw = path.read_bytes()
    if change[0] == "truncate":
        path.write_bytes(raw[:int(change[1] * len(raw))])
        return
    if change[0] == "flip":
        data = bytearray(raw)
        data[change[1] % len(data)] ^= change[2]
        path.write_bytes(bytes(data))
        return
    state = safetensors.torch.load(raw)
    name = sorted(state)[change[1] % len(state)]
    if change[0] == "grow":
        state[name] = torch.zeros(state[name].shape[0] * change[2], *state[name].shape[1:])
    elif change[0] == "dtype":
        state[name] = state[name].to(getattr(torch, change[2]))
    elif change[0] == "drop":
        del state[name]
    raw = safetensors.torch.save(state)
    if change[0] == "header":  # a header that claims another shape for the same bytes
        size = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + size])
        header[name]["shape"] = change[2]
        text = json.dumps(header).encode()
        raw = len(text).to_bytes(8, "little") + text + raw[8 + size:]
    path.write_bytes(raw)


def tamper_and_encode(tiny, worker, tmp_path, changes, weights) -> None:
    case = tmp_path / "case"
    shutil.rmtree(case, ignore_errors=True)
    text, touched = damage_config(json.loads(json.dumps(tiny.config)), changes)
    folder = copy_model(tiny, case / "model", text)
    if weights is not None:
        damage_weights(folder / "model.safetensors", weights)
    result = worker.run("encode", tiny.data, "--model", folder, "--out", case / "o.zarr")
    assert result["status"] in (0, 2), result
    if result["status"] == 2:
        line = one_line_error(result["stderr"])
        assert "config.json" in line or "model.safetensors" in line, line
        assert not (case / "o.zarr").exists()
    elif weights is None and touched <= set(INERT):
        assert_same_latents(case / "o.zarr", tiny.latents)
    else:
        with xr.open_zarr(case / "o.zarr") as got:
            assert got["latent_angle"].shape == (8, 8)
            assert got["latent_z"].shape[1:] == (8, 8)


def test_undamaged_model_encodes_in_the_worker(tiny, worker, tmp_path):
    """The worker's cap leaves room for the real command: the undamaged model encodes
    to the fitted model's latents."""
    result = worker.run("encode", tiny.data, "--model", tiny.folder, "--out", tmp_path / "o.zarr")
    assert result["status"] == 0, result
    assert_same_latents(tmp_path / "o.zarr", tiny.latents)


@DEFAULT
@given(changes=CONFIG_CHANGES, weights=WEIGHT_CHANGES)
def test_tampered_model_folder(tiny, worker, tmp_path, changes, weights):
    tamper_and_encode(tiny, worker, tmp_path, changes, weights)


@pytest.mark.slow
@LONG
@given(changes=CONFIG_CHANGES, weights=WEIGHT_CHANGES)
def test_tampered_model_folder_long(tiny, worker, tmp_path, changes, weights):
    tamper_and_encode(tiny, worker, tmp_path, changes, weights)
