"""The machine a benchmark ran on, printed with every number: CPU model, the vector
extensions that matter for the kernels and the rrVAE (AVX2, AVX-512, bf16, AMX), usable
CPUs and the load average at the start."""

from __future__ import annotations

import os
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_name() -> str:
    """The CPU model and which of :data:`FLAGS` it has (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    lines = text.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in lines
                  if line.startswith("flags")), [])
    found = [flag for flag in FLAGS if flag in flags]
    return f"{model} ({', '.join(found) or 'no AVX2'})"


def machine_line() -> str:
    """One line: CPU, usable CPUs, load average now."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"CPU: {cpu_name()}; {usable} usable CPU(s); load average {load}"
