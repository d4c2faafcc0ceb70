"""Specimens for the simulations: graphene, hexagonal boron nitride (hBN) and ZnS
zincblende from ASE, a user's structure file, and point defects (vacancy, divacancy,
substitution).

Every specimen is an orthogonal, periodic supercell in Å with the beam along z; x and y
are the scan axes. Each atom carries a site label (graphene sublattice ``A``/``B``, the
element for hBN, ZnS and user files, ``dopant``, ``next-to-defect``) kept in the
``site_label`` array of the ASE atoms.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import abtem
import ase
import ase.build
import ase.data
import ase.io
import numpy as np

from ..errors import SettingsError
from .settings import DEFECT_KINDS, SYSTEMS, ZONE_AXES  # noqa: F401  (defined there)

GRAPHENE_A = 2.464  # lattice constant [Å]; rectangular cell 4.268 x 2.464 Å (the paper's)
GRAPHENE_CELL_Z = 2.0  # slab thickness of the paper's cell [Å]
HBN_A = 2.504  # monolayer hexagonal BN lattice constant [Å]; B-N bond a/sqrt(3) = 1.446 Å
ZNS_A = 5.4093  # zincblende ZnS lattice constant [Å]
NEIGHBOUR_FACTOR = 1.2  # atoms within 1.2 x the nearest-neighbour distance of a defect


@dataclasses.dataclass(frozen=True)
class Specimen:
    """An orthogonal periodic supercell and what is known about it.

    Attributes
    ----------
    atoms
        ASE atoms of the supercell [Å], with per-atom array ``site_label`` (str).
    unit_cell
        (y, x) size of the rectangular unit cell that tiles the supercell [Å].
    tiling
        (y, x) number of unit cells in the supercell.
    defects
        One row per defect site: (y [Å], x [Å], kind) with kind in
        ``vacancy``/``divacancy``/``substitution``.
    """

    atoms: ase.Atoms
    unit_cell: tuple[float, float]
    tiling: tuple[int, int]
    defects: tuple[tuple[float, float, str], ...] = ()

    @property
    def extent(self) -> tuple[float, float]:
        """(y, x) size of the supercell [Å]."""
        lengths = self.atoms.cell.lengths()
        return (float(lengths[1]), float(lengths[0]))


def graphene_cell() -> ase.Atoms:
    """The 4-atom rectangular graphene cell 4.268 (x) x 2.464 (y) x 2.0 (z) Å, sublattices
    labelled ``A`` and ``B``."""
    return _honeycomb_cell("C2", GRAPHENE_A, ("A", "B"))


def hbn_cell() -> ase.Atoms:
    """The 4-atom rectangular hexagonal BN monolayer cell 4.337 (x) x 2.504 (y) x 2.0 (z)
    Å, built like :func:`graphene_cell` with B and N on its two sublattices, each atom
    labelled by its element."""
    return _honeycomb_cell("BN", HBN_A, ("B", "N"))


def _honeycomb_cell(formula: str, a: float, labels: tuple[str, str]) -> ase.Atoms:
    """The orthogonal cell a*sqrt(3) (x) x a (y) of a honeycomb monolayer ``formula``
    (two atoms), the atoms of its two sublattices labelled ``labels``."""
    hexagonal = ase.build.graphene(formula=formula, a=a, vacuum=GRAPHENE_CELL_Z / 2)
    hexagonal.set_tags([0, 1])
    rect = abtem.orthogonalize_cell(hexagonal)
    # ASE's orthogonal cell is a (x) x a*sqrt(3) (y); swap x and y to match the paper
    lengths = rect.cell.lengths()
    positions = rect.positions[:, [1, 0, 2]]
    cell = ase.Atoms(
        rect.get_chemical_symbols(),
        positions=positions,
        cell=[lengths[1], lengths[0], lengths[2]],
        pbc=True,
    )
    cell.wrap()
    cell.new_array("site_label", np.array([labels[t] for t in rect.get_tags()]))
    return cell


def zincblende_cell(zone_axis: str = "001", a: float = ZNS_A) -> ase.Atoms:
    """The orthogonal ZnS zincblende cell with ``zone_axis`` along z.

    ``001``: the cubic cell a x a x a (8 atoms). ``110``: x along [1-10], y along [001],
    z along [110]; a/sqrt(2) x a x a/sqrt(2) (4 atoms), Zn-S dumbbells along y.
    """
    cubic = ase.build.bulk("ZnS", "zincblende", a=a, cubic=True)
    if zone_axis == "001":
        cell = cubic
    else:
        s = 1 / math.sqrt(2)
        rotation = np.array([[s, -s, 0.0], [0.0, 0.0, 1.0], [s, s, 0.0]])
        lengths = np.array([a * s, a, a * s])
        big = cubic * (3, 3, 3)
        positions = big.positions @ rotation.T
        fractional = positions / lengths
        keep = _unique_fractional(fractional)
        cell = ase.Atoms(
            np.array(big.get_chemical_symbols())[keep].tolist(),
            scaled_positions=np.mod(fractional[keep], 1.0),
            cell=lengths,
            pbc=True,
        )
    cell.new_array("site_label", np.array(cell.get_chemical_symbols()))
    return cell


def _unique_fractional(fractional: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    wrapped = np.mod(np.round(fractional / tol) * tol, 1.0)
    wrapped[np.isclose(wrapped, 1.0, atol=tol)] = 0.0
    _, index = np.unique(np.round(wrapped, 5), axis=0, return_index=True)
    return np.sort(index)


def read_structure(path: str | Path) -> ase.Atoms:
    """A user's structure (any format ``ase.io.read`` knows), made orthogonal for abTEM."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(
            f"structure file {str(path)!r} does not exist; give graphene, hbn, zns or a path "
            "to a file ASE can read (.cif, .xyz, POSCAR ...)"
        )
    try:
        atoms = ase.io.read(path)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise SettingsError(f"ASE cannot read structure file {str(path)!r}: {exc}") from None
    if not np.all(atoms.cell.lengths() > 0):
        raise SettingsError(
            f"structure {str(path)!r} has no full 3-D cell {atoms.cell.lengths().tolist()}; "
            "set a periodic cell (e.g. with vacuum) before simulating"
        )
    try:
        atoms = abtem.orthogonalize_cell(atoms)
    except Exception as exc:  # abTEM's failure to find an orthogonal cell
        raise SettingsError(
            f"cannot make the cell of {str(path)!r} orthogonal with z as the beam: {exc}"
        ) from None
    atoms.pbc = True
    atoms.wrap()
    atoms.new_array("site_label", np.array(atoms.get_chemical_symbols()))
    return atoms


