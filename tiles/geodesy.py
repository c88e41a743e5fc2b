"""WGS84 geodesy for tile frames: geodetic ↔ ECEF and local east-north-up (ENU) frames.

All functions are vectorised over numpy arrays; angles are in degrees, lengths in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_EP2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2

Array = NDArray[np.float64]


def _sines(lon: Array | float, lat: Array | float) -> tuple[Array, Array, Array, Array]:
    """sin λ, cos λ, sin φ, cos φ of longitudes and latitudes in degrees."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    return np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)


def _ecef(sin_lam: Array, cos_lam: Array, sin_phi: Array, cos_phi: Array, height: Array) -> Array:
    h = np.asarray(height, dtype=np.float64)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    return np.stack([(n + h) * cos_phi * cos_lam, (n + h) * cos_phi * sin_lam, (n * (1.0 - WGS84_E2) + h) * sin_phi],
                    axis=-1)


def geodetic_to_ecef(lon: Array, lat: Array, height: Array) -> Array:
    """Convert longitude, latitude (degrees) and ellipsoidal height (m) to ECEF (N, 3)."""
    return _ecef(*_sines(lon, lat), height)


def ecef_to_geodetic(xyz: Array) -> Array:
    """Convert ECEF (N, 3) to (lon, lat, height) with Bowring's method (sub-millimetre on Earth)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    theta = np.arctan2(z * WGS84_A, p * WGS84_B)
    phi = np.arctan2(
        z + WGS84_EP2 * WGS84_B * np.sin(theta) ** 3,
        p - WGS84_E2 * WGS84_A * np.cos(theta) ** 3,
    )
    sin_phi = np.sin(phi)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    cos_phi = np.cos(phi)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(np.abs(cos_phi) > 1e-9, p / cos_phi - n, np.abs(z) - WGS84_B)
    return np.stack([np.degrees(np.arctan2(y, x)), np.degrees(phi), h], axis=-1)


def _vectors_to_ecef(sin_lam: Array, cos_lam: Array, sin_phi: Array, cos_phi: Array,
                     vectors: NDArray[np.floating]) -> Array:
    """Each vector's east, north and up components times the rows of `enu_rotation`, summed in that order."""
    e, n, u = (np.asarray(vectors[:, k], dtype=np.float64) for k in range(3))
    return np.stack([e * -sin_lam + n * (-sin_phi * cos_lam) + u * (cos_phi * cos_lam),
                     e * cos_lam + n * (-sin_phi * sin_lam) + u * (cos_phi * sin_lam),
                     e * 0.0 + n * cos_phi + u * sin_phi], axis=-1)


def local_vectors_to_ecef(lon: Array, lat: Array, vectors: NDArray[np.floating]) -> Array:
    """Vectors given in each point's own east-north-up frame → ECEF axes (N, 3)."""
    return _vectors_to_ecef(*_sines(lon, lat), vectors)


def geodetic_to_ecef_with_vectors(lon: Array, lat: Array, height: Array,
                                  vectors: NDArray[np.floating]) -> tuple[Array, Array]:
    """`geodetic_to_ecef` and `local_vectors_to_ecef` of the same points in one go (the sines computed once)."""
    sines = _sines(lon, lat)
    return _ecef(*sines, height), _vectors_to_ecef(*sines, vectors)


def enu_rotation(lon: Array | float, lat: Array | float) -> Array:
    """Rotation matrices whose rows are the east, north and up unit vectors in ECEF (…, 3, 3)."""
    sl, cl, sp, cp = _sines(lon, lat)
    zero = np.zeros_like(sl)
    east = np.stack([-sl, cl, zero], axis=-1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    up = np.stack([cp * cl, cp * sl, sp], axis=-1)
    return np.stack([east, north, up], axis=-2)


@dataclass(frozen=True)
class EnuFrame:
    """A local east-north-up frame anchored at a geodetic origin."""

    lon: float
    lat: float
    height: float = 0.0

    @cached_property
    def origin_ecef(self) -> Array:
        return geodetic_to_ecef(np.array(self.lon), np.array(self.lat), np.array(self.height))

    @cached_property
    def rotation(self) -> Array:
        return enu_rotation(self.lon, self.lat)

    def from_geodetic(self, lon: Array, lat: Array, height: Array) -> Array:
        """Geodetic coordinates → ENU metres in this frame (N, 3)."""
        return self.from_ecef(geodetic_to_ecef(lon, lat, height))

    def from_ecef(self, xyz: Array) -> Array:
        """ECEF points → ENU metres in this frame (N, 3)."""
        return (xyz - self.origin_ecef) @ self.rotation.T

    def vectors_from_ecef(self, vectors: Array) -> Array:
        """ECEF vectors → this frame's ENU axes (N, 3)."""
        return vectors @ self.rotation.T

    def to_geodetic(self, enu: Array) -> Array:
        """ENU metres in this frame → (lon, lat, height) (N, 3)."""
        return ecef_to_geodetic(np.asarray(enu, dtype=np.float64) @ self.rotation + self.origin_ecef)

    def normals_from_local(self, lon: Array, lat: Array, normals: NDArray[np.floating]) -> Array:
        """Re-express vectors given in each vertex's own ENU frame in this frame's ENU axes."""
        return self.vectors_from_ecef(local_vectors_to_ecef(lon, lat, normals))

    def transform_matrix(self) -> list[float]:
        """Column-major 4×4 ENU→ECEF matrix, as 3D Tiles `transform` wants it."""
        r = self.rotation
        o = self.origin_ecef
        m = np.eye(4)
        m[:3, :3] = r.T  # columns are east, north, up
        m[:3, 3] = o
        return [float(v) for v in m.T.reshape(-1)]
