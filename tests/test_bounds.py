"""Issue 22, items 7 and 13 and "every error message non-empty": sizes from user input
are bounded before anything is allocated, and every error is one non-empty line.

The command-line cases run in a subprocess under an address-space limit (RLIMIT_AS), as
a hostile user would run them: they must end with one line and status 2, quickly."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from symbreak.analysis.symmetry_stage import lattice_for_scan
from symbreak.engine import ENV_VAR, budget_bytes, budget_scope, parse_size
from symbreak.errors import DataError, SettingsError
from symbreak.analysis.settings import AnalyzeSettings
from symbreak.symmetry import periodic

ADDRESS_SPACE = 3 * 2**30
RUN = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
    from symbreak.cli import main
    sys.argv = ["symbreak"] + sys.argv[1:]
    main()
""") % (ADDRESS_SPACE, ADDRESS_SPACE)


def run_capped(args: list[str], cwd, env: dict | None = None,
               timeout: float = 240) -> tuple[int, str, float]:
    """``symbreak ARGS`` under RLIMIT_AS: (status, stderr, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", RUN, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, SYMBREAK_PROGRESS="0", **(env or {})))
    return proc.returncode, proc.stderr, time.monotonic() - start


def assert_one_line(stderr: str, command: str, *words: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"symbreak {command}: error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    message = errors[0].split(": error: ", 1)[1]
    assert message.strip(), stderr
    for word in words:
        assert word in message, message


# --- item 7: lattice vectors and harmonics ---------------------------------------------

SHAPE, STEP = (36, 36), (0.25, 0.25)  # a 9 x 9 Å field


@pytest.mark.parametrize("lattice, words", [
    ((1e9, 0, 0, 1e9), ["lattice=1e+09,0,0,1e+09", "between 0.5 Å", "9 x 9 Å field"]),
    ((1e300, 0, 0, 1e300), ["lattice=1e+300,0,0,1e+300", "field of view"]),
    ((0, 0.1, 0.1, 0), ["lattice=0,0.1,0.1,0", "shortest vector 0.1 Å", "two scan steps"]),
    ((0, 9.5, 2.0, 0), ["9.5", "cells across"]),  # longer than the 9 Å field along x
    ((float("nan"), 0, 0, 1), ["lattice=nan"]),
    ((float("inf"), 0, 0, 1), ["lattice=inf"]),
])
def test_a_lattice_that_cannot_be_fitted_is_refused_before_sizing(lattice, words):
    with pytest.raises(SettingsError) as info:
        lattice_for_scan(lattice, SHAPE, STEP)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_fitting_lattice_is_accepted_and_reduced():
    found = lattice_for_scan((0.0, 2.46, 2.13, 1.23), SHAPE, STEP)
    np.testing.assert_allclose(sorted(found.lengths), [2.46, 2.46], atol=0.01)


def test_a_given_lattice_whose_fits_exceed_the_budget_names_it():
    with budget_scope("1MB"), pytest.raises(SettingsError, match=r"lattice=0,8,8,0.*budget"):
        lattice_for_scan((0.0, 8.0, 8.0, 0.0), (320, 320), (0.2, 0.2))


def brute_force_harmonics(reciprocal, gmax, max_terms, hmax=40):
    """Every (h, k) of the upper half plane within |h|, |k| <= hmax, shortest first."""
    hk = [(h, k) for h in range(-hmax, hmax + 1) for k in range(-hmax, hmax + 1)
          if h > 0 or (h == 0 and k > 0)]
    hk = np.array(hk)
    g = np.linalg.norm(hk @ reciprocal, axis=1)
    keep = g <= gmax
    return hk[keep][np.argsort(g[keep], kind="stable")][:max_terms]


@pytest.mark.parametrize("vectors", [
    [[0.0, 2.46], [2.13, 1.23]],  # graphene, hexagonal
    [[3.0, 0.0], [0.0, 3.0]],  # square
    [[1.0, 0.2], [0.9, 1.7]],  # oblique
    [[5.0, 0.0], [0.3, 0.8]],  # long and thin
])
def test_harmonics_are_every_short_reciprocal_vector(vectors):
    reciprocal = np.linalg.inv(np.array(vectors)).T
    for gmax, terms in [(2.0, 500), (1.3, 7), (0.1, 5)]:
        np.testing.assert_array_equal(periodic.harmonics(reciprocal, gmax, terms),
                                      brute_force_harmonics(reciprocal, gmax, terms))


def test_harmonics_of_a_huge_lattice_are_refused_before_allocation():
    reciprocal = np.linalg.inv(np.diag([1e9, 1e9])).T
    start = time.monotonic()
    with pytest.raises(DataError, match="no longer than the field of view"):
        periodic.harmonics(reciprocal, 2.0, 100)
    assert time.monotonic() - start < 1


@pytest.mark.slow  # a subprocess; lattice_for_scan is tested directly above
def test_analyze_with_a_huge_lattice_is_one_line_under_an_address_limit(tmp_path):
    np.save(tmp_path / "d.npy", np.random.default_rng(0).poisson(5, (8, 8, 16, 16))
            .astype(np.float32))
    status, stderr, seconds = run_capped(
        ["analyze", "d.npy", "--lattice=1e9,0,0,1e9", "--out", "u", "--epochs", "1",
         "--no-report"], tmp_path)
    assert status == 2, stderr
    assert_one_line(stderr, "analyze", "--lattice 1e+09,0,0,1e+09", "field of view",
                    "between 2 px")  # an uncalibrated .npy: its lengths are scan pixels
    assert seconds < 120  # about 10 s on two loaded cores; the bug allocated 16 GB first
    assert not (tmp_path / "u").exists()


# --- item 13: memory budget and settings files -----------------------------------------

@pytest.mark.parametrize("size", ["1e400", 1e400, 10**400, "1e19", float("nan"), 1e300])
def test_memory_sizes_beyond_any_machine_are_refused(size):
    with pytest.raises(SettingsError, match="memory size"):
        parse_size(size)


def test_the_budget_variable_is_named_when_it_cannot_be_read(monkeypatch):
    for value in ("1e400", "", "lots"):
        monkeypatch.setenv(ENV_VAR, value)
        with pytest.raises(SettingsError, match=r"^\$SYMBREAK_MEMORY_BUDGET: "):
            budget_bytes()


def test_the_budget_option_is_named_when_it_cannot_be_read():
    with pytest.raises(SettingsError, match=r"^memory_budget=1e400: "):
        with budget_scope("1e400"):
            pass


def test_memory_budget_on_the_command_line(tmp_path, capsys):
    from symbreak.cli import main

    np.save(tmp_path / "d.npy", np.zeros((4, 4, 8, 8), np.float32))
    status = main(["analyze", str(tmp_path / "d.npy"), "--out", str(tmp_path / "u"),
                   "--memory-budget", "1e400"])
    err = capsys.readouterr().err
    assert status == 2
    assert_one_line(err, "analyze", "--memory-budget 1e400", "more than any machine")


def test_the_default_budget_counts_the_address_space_left(tmp_path):
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31)); "
            "from symbreak.engine.budget import available_memory; print(available_memory())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items() if k != ENV_VAR})
    assert 0 < int(out.stdout) < 2**31


@pytest.mark.parametrize("suffix, text", [
    (".toml", "[vae]\nepochs = " + "[" * 5000 + "]" * 5000 + "\n"),
    (".toml", "[vae]\nepochs = " + "[" * 12 + "1" + "]" * 12 + "\n"),
    (".yaml", "vae:\n  epochs: " + "[" * 5000 + "]" * 5000 + "\n"),
])
def test_deeply_nested_settings_files_are_one_line(tmp_path, suffix, text):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    with pytest.raises(SettingsError, match="deeper than 8 levels"):
        AnalyzeSettings.from_file(path)


# --- every error message non-empty -----------------------------------------------------

def test_an_error_without_a_message_still_says_what_happened():
    from symbreak.cli import error_text

    assert error_text(MemoryError()).startswith("out of memory (MemoryError); lower ")
    assert "Unable to allocate 6.94 EiB" in error_text(MemoryError("Unable to allocate "
                                                                   "6.94 EiB"))
    assert error_text(OSError()).startswith("OSError (no message)")
    assert error_text(SettingsError("")).startswith("SettingsError (no message)")
    assert error_text(SettingsError("bad\nvalue")) == "bad value"


@pytest.mark.parametrize("exc, status", [(MemoryError(), 1), (SettingsError(), 2)])
def test_the_command_line_never_prints_an_empty_error(monkeypatch, capsys, exc, status):
    from symbreak import cli
    import symbreak.cli.info as info

    def fail(args):
        raise exc

    monkeypatch.setattr(info, "run", fail)
    assert cli.main(["info", "nothing.npy"]) == status
    err = capsys.readouterr().err
    assert_one_line(err, "info", type(exc).__name__)
