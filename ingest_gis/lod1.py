"""LoD1 extrusion: lon/lat footprints with base and top heights become closed prism meshes.

Walls carry flat outward normals, roofs face up and floors down; triangles wind counter-clockwise seen from
outside. Walls are computed for a whole layer at once with numpy; roofs and floors are triangulated per polygon
with earcut on a local metric projection.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import mapbox_earcut
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from tiles.model import Mesh

METRES_PER_DEGREE = 6378137.0 * np.pi / 180.0
WALL_TRIANGLES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)
UP = np.array([0.0, 0.0, 1.0], dtype=np.float32)


def _clean_rings(footprints: Sequence[Polygon | MultiPolygon]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Oriented ring coordinates without repeated points: (coords, ring of coord, polygon of ring, owner)."""
    oriented = shapely.orient_polygons(np.asarray(footprints, dtype=object))  # shells CCW, holes CW
    polygons, owner = shapely.get_parts(oriented, return_index=True)
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    repeated = np.zeros(len(coords), dtype=bool)
    repeated[1:] = (coord_ring[1:] == coord_ring[:-1]) & np.all(coords[1:] == coords[:-1], axis=1)
    coords, coord_ring = coords[~repeated], coord_ring[~repeated]
    usable = np.bincount(coord_ring, minlength=len(rings)) >= 4  # three corners and the closing point
    shell = np.ones(len(rings), dtype=bool)
    shell[1:] = ring_polygon[1:] != ring_polygon[:-1]
    usable &= ~np.isin(ring_polygon, ring_polygon[shell & ~usable])  # a polygon without a shell is dropped
    keep = usable[coord_ring]
    return coords[keep], coord_ring[keep], ring_polygon, owner


def _metric(lonlat: NDArray[np.float64], lat0: float) -> NDArray[np.float64]:
    return (lonlat - lonlat[0]) * np.array([METRES_PER_DEGREE * np.cos(np.radians(lat0)), METRES_PER_DEGREE])


def _walls(coords: NDArray, coord_ring: NDArray, building: NDArray, base: NDArray, top: NDArray
           ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.int64]]:
    """Four vertices per ring edge for all buildings; returns positions, normals and the building of each edge."""
    edge = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    a, b = coords[edge], coords[edge + 1]
    d = (b - a) * np.column_stack([METRES_PER_DEGREE * np.cos(np.radians(a[:, 1])),
                                   np.full(len(a), METRES_PER_DEGREE)])
    length = np.hypot(d[:, 0], d[:, 1])
    ok = length > 1e-6
    edge, a, b, d, length = edge[ok], a[ok], b[ok], d[ok], length[ok]
    owner = building[edge]
    zb, zt = base[owner], top[owner]
    positions = np.empty((len(edge), 4, 3))
    positions[:, 0, :2], positions[:, 0, 2] = a, zb
    positions[:, 1, :2], positions[:, 1, 2] = b, zb
    positions[:, 2, :2], positions[:, 2, 2] = b, zt
    positions[:, 3, :2], positions[:, 3, 2] = a, zt
    normals = np.zeros((len(edge), 4, 3), dtype=np.float32)
    normals[:, :, 0] = (d[:, 1] / length)[:, None]  # right of the direction of travel: outward
    normals[:, :, 1] = (-d[:, 0] / length)[:, None]
    return positions.reshape(-1, 3), normals.reshape(-1, 3), owner


def _caps(lonlat: NDArray[np.float64], ring_ends: NDArray[np.uint32], base: float, top: float
          ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.int64]]:
    """Roof and floor of one polygon (rings without closing points, shell first)."""
    flat = _metric(lonlat, float(lonlat[0, 1]))
    tri = mapbox_earcut.triangulate_float64(flat, ring_ends).astype(np.int64).reshape(-1, 3)
    p0, p1, p2 = flat[tri[:, 0]], flat[tri[:, 1]], flat[tri[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    tri = np.where(cross[:, None] < 0, tri[:, ::-1], tri)
    n = len(lonlat)
    positions = np.empty((2 * n, 3))
    positions[:n, :2], positions[:n, 2] = lonlat, top
    positions[n:, :2], positions[n:, 2] = lonlat, base
    normals = np.empty((2 * n, 3), dtype=np.float32)
    normals[:n], normals[n:] = UP, -UP
    return positions, normals, np.vstack([tri, tri[:, ::-1] + n])


def extrude_many(footprints: Sequence[Polygon | MultiPolygon], base: Sequence[float] | NDArray,
                 top: Sequence[float] | NDArray) -> list[Mesh]:
    """Extrude every lon/lat footprint from its base to its top height (metres); one mesh per footprint."""
    base, top = np.asarray(base, dtype=np.float64), np.asarray(top, dtype=np.float64)
    if len(base) != len(footprints) or len(top) != len(footprints):
        raise ValueError("one base and one top height per footprint")
    if np.any(top <= base):
        raise ValueError("an extruded solid needs top > base")
    coords, coord_ring, ring_polygon, owner = _clean_rings(footprints)
    building = owner[ring_polygon[coord_ring]]
    wall_pos, wall_nrm, wall_owner = _walls(coords, coord_ring, building, base, top)
    wall_start = np.searchsorted(wall_owner, np.arange(len(footprints) + 1)) * 4

    caps: list[list[tuple[NDArray, NDArray, NDArray]]] = [[] for _ in footprints]
    closing = np.zeros(len(coords), dtype=bool)
    closing[:-1] = coord_ring[1:] != coord_ring[:-1]
    closing[-1:] = True
    corners, corner_ring = coords[~closing], coord_ring[~closing]
    corner_polygon = ring_polygon[corner_ring]
    bounds = np.flatnonzero(np.diff(corner_polygon, prepend=-1, append=-1))
    for start, stop in itertools.pairwise(bounds):
        rings = corner_ring[start:stop]
        ends = (np.flatnonzero(np.diff(rings, append=-1)) + 1).astype(np.uint32)
        who = int(owner[corner_polygon[start]])
        caps[who].append(_caps(corners[start:stop], ends, float(base[who]), float(top[who])))

    meshes = []
    for i in range(len(footprints)):
        lo, hi = wall_start[i], wall_start[i + 1]
        parts = [*caps[i], (wall_pos[lo:hi], wall_nrm[lo:hi], None)]
        positions, normals, triangles, offset = [], [], [], 0
        for pos, nrm, tri in parts:
            if tri is None:
                tri = (np.arange(len(pos) // 4, dtype=np.int64)[:, None, None] * 4 + WALL_TRIANGLES).reshape(-1, 3)
            positions.append(pos)
            normals.append(nrm)
            triangles.append(tri + offset)
            offset += len(pos)
        if not offset:
            raise ValueError(f"footprint {i} has no usable ring")
        meshes.append(Mesh(np.concatenate(positions), np.concatenate(normals),
                           np.concatenate(triangles).astype(np.uint32)))
    return meshes


def extrude(footprint: Polygon | MultiPolygon, base: float, top: float) -> Mesh:
    """Extrude one lon/lat (multi)polygon from `base` to `top` metres into a closed LoD1 mesh."""
    return extrude_many([footprint], [base], [top])[0]
