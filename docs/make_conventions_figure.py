"""Draw docs/classical_conventions.png: scan rotation, scan flip and the COM sign.

    python docs/make_conventions_figure.py

Panel (a): the scan frame (x right, y down) and the detector axes for a scan rotation θ
(counter-clockwise as displayed). Panel (b): with scan_flip the scan y axis is mirrored
before rotating. Panel (c): symbreak.com of synthetic patterns deflected towards two
"atoms" (up the gradient of a Gaussian potential), over the divergence of the field,
which is negative at the atoms.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import erfc  # noqa: E402

import symbreak  # noqa: E402
from symbreak.classical import divergence, rotation_matrix  # noqa: E402

OUT = Path(__file__).with_name("classical_conventions.png")


def arrow(ax, vec, color, label, origin=(0.0, 0.0)):
    ax.annotate("", xy=(origin[0] + vec[0], origin[1] + vec[1]), xytext=origin,
                arrowprops={"arrowstyle": "->", "color": color, "lw": 2})
    ax.text(origin[0] + 1.15 * vec[0], origin[1] + 1.15 * vec[1], label, color=color,
            ha="center", va="center", fontsize=11)


def frame_panel(ax, theta, flip, title):
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.invert_yaxis()  # image convention: y down
    ax.set_aspect("equal")
    ax.axis("off")
    arrow(ax, (1, 0), "black", "scan x")
    arrow(ax, (0, 1), "black", "scan y")
    # detector axes expressed in the scan frame: columns of (R(θ) F)^-1
    inv = np.linalg.inv(rotation_matrix(theta, flip))
    arrow(ax, 0.7 * inv[:, 0], "tab:red", "kx")
    arrow(ax, 0.7 * inv[:, 1], "tab:red", "ky")
    if theta:
        t = np.linspace(0, theta, 30)
        ax.plot(0.45 * np.cos(t), -0.45 * np.sin(t), color="tab:red", lw=1)
        ax.text(0.55 * np.cos(theta / 2), -0.55 * np.sin(theta / 2), "θ", color="tab:red")
    ax.set_title(title, fontsize=10)


def com_panel(ax):
    ny = nx = 24
    y, x = np.indices((ny, nx), dtype=float)
    atoms = [(8.0, 7.0), (15.0, 16.0)]
    gy = np.zeros((ny, nx))
    gx = np.zeros((ny, nx))
    for ay, ax_ in atoms:
        g = np.exp(-((y - ay) ** 2 + (x - ax_) ** 2) / 8.0)
        gy -= (y - ay) / 4.0 * g
        gx -= (x - ax_) / 4.0 * g
    ky, kx = np.indices((32, 32), dtype=float)
    patterns = np.empty((ny, nx, 32, 32))
    for i, j in np.ndindex(ny, nx):
        r = np.hypot(ky - 15.5 - gy[i, j], kx - 15.5 - gx[i, j])
        patterns[i, j] = 0.5 * erfc((r - 6) / 1.5)
    result = symbreak.com(patterns)
    div = divergence(result)
    ax.imshow(div.values, cmap="RdBu_r", vmin=-np.abs(div.values).max(),
              vmax=np.abs(div.values).max())
    ax.quiver(x[::2, ::2], y[::2, ::2], result.com_x.values[::2, ::2],
              result.com_y.values[::2, ::2], angles="xy", scale_units="xy", scale=0.25)
    ax.plot([a[1] for a in atoms], [a[0] for a in atoms], "o", color="gold", mec="k")
    ax.set_title("(c) COM points to the atoms;\ndivergence (colour) < 0 there", fontsize=10)
    ax.set_xlabel("scan x [px]")
    ax.set_ylabel("scan y [px] (down)")


def main() -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6))
    frame_panel(axes[0], np.radians(30), False,
                "(a) scan_rotation θ = 30°: kx is θ\ncounter-clockwise from scan x (as shown)")
    frame_panel(axes[1], 0.0, True, "(b) scan_flip: scan y mirrored\n(before rotating)")
    com_panel(axes[2])
    fig.tight_layout()
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
