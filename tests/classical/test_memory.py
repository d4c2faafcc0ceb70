"""A data set of a few GB on disk is processed within the memory budget (peak RSS).

Peak RSS is read from ``VmHWM`` in /proc/self/status of a fresh child process: its
``ru_maxrss`` would include the pytest parent's high-water mark, which Linux carries
across fork + exec.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import ndimage

pytestmark = pytest.mark.slow

SHAPE = (256, 256, 128, 128)  # uint16: 2.1 GB
BUDGET = 256 * 2**20

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symbreak
    from symbreak.classical import com, virtual_images

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    data = symbreak.as_dataset(np.load(sys.argv[1], mmap_mode="r"), detector_center=(63.5, 63.5))
    com(data.replace(array=data.array[:2]))  # warm up imports and caches
    base = status("VmHWM")
    result = com(data, mask=40)
    images = virtual_images(data, {"bf": (0, 20), "adf": (20, 60)}, units="px")
    peak = status("VmHWM")
    print(json.dumps({"base": base, "peak": peak,
                      "com_x_00": float(result.com_x.values[0, 0]),
                      "com_x_last": float(result.com_x.values[-1, -1]),
                      "bf_00": float(images.bf.values[0, 0]),
                      "bf_last": float(images.bf.values[-1, -1])}))
""")


def write_dataset(path):
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=SHAPE)
    ky, kx = np.indices(SHAPE[2:])
    disk = (np.hypot(ky - 63.5, kx - 63.5) < 16).astype(np.uint16)
    for row in range(SHAPE[0]):
        data[row] = 100 * disk
        data[row, :, 70, 63] += np.uint16(row)  # a small row-dependent deflection
    data.flush()
    del data


def test_com_and_virtual_images_of_2gb_stay_within_budget(tmp_path):
    path = tmp_path / "big.npy"
    write_dataset(path)
    env = {"SYMBREAK_MEMORY_BUDGET": str(BUDGET), "SYMBREAK_PROGRESS": "0",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    grown = out["peak"] - out["base"]
    print(f"data {path.stat().st_size / 1e9:.2f} GB, budget {BUDGET / 2**20:.0f} MiB, "
          f"baseline RSS {out['base'] / 2**20:.0f} MiB, peak RSS {out['peak'] / 2**20:.0f} "
          f"MiB (+{grown / 2**20:.0f} MiB)")
    assert grown < BUDGET
    # the numbers are right too: 100 * disk + the row number at pixel (70, 63)
    ky, kx = np.indices(SHAPE[2:])
    disk = 100.0 * (np.hypot(ky - 63.5, kx - 63.5) < 16)
    assert out["bf_00"] == disk.sum() and out["bf_last"] == disk.sum() + 255
    last, mean = disk.copy(), disk.copy()
    last[70, 63] += 255
    mean[70, 63] += 127.5
    expected = ndimage.center_of_mass(last)[1] - ndimage.center_of_mass(mean)[1]
    assert out["com_x_last"] == pytest.approx(expected, abs=1e-5)
    assert out["com_x_00"] == pytest.approx(-ndimage.center_of_mass(mean)[1] + 63.5, abs=1e-5)
