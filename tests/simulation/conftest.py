"""Small simulations shared by the simulation tests (computed once per session)."""

import numpy as np
import pytest
from scipy import ndimage

import symbreak


def rotate_pattern(pattern, degrees, center):
    """``pattern`` rotated by ``degrees`` about ``center`` (ky, kx) [px], bilinear."""
    t = np.deg2rad(degrees)
    n0, n1 = pattern.shape
    yy, xx = np.mgrid[:n0, :n1].astype(float)
    yy -= center[0]
    xx -= center[1]
    ys = center[0] + np.cos(t) * yy - np.sin(t) * xx
    xs = center[1] + np.sin(t) * yy + np.cos(t) * xx
    return ndimage.map_coordinates(pattern, [ys, xs], order=1, mode="constant")


def radial_average(pattern, center):
    yy, xx = np.mgrid[: pattern.shape[0], : pattern.shape[1]]
    r = np.round(np.hypot(yy - center[0], xx - center[1])).astype(int)
    profile = np.bincount(r.ravel(), pattern.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    return profile[r]


def asymmetry(pattern, degrees, center, radius):
    """How far ``pattern`` is from being invariant under a rotation by ``degrees``:
    || R(+d/2) P - R(-d/2) P || / || P - radial average of P || inside ``radius`` [px].
    Rotating both ways by half the angle gives both sides the same interpolation blur.
    0 for an invariant pattern; 2 for a pattern whose anisotropy flips sign."""
    yy, xx = np.mgrid[: pattern.shape[0], : pattern.shape[1]]
    mask = np.hypot(yy - center[0], xx - center[1]) < radius
    a = rotate_pattern(pattern, degrees / 2, center)
    b = rotate_pattern(pattern, -degrees / 2, center)
    anisotropy = pattern - radial_average(pattern, center)
    return float(np.linalg.norm((a - b)[mask]) / np.linalg.norm(anisotropy[mask]))


@pytest.fixture(scope="session")
def graphene_sites():
    """Pristine graphene, one cell at 2 x 6 positions: every probe of the grid with
    distance 0 sits on an atom (A at (0, 0), B at (1, 1))."""
    data = symbreak.simulate("graphene", scan_region="cell", scan_shape=(2, 6),
                             detector_pixels=64, max_angle=48.0)
    return data, data.to_numpy()


@pytest.fixture(scope="session")
def graphene_vacancy_sites():
    """A vacancy with the probe grid through the vacant site and its three neighbours."""
    data = symbreak.simulate("graphene-vacancy", scan_shape=(3, 5),
                             scan_step=(1.232, 2.464 / 3**0.5 / 2))
    return data, data.to_numpy()


@pytest.fixture(scope="session")
def asymmetry_of():
    """The :func:`asymmetry` measure (fixtures are how tests here share helpers)."""
    return asymmetry


@pytest.fixture(scope="session")
def radial_average_of():
    return radial_average
