"""COM of a small abTEM graphene simulation against abTEM's own centre of mass, and the
sign/axis conventions (COM towards the atoms, no rotation or flip found)."""

import numpy as np
import pytest

import symbreak
from symbreak.classical import com, divergence, icom

abtem = pytest.importorskip("abtem")
ase_build = pytest.importorskip("ase.build")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def simulation():
    abtem.config.set({"device": "cpu"})
    unit = abtem.orthogonalize_cell(ase_build.graphene(a=2.46, vacuum=1.0))
    atoms = unit * (3, 2, 1)
    potential = abtem.Potential(atoms, sampling=0.05, projection="infinite",
                                slice_thickness=2.0)
    probe = abtem.Probe(energy=80e3, semiangle_cutoff=25)
    length = unit.cell.lengths()
    scan = abtem.GridScan(start=(0, 0), end=(length[0], length[1]), sampling=0.25,
                          endpoint=False)
    patterns = probe.scan(potential, scan=scan, detectors=abtem.PixelatedDetector(max_angle=60))
    patterns = patterns.compute(scheduler="threads", progress_bar=False)
    reference = patterns.center_of_mass(units="1/Å").compute().array
    return patterns, reference, unit.positions[:, :2], scan.sampling


def as_symbreak(patterns, scan_sampling):
    # abTEM: (x, y, kx, ky) -> symbreak: (scan_y, scan_x, ky, kx); zero frequency at n // 2
    data = np.transpose(patterns.array, (1, 0, 3, 2))
    nky, nkx = data.shape[2:]
    return symbreak.as_dataset(
        data, energy=80e3, k_sampling=(patterns.sampling[1], patterns.sampling[0]),
        detector_center=(nky // 2, nkx // 2), scan_step=(scan_sampling[1], scan_sampling[0]))


def test_com_matches_abtem(simulation):
    patterns, reference, _, step = simulation
    result = com(as_symbreak(patterns, step), reference="center", units="1/A")
    scale = np.abs(reference).max()
    np.testing.assert_allclose(result.com_x.values, reference.real.T, atol=1e-4 * scale)
    np.testing.assert_allclose(result.com_y.values, reference.imag.T, atol=1e-4 * scale)


def test_com_points_to_atoms_and_no_rotation_is_found(simulation):
    patterns, _, positions, step = simulation
    ds = as_symbreak(patterns, step)
    result = com(ds, units="1/A", rotation="auto")
    angle = (result.attrs["scan_rotation"] + np.pi) % (2 * np.pi) - np.pi
    assert abs(np.degrees(angle)) < 1.0
    assert result.attrs["scan_flip"] is False
    div = divergence(result).values
    phase = icom(result, boundary="periodic").values
    ny, nx = div.shape
    for x, y in positions:
        iy, ix = int(round(y / step[1])) % ny, int(round(x / step[0])) % nx
        assert div[iy, ix] < 0.5 * div.min()
        assert phase[iy, ix] > 0.5 * phase.max()
