"""CI never goes green without its cross-checks: a reference environment that fails to
build stops `make`, and under `make test-all` a cross-check that would skip for a missing
environment fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = '''
import pytest

@pytest.mark.skipif(True, reason="x reference venv not built (make refenvs)")
def test_refenv():
    pass

def test_field():
    pytest.skip("field environment not built (make fieldenv)")

def test_other():
    pytest.skip("an ordinary reason")
'''


def _run_sample(tmp_path: Path, **env: str) -> str:
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SYMBREAK_REQUIRE_REFENVS", "CI")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=clean | env)
    return done.stdout.splitlines()[-1]


@pytest.mark.slow
def test_missing_environments_skip_by_default(tmp_path):
    assert _run_sample(tmp_path).startswith("3 skipped")


def test_missing_environments_fail_when_required(tmp_path):
    last = _run_sample(tmp_path, SYMBREAK_REQUIRE_REFENVS="1")
    assert "1 failed" in last and "1 error" in last and "1 skipped" in last, last


@pytest.mark.slow
def test_a_reference_environment_that_fails_to_build_stops_make(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    envs = tmp_path / "refenvs"
    done = subprocess.run(["make", "-C", str(ROOT), f"REFENVS={envs}", f"{envs}/bogus/.built",
                           f"REFENV_bogus={tmp_path}/no-such-package"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "reference environment bogus could not be built" in done.stdout
    assert (envs / "bogus.log").is_file() and not (envs / "bogus" / ".built").exists()
