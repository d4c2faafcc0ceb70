"""Time py4DSTEM's DPC centre of mass and annular virtual image on a .npy file.

Run by bench_classical.py with the interpreter of the py4DSTEM reference venv; prints one
JSON line {"com_s": ..., "virtual_s": ..., "version": ...} (best of ``repeats``).
"""

import json
import sys
import time
import warnings

import numpy as np
import py4DSTEM


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(path, cy, cx, inner, outer, repeats):
    warnings.simplefilter("ignore")
    cube = py4DSTEM.DataCube(data=np.load(path))
    state = {}

    def com():
        dpc = py4DSTEM.process.phase.DPC(datacube=cube, energy=80e3, verbose=False)
        dpc.preprocess(force_com_rotation=0.0, force_com_transpose=False,
                       plot_center_of_mass=False, plot_rotation=False)
        state["dpc"] = dpc

    def virtual():
        cube.get_virtual_image(mode="annulus", geometry=((cy, cx), (inner, outer)),
                               verbose=False)

    out = {"com_s": best_of(com, repeats), "virtual_s": best_of(virtual, repeats),
           "version": py4DSTEM.__version__}
    # its COM along its first detector axis ("x" = rows) and second ("y" = columns)
    dpc = state["dpc"]
    np.savez(path + ".py4dstem.npz", com_rows=np.asarray(dpc._com_measured_x),
             com_cols=np.asarray(dpc._com_measured_y),
             virtual=np.asarray(cube.get_virtual_image(
                 mode="annulus", geometry=((cy, cx), (inner, outer)), verbose=False).data))
    print(json.dumps(out))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], float(a[1]), float(a[2]), float(a[3]), float(a[4]), int(a[5]))
