"""Chunked rrVAE encoding of one commit against another, interleaved, each against the
in-memory ``transform`` measured just before it (not a ``bench_*`` file: ``make bench``
does not run it).

    .venv/bin/python bench/compare_encoding.py --before 4c5700c [--patterns 20000]
        [--repeats 3] [--budget 256MB]

``--before``'s ``src/symbreak/vae/encode_map.py`` (``git show``) replaces the chunked
encoder of the working tree for the "before" runs; everything else is the working tree.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).parent))
from bench_scaling import spots  # noqa: E402

from symbreak.engine import budget_scope  # noqa: E402
from symbreak.vae import RotationalVAE, encode_map, inference  # noqa: E402


def encoder_at(rev: str, folder: Path) -> object:
    """The ``encode_map`` module as it was at ``rev``."""
    text = subprocess.run(["git", "show", f"{rev}:src/symbreak/vae/encode_map.py"],
                          capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parent).stdout
    path = folder / "encode_map_before.py"
    path.write_text(text)
    name = "symbreak.vae._encode_map_before"  # relative imports resolve in symbreak.vae
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--patterns", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", default="256MB")
    args = parser.parse_args()
    patterns = spots(args.patterns, 48)
    model = RotationalVAE(epochs=1, progress=False).fit(patterns[:4000])
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="symbreak-bench-") as tmp:
        before = encoder_at(args.before, Path(tmp))
        store = zarr.create_array(f"{tmp}/pre.zarr", shape=patterns.shape,
                                  chunks=(2048, 48, 48), dtype=np.float32)
        store[:] = patterns
        for repeat in range(args.repeats):
            for name, module in ((args.before, before), ("working tree", encode_map)):
                start = time.perf_counter()
                model.transform(patterns)
                reference = time.perf_counter() - start
                inference.encode_lazy = module.encode_lazy
                with budget_scope(args.budget):
                    start = time.perf_counter()
                    model.transform(store)
                    chunked = time.perf_counter() - start
                inference.encode_lazy = encode_map.encode_lazy
                ratios.setdefault(name, []).append(reference / chunked)
                print(f"repeat {repeat + 1} {name}: chunked {args.patterns / chunked:.0f} "
                      f"patterns/s = {reference / chunked:.2f} x in-memory", flush=True)
    for name, values in ratios.items():
        print(f"{name}: {min(values):.2f}-{max(values):.2f} x in-memory transform")


if __name__ == "__main__":
    main()
