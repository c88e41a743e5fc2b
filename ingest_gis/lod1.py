"""LoD1 extrusion: a lon/lat footprint with a base and a top height becomes a closed prism mesh.

Walls carry flat outward normals, the roof faces up and the floor down; triangles wind counter-clockwise
seen from outside. Triangulation uses earcut on a local metric projection of the footprint.
"""

from __future__ import annotations

import mapbox_earcut
import numpy as np
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from tiles.model import Mesh

METRES_PER_DEGREE = 6378137.0 * np.pi / 180.0


def _ring(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ring vertices without the closing point and without repeated consecutive points."""
    pts = coords[:-1, :2]
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    return pts[keep]


def _planar(lonlat: NDArray[np.float64], lon0: float, lat0: float) -> NDArray[np.float64]:
    scale = np.array([METRES_PER_DEGREE * np.cos(np.radians(lat0)), METRES_PER_DEGREE])
    return (lonlat - np.array([lon0, lat0])) * scale


def _walls(ring: NDArray[np.float64], planar: NDArray[np.float64], base: float, top: float
           ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.int64]]:
    a, b = ring, np.roll(ring, -1, axis=0)
    pa, pb = planar, np.roll(planar, -1, axis=0)
    d = pb - pa
    length = np.hypot(d[:, 0], d[:, 1])
    ok = length > 1e-6
    a, b, d, length = a[ok], b[ok], d[ok], length[ok]
    n = len(a)
    normal = np.column_stack([d[:, 1] / length, -d[:, 0] / length, np.zeros(n)])
    zb, zt = np.full((n, 1), base), np.full((n, 1), top)
    quad = np.stack([np.hstack([a, zb]), np.hstack([b, zb]), np.hstack([b, zt]), np.hstack([a, zt])], axis=1)
    positions = quad.reshape(-1, 3)
    normals = np.repeat(normal, 4, axis=0).astype(np.float32)
    first = np.arange(n, dtype=np.int64)[:, None] * 4
    triangles = (first + np.array([[0, 1, 2, 0, 2, 3]])).reshape(-1, 3)
    return positions, normals, triangles


def _caps(rings: list[NDArray[np.float64]], planars: list[NDArray[np.float64]], base: float, top: float
          ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.int64]]:
    flat = np.concatenate(planars)
    ends = np.cumsum([len(r) for r in rings]).astype(np.uint32)
    tri = mapbox_earcut.triangulate_float64(flat, ends).astype(np.int64).reshape(-1, 3)
    if len(tri) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    p0, p1, p2 = flat[tri[:, 0]], flat[tri[:, 1]], flat[tri[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    ccw = np.where(cross[:, None] < 0, tri[:, ::-1], tri)
    lonlat = np.concatenate(rings)
    count = len(lonlat)
    positions = np.vstack([np.hstack([lonlat, np.full((count, 1), top)]),
                           np.hstack([lonlat, np.full((count, 1), base)])])
    normals = np.vstack([np.tile([0.0, 0.0, 1.0], (count, 1)), np.tile([0.0, 0.0, -1.0], (count, 1))])
    triangles = np.vstack([ccw, ccw[:, ::-1] + count])
    return positions, normals.astype(np.float32), triangles


def extrude(footprint: Polygon | MultiPolygon, base: float, top: float) -> Mesh:
    """Extrude a lon/lat (multi)polygon from `base` to `top` metres into a closed LoD1 mesh."""
    if top <= base:
        raise ValueError("an extruded solid needs top > base")
    polygons = list(footprint.geoms) if isinstance(footprint, MultiPolygon) else [footprint]
    lon0, lat0 = footprint.centroid.x, footprint.centroid.y
    parts: list[tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.int64]]] = []
    for polygon in polygons:
        polygon = orient(polygon, 1.0)
        rings = [_ring(np.asarray(polygon.exterior.coords))]
        rings += [_ring(np.asarray(hole.coords)) for hole in polygon.interiors]
        rings = [r for r in rings if len(r) >= 3]
        if not rings:
            continue
        planars = [_planar(r, lon0, lat0) for r in rings]
        parts.append(_caps(rings, planars, base, top))
        parts.extend(_walls(r, p, base, top) for r, p in zip(rings, planars, strict=True))
    if not parts:
        raise ValueError("footprint has no usable ring")
    positions, normals, triangles, offset = [], [], [], 0
    for pos, nrm, tri in parts:
        positions.append(pos)
        normals.append(nrm)
        triangles.append(tri + offset)
        offset += len(pos)
    return Mesh(
        np.concatenate(positions).astype(np.float64),
        np.concatenate(normals).astype(np.float32),
        np.concatenate(triangles).astype(np.uint32),
    )
