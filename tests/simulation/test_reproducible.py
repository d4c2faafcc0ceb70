"""The same simulation settings give the same bytes in every process."""

import subprocess
import sys

import pytest

CODE = """
import hashlib, numpy as np, symbreak
a = symbreak.simulate("graphene-vacancy", scan_shape=(6, 6)).to_numpy()
print(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())
"""


def test_fftw_plans_are_chosen_without_timing():
    """FFTW_MEASURE picks plans by timing them, so the last bits followed the machine's
    load (three processes gave three different sha256 on the demo preset)."""
    import abtem

    import symbreak.simulation.engine  # noqa: F401  sets the planning

    assert abtem.config.get("fftw.planning_effort") == "FFTW_ESTIMATE"


@pytest.mark.slow
def test_two_processes_give_identical_bytes():
    digests = {subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                              timeout=300, check=True).stdout.strip() for _ in range(2)}
    assert len(digests) == 1 and len(next(iter(digests))) == 64
