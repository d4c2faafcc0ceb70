"""The GPU check script's CPU mode (the CUDA path itself needs a GPU) and the roofline
bench's FLOP bookkeeping against torch's own counter."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_quick():
    out = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "cpu",
                          "--quick"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if "patterns/s" in line]
    assert [line.split()[:2] for line in lines] == [
        ["rotate", "float32"], ["rotate", "bf16"], ["spatial", "float32"], ["spatial", "bf16"]]
    for line in lines:
        train = float(line.split("train")[1].split()[0])
        encode = float(line.split("encode")[1].split()[0])
        assert train > 0 and encode > 0


@pytest.mark.slow
def test_gpu_check_refuses_cuda_without_gpu():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    out = subprocess.run([sys.executable, str(BENCH / "gpu_check.py")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and "--device cpu" in out.stdout


def test_roofline_layer_flops_match_flop_counter():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_rvae_roofline as bench
    finally:
        sys.path.remove(str(BENCH))
    for case in ("spatial", "rotate"):
        step, trainer = bench.build_step(case, "float32", 16)
        analytic = bench.layer_flops(bench.linear_layers(trainer))
        counted = bench.counted_flops(step)
        # the spatial decoder's first layer (2 inputs) runs as a broadcast add, not a product
        assert abs(counted / analytic - 1) < (0.05 if case == "spatial" else 0.02)
        assert analytic > 0
