"""What this CPU can do for training: its model name and whether it has native bf16.

Read at run time from ``/proc/cpuinfo`` (Linux); elsewhere nothing is known and training
stays in float32. Native bf16 means the AVX512-BF16 dot-product instructions or AMX tiles;
without them PyTorch emulates bf16 products and they are slower than float32.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def read_cpuinfo() -> str:
    """The text of /proc/cpuinfo, or '' where there is none."""
    try:
        return CPUINFO.read_text()
    except OSError:
        return ""


def _first(cpuinfo: str, key: str) -> str:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return ""


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The instruction-set flags of the first processor listed."""
    return frozenset(_first(cpuinfo, "flags").split())


def has_native_bf16(flags: frozenset[str]) -> bool:
    """True when the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16)."""
    return any(f in flags for f in BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def cpu_capability() -> dict[str, Any]:
    """Model name, relevant flags, PyTorch's vector ISA and native bf16, for provenance."""
    import torch

    text = read_cpuinfo()
    flags = cpu_flags(text)
    return {"model": _first(text, "model name") or "unknown",
            "flags": [f for f in REPORTED_FLAGS if f in flags],
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": has_native_bf16(flags)}


def cpu_report() -> str:
    """One line naming the CPU for benchmark output."""
    c = cpu_capability()
    return (f"CPU {c['model']}; flags {' '.join(c['flags']) or 'none of ' + str(REPORTED_FLAGS)}"
            f"; torch ISA {c['torch_capability']}; native bf16 {'yes' if c['native_bf16'] else 'no'}")


__all__ = ["cpu_flags", "has_native_bf16", "cpu_capability", "cpu_report", "read_cpuinfo"]
