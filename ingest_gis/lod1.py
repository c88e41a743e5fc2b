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


def _earcut(corners: NDArray[np.float64], corner_ring: NDArray, corner_polygon: NDArray) -> NDArray[np.int64]:
    """Roof triangles of every polygon as global corner indices, counter-clockwise seen from above."""
    polygon_bounds = np.flatnonzero(np.diff(corner_polygon, prepend=-1, append=-1))
    ring_starts = np.flatnonzero(np.diff(corner_ring, prepend=-1))
    cos_lat = np.cos(np.radians(corners[:, 1]))
    triangles = []
    for start, stop in itertools.pairwise(polygon_bounds.tolist()):
        first, last = np.searchsorted(ring_starts, [start, stop])
        ends = np.append(ring_starts[first + 1 : last], stop).astype(np.uint32) - start
        local = (corners[start:stop] - corners[start]) * np.column_stack([cos_lat[start:stop], np.ones(stop - start)])
        triangles.append(mapbox_earcut.triangulate_float64(local, ends).astype(np.int64).reshape(-1, 3) + start)
    tri = np.concatenate(triangles) if triangles else np.zeros((0, 3), np.int64)
    p = corners * np.column_stack([cos_lat, np.ones(len(corners))])
    p0, p1, p2 = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    return np.where(cross[:, None] < 0, tri[:, ::-1], tri)


def _starts(owner: NDArray, count: int) -> NDArray[np.int64]:
    """Where each owner's run begins in an array sorted by owner (length count + 1)."""
    return np.searchsorted(owner, np.arange(count + 1)).astype(np.int64)


def extrude_many(footprints: Sequence[Polygon | MultiPolygon], base: Sequence[float] | NDArray,
                 top: Sequence[float] | NDArray) -> list[Mesh]:
    """Extrude every lon/lat footprint from its base to its top height (metres); one mesh per footprint.

    All buildings share three arrays laid out building by building — roof corners, floor corners, then four
    vertices per wall — and each mesh is a view into them.
    """
    base, top = np.asarray(base, dtype=np.float64), np.asarray(top, dtype=np.float64)
    n = len(footprints)
    if len(base) != n or len(top) != n:
        raise ValueError("one base and one top height per footprint")
    if np.any(top <= base):
        raise ValueError("an extruded solid needs top > base")
    coords, coord_ring, ring_polygon, owner = _clean_rings(footprints)
    building = owner[ring_polygon[coord_ring]]

    # walls: one quad per ring edge of non-zero length
    edge = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
    a, b = coords[edge], coords[edge + 1]
    d = (b - a) * np.column_stack([METRES_PER_DEGREE * np.cos(np.radians(a[:, 1])),
                                   np.full(len(a), METRES_PER_DEGREE)])
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 1e-6
    edge, a, b, d, length = edge[keep], a[keep], b[keep], d[keep], length[keep]
    edge_owner = building[edge]

    # corners: ring vertices without the closing point
    closing = np.ones(len(coords), dtype=bool)
    closing[:-1] = coord_ring[1:] != coord_ring[:-1]
    corners, corner_ring = coords[~closing], coord_ring[~closing]
    corner_owner = building[~closing]
    roof = _earcut(corners, corner_ring, ring_polygon[corner_ring])

    corner_start, edge_start = _starts(corner_owner, n), _starts(edge_owner, n)
    n_corners, n_edges = np.diff(corner_start), np.diff(edge_start)
    if np.any(n_corners == 0):
        raise ValueError(f"footprint {int(np.flatnonzero(n_corners == 0)[0])} has no usable ring")
    vertex_start = np.concatenate([[0], np.cumsum(2 * n_corners + 4 * n_edges)])
    positions = np.empty((int(vertex_start[-1]), 3))
    normals = np.zeros((int(vertex_start[-1]), 3), dtype=np.float32)

    local = np.arange(len(corners)) - corner_start[corner_owner]
    roof_slot = vertex_start[corner_owner] + local
    floor_slot = roof_slot + n_corners[corner_owner]
    positions[roof_slot, :2], positions[roof_slot, 2] = corners, top[corner_owner]
    positions[floor_slot, :2], positions[floor_slot, 2] = corners, base[corner_owner]
    normals[roof_slot, 2], normals[floor_slot, 2] = 1.0, -1.0

    wall_slot = (vertex_start[edge_owner] + 2 * n_corners[edge_owner]
                 + 4 * (np.arange(len(edge)) - edge_start[edge_owner]))
    quad = wall_slot[:, None] + np.arange(4)
    zb, zt = base[edge_owner], top[edge_owner]
    for corner, (xy, z) in enumerate(((a, zb), (b, zb), (b, zt), (a, zt))):
        positions[quad[:, corner], :2], positions[quad[:, corner], 2] = xy, z
    normals[quad, 0] = (d[:, 1] / length)[:, None]  # right of the direction of travel: outward
    normals[quad, 1] = (-d[:, 0] / length)[:, None]

    roof_owner = corner_owner[roof[:, 0]]
    roof_local = roof - corner_start[roof_owner][:, None]
    floor_local = roof_local[:, ::-1] + n_corners[roof_owner][:, None]
    wall_local = ((wall_slot - vertex_start[edge_owner])[:, None, None] + WALL_TRIANGLES).reshape(-1, 3)
    triangles = np.concatenate([roof_local, floor_local, wall_local]).astype(np.uint32)
    order = np.argsort(np.concatenate([roof_owner, roof_owner, np.repeat(edge_owner, 2)]), kind="stable")
    triangles = triangles[order]
    triangle_start = _starts(np.concatenate([roof_owner, roof_owner, np.repeat(edge_owner, 2)])[order], n)

    return [Mesh(positions[vertex_start[i] : vertex_start[i + 1]], normals[vertex_start[i] : vertex_start[i + 1]],
                 triangles[triangle_start[i] : triangle_start[i + 1]]) for i in range(n)]


def extrude(footprint: Polygon | MultiPolygon, base: float, top: float) -> Mesh:
    """Extrude one lon/lat (multi)polygon from `base` to `top` metres into a closed LoD1 mesh."""
    return extrude_many([footprint], [base], [top])[0]