def supercell(cell: ase.Atoms, tiling: tuple[int, int], repeat_z: int = 1) -> ase.Atoms:
    """Tile ``cell`` (tiling is (y, x)) and keep the per-atom site labels."""
    ty, tx = tiling
    atoms = cell * (tx, ty, repeat_z)
    return atoms


def nearest_neighbour_distance(cell: ase.Atoms) -> float:
    """Shortest projected (x, y) distance between two atoms of the periodic ``cell`` [Å]."""
    big = cell * (3, 3, 1)
    xy = big.positions[:, :2]
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    d = d[d > 1e-3]
    return float(d.min())


def projected_distances(points_yx: np.ndarray, atoms_yx: np.ndarray,
                        extent: tuple[float, float]) -> np.ndarray:
    """Minimum-image (periodic) distances [Å] between points (n, 2) and atoms (m, 2), all
    as (y, x) in a supercell of ``extent`` (y, x) [Å]; shape (n, m)."""
    delta = points_yx[:, None, :] - atoms_yx[None, :, :]
    size = np.asarray(extent, dtype=float)
    delta -= size * np.round(delta / size)
    return np.hypot(delta[..., 0], delta[..., 1])


def site_index(atoms: ase.Atoms, site, extent: tuple[float, float]) -> int:
    """Index of the atom chosen by ``site``: an index, a (y, x) position [Å] (nearest atom
    in projection), or None for the atom nearest the supercell centre."""
    n = len(atoms)
    if site is None:
        site = (extent[0] / 2, extent[1] / 2)
    if isinstance(site, (int, np.integer)) and not isinstance(site, bool):
        if not 0 <= site < n:
            raise SettingsError(
                f"defect_site {site} is not an atom index of the supercell (0 .. {n - 1}); "
                "give an index in range or a (y, x) position in Å"
            )
        return int(site)
    try:
        y, x = (float(v) for v in site)
    except (TypeError, ValueError):
        raise SettingsError(
            f"defect_site must be an atom index or a (y, x) position [Å], got {site!r}"
        ) from None
    if not (0 <= y < extent[0] and 0 <= x < extent[1]):
        raise SettingsError(
            f"defect_site (y, x) = ({y:g}, {x:g}) Å is outside the supercell "
            f"[0, {extent[0]:.4g}) x [0, {extent[1]:.4g}) Å; give a position inside it"
        )
    yx = atoms.positions[:, [1, 0]]
    return int(np.argmin(projected_distances(np.array([[y, x]]), yx, extent)[0]))


def add_defect(specimen: Specimen, kind: str, site, element: str | None = None) -> Specimen:
    """Return ``specimen`` with a vacancy, a divacancy (the site and its nearest neighbour)
    or a substitution of the site by ``element``; neighbours are relabelled."""
    atoms = specimen.atoms.copy()
    extent = specimen.extent
    index = site_index(atoms, site, extent)
    yx = atoms.positions[:, [1, 0]]
    dist = projected_distances(yx[index : index + 1], yx, extent)[0]
    nn = float(dist[dist > 1e-3].min())
    labels = atoms.arrays["site_label"].astype(object)
    if kind == "substitution":
        sites = [index]
        atoms.numbers[index] = ase.data.atomic_numbers[element]
    elif kind == "vacancy":
        sites = [index]
    else:
        dist_self = dist.copy()
        dist_self[index] = np.inf
        sites = [index, int(np.argmin(dist_self))]
    removed = np.zeros(len(atoms), bool)
    near = np.zeros(len(atoms), bool)
    for s in sites:
        d = projected_distances(yx[s : s + 1], yx, extent)[0]
        near |= (d > 1e-3) & (d <= NEIGHBOUR_FACTOR * nn)
    near[sites] = False
    labels[near] = "next-to-defect"
    if kind == "substitution":
        labels[index] = "dopant"
    else:
        removed[sites] = True
    defects = specimen.defects + tuple(
        (float(yx[s, 0]), float(yx[s, 1]), kind) for s in sites
    )
    atoms.arrays["site_label"] = np.array(labels.astype(str))
    atoms = atoms[~removed]
    return dataclasses.replace(specimen, atoms=atoms, defects=defects)


