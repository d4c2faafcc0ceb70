"""Helpers several test modules share (tests/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from typing import Any

from symbreak.cli import main


def run(capsys: Any, *args: Any) -> tuple[int, str]:
    """Exit status and stderr of ``symbreak ARGS`` run in this process."""
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


def one_line_error(err: str) -> str:
    """The one non-empty line of ``err``; fails on a traceback or several lines."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


class Worker:
    """A long-lived Python process running ``script``, which answers every JSON request
    line on stdin with one JSON line on stdout; so that a crash, hang or allocation bomb
    is an outcome to report and not the end of the test session."""

    def __init__(self, script: str, env: dict[str, str], timeout_s: float,
                 quiet: bool = False) -> None:
        self.script, self.env, self.timeout_s, self.quiet = script, env, timeout_s, quiet
        self.proc: subprocess.Popen | None = None

    def ask(self, request: Any) -> dict | str:
        """The answer to ``request``, or ``"hang"`` (no answer within the timeout: the
        process is killed) or ``"crash N"`` (it died with exit status N)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.script], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if self.quiet else None,
                text=True, env=dict(os.environ, **self.env))
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], self.timeout_s)[0]:
            self.close()
            return "hang"
        line = self.proc.stdout.readline()
        if not line:
            status, self.proc = self.proc.wait(), None
            return f"crash {status}"
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
