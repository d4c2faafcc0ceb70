"""Named simulation presets: the paper's data sets and the project's demo data.

Each preset is a dict of options for :func:`symbreak.simulate`; options given by the user
override the preset's. docs/simulation.md lists them with their reasons.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # The paper's coherent graphene set: one 4.268 x 2.464 Å cell scanned at 24 x 14
    # positions, periodic -> 25 x 15; 12 x 20 tiling gives its 0.01953 x 0.02029 1/Å
    # pixels; 256 x 256 native (non-square) pixels, no resampling.
    "graphene-cell": dict(
        system="graphene", energy=60e3, semiangle=32.0, defocus=0.0,
        scan_region="cell", scan_shape=(14, 24), tiling=(20, 12),
        detector_pixels=256, max_angle=None,
    ),
    # The same with a finite source (Gaussian, sigma 0.25 Å) and 8 frozen-phonon
    # configurations (thermal rms displacement 0.08 Å).
    "graphene-cell-incoherent": dict(
        system="graphene", energy=60e3, semiangle=32.0, defocus=0.0,
        scan_region="cell", scan_shape=(14, 24), tiling=(20, 12),
        detector_pixels=256, max_angle=None,
        source_size=0.25, phonons=8, phonon_sigma=0.08,
    ),
    # The demo: a vacancy in a 34 x 34 Å graphene sheet, 40 x 40 probes at 0.25 Å
    # (10 x 10 Å around the vacancy), 64 x 64 px at 1.5 mrad/px (±48 mrad: the
    # bright-field disk of radius 32 mrad = 21.3 px plus a 16 mrad dark-field margin).
    "graphene-vacancy": dict(
        system="graphene", defect="vacancy", energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # The perfect crystal with the demo's geometry: the null of the symmetry scores (a
    # one-cell scan such as graphene-cell has no lattice-equivalent positions to compare).
    "graphene-perfect": dict(
        system="graphene", energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # A substitutional Si dopant, same geometry as the demo.
    "graphene-si": dict(
        system="graphene", defect="Si", energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # Two different defects 3.76 Å apart, same geometry as the demo: a vacancy at the
    # supercell centre (17.25, 17.07) Å and a Si dopant on the atom at (19.71, 19.92) Å
    # (the other sublattice); the 10 x 10 Å window is centred between them, each defect
    # 3 Å or more from its edges. The tiling is the demo's automatic one, written out so
    # that the Si position stays on the same atom.
    "graphene-vacancy-si": dict(
        system="graphene", defects=(("vacancy", None), ("Si", (19.712, 19.916))),
        tiling=(14, 8), energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # The hard cases: light substitutions, whose contrast is a fraction of Si's. N (Z 7)
    # and B (Z 5) on the centre atom of the demo's sheet: the ADF on the dopant is
    # +40 % (N) and -16 % (B) of a carbon's (36-48 mrad, computed). Same geometry as the
    # demo, so each dopant is 4.75 Å or more inside the 10 x 10 Å window.
    "graphene-n": dict(
        system="graphene", defect="N", energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    "graphene-b": dict(
        system="graphene", defect="B", energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # Monolayer hexagonal BN (a = 2.504 Å, B-N 1.446 Å), a binary honeycomb: the two
    # sublattices are different elements, so site classes can be scored by species.
    # The demo's geometry; 13 x 8 cells (32.55 x 34.70 Å) is the automatic tiling,
    # written out so that the defect sites below stay on the same atoms.
    "hbn-perfect": dict(
        system="hbn", tiling=(13, 8), energy=60e3, semiangle=32.0,
        scan_shape=(40, 40), scan_step=0.25, detector_pixels=64, max_angle=48.0,
    ),
    # A C atom on an N site, the N atom nearest the supercell centre at (16.276, 18.071)
    # Å. C on N rather than on B: it is the weaker contrast of the two (ADF on the site
    # -14 % of an N's, against +34 % of a B's for C on B), so the harder case; both are
    # seen in ADF images of monolayer BN. The window is centred on it (4.75 Å or more).
    "hbn-c": dict(
        system="hbn", defect="C", defect_site=(16.276, 18.071), tiling=(13, 8),
        energy=60e3, semiangle=32.0, scan_shape=(40, 40), scan_step=0.25,
        detector_pixels=64, max_angle=48.0,
    ),
    # A boron vacancy, the common vacancy of BN under the beam, on the B atom at
    # (17.528, 17.348) Å next to the centre; the window is centred on it.
    "hbn-vacancy": dict(
        system="hbn", defect="vacancy", defect_site=(17.528, 17.348), tiling=(13, 8),
        energy=60e3, semiangle=32.0, scan_shape=(40, 40), scan_step=0.25,
        detector_pixels=64, max_angle=48.0,
    ),
    # ZnS along [110] (Zn-S dumbbells 1.35 Å apart along y), 5 cells (19.1 Å) thick;
    # one 3.825 x 5.409 Å cell scanned at 0.2 Å steps, periodic.
    "zns-110": dict(
        system="zns", zone_axis="110", thickness=5, energy=60e3, semiangle=32.0,
        scan_region="cell", scan_shape=(27, 19), detector_pixels=64, max_angle=48.0,
    ),
}


def describe_presets() -> list[tuple[str, str]]:
    """(name, one-line summary) of every preset, for ``symbreak simulate --list``."""
    rows = []
    for name, opts in PRESETS.items():
        parts = [f"{k}={v}" for k, v in opts.items()]
        rows.append((name, ", ".join(parts)))
    return rows
