"""Kill -9 at random points of writing: the old output or the new one, never a mixture.

Each writing command runs in a child process over an earlier output (``--overwrite``)
with ``$SYMBREAK_KILL_AFTER_WRITES=N``: the child kills itself with SIGKILL at its N-th
write step (a file opened for writing, a rename, a removal, a folder made; see
:func:`symbreak.io.safe_output.install_kill_hook`), N drawn by hypothesis from 1 to the
number of write steps of a whole run (counted once per command). Not chosen steps, and
no sleeps: every point of the write is a candidate. Afterwards the output must be the
earlier one byte for byte, or the new one complete and correct (its numbers equal a
run in this process on the new input), and a plain rerun must succeed.

Default: one example each for convert and com (reproducible; 7 and 11 s on a shared
2-core AMD EPYC); the ``slow`` variant runs 25 random ones each for convert, com and
analyze.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbreak
from symbreak.io.safe_output import KILL_AFTER_ENV, MARKER

FEW = settings(max_examples=1, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
MANY = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
COUNTER = textwrap.dedent("""
    import sys
    from symbreak.io.safe_output import _is_write
    count = [0]
    sys.addaudithook(lambda e, a: count.__setitem__(0, count[0] + _is_write(e, a)))
    from symbreak.cli import main
    status = main(sys.argv[1:])
    print("WRITES", count[0], status)
""")


def _env(**extra: str) -> dict:
    return {**os.environ, "SYMBREAK_PROGRESS": "0", "OMP_NUM_THREADS": "1", **extra}


def count_writes(args: list[str], cwd: Path) -> int:
    """Write steps of a whole run of ``symbreak ARGS`` (then undone by the caller)."""
    done = subprocess.run([sys.executable, "-c", COUNTER, *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)
    line = [l for l in done.stdout.splitlines() if l.startswith("WRITES")][-1]
    _, count, status = line.split()
    assert status == "0", done.stderr[-2000:]
    return int(count)


def killed_run(args: list[str], cwd: Path, after: int) -> int:
    done = subprocess.run([sys.executable, "-m", "symbreak", *args], cwd=cwd,
                          env=_env(**{KILL_AFTER_ENV: str(after)}),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, -9), done.stderr[-2000:]
    return done.returncode


def tree_hash(path: Path, skip: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if rel.parts[0] in skip:
            continue
        digest.update(str(rel).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """Two inputs (old and new data) and the write-step count of each command."""
    root = tmp_path_factory.mktemp("kill")
    rng = np.random.default_rng(5)
    for name in ("old", "new"):
        np.save(root / f"{name}.npy", rng.random((6, 6, 16, 16)).astype("f4"))
    return root, {}


COMMANDS = {
    "convert": lambda src, out: ["convert", f"{src}.npy", out, "--chunks", "2,2,16,16"],
    "com": lambda src, out: ["com", f"{src}.npy", "--out", out],
    "analyze": lambda src, out: ["analyze", f"{src}.npy", "--out", out, "--epochs", "1",
                                 "--no-report", "--quiet", "--restarts", "0"],
}
OUT = {"convert": "o.zarr", "com": "c.zarr", "analyze": "run"}
LEFTOVERS = (".checkpoints", ".symbreak.lock")  # the new run's work before the switch


def _fresh(root: Path, name: str) -> tuple[Path, Path]:
    case = root / f"case-{name}"
    if case.exists():
        import shutil
        shutil.rmtree(case)
    case.mkdir()
    for src in ("old", "new"):
        os.link(root / f"{src}.npy", case / f"{src}.npy")
    return case, case / OUT[name]


def _is_new(name: str, out: Path, case: Path) -> None:
    """``out`` is the complete output of the new input."""
    new = np.load(case / "new.npy")
    assert (out / MARKER).is_dir()
    if name == "convert":
        np.testing.assert_array_equal(symbreak.load(out).to_numpy(), new)
    elif name == "com":
        want = symbreak.com(new)
        got = xr.open_zarr(out).load()
        np.testing.assert_allclose(got["com_y"].values, want["com_y"].values, rtol=1e-6)
    else:
        results = xr.open_zarr(out / "results.zarr")
        model = json.loads((out / "model" / "config.json").read_text())
        checksum = results.attrs["input_checksum"]
        assert model["extra"]["input_checksum"] == checksum  # model and results: one run
        assert str(case / "new.npy") in results.attrs["input_file"]
        assert (out / "settings.toml").is_file()


def check_kill(place, name: str, fraction: float) -> None:
    root, counts = place
    if name not in counts:
        counts[name] = count_writes(COMMANDS[name]("new", f"count-{name}"), root)
    case, out = _fresh(root, name)
    assert killed_run(COMMANDS[name]("old", OUT[name]), case, 10**9) == 0
    old = tree_hash(out, LEFTOVERS)
    after = 1 + int(fraction * counts[name])
    killed_run(COMMANDS[name]("new", OUT[name]) + ["--overwrite"], case, after)
    assert out.is_dir(), f"{out} vanished (killed at write step {after})"
    if tree_hash(out, LEFTOVERS) != old:
        _is_new(name, out, case)
    # whatever was left, a plain rerun over it succeeds and gives the new output
    assert killed_run(COMMANDS[name]("new", OUT[name]) + ["--overwrite"], case, 10**9) == 0
    _is_new(name, out, case)


@pytest.mark.parametrize("name", ["convert", "com"])
@FEW
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_kill_at_a_random_write_step_leaves_old_or_new(place, name, fraction):
    check_kill(place, name, fraction)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["convert", "com", "analyze"])
@MANY
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_kill_at_a_random_write_step_leaves_old_or_new_long(place, name, fraction):
    check_kill(place, name, fraction)
