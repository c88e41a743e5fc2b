"""Underground network meshes: pipes as tubes along their 3D centre lines, nodes as small shafts or boxes.

A tube has a ring of `SIDES` vertices at every vertex of the centre line, each ring perpendicular to the mean of
the directions of its two segments, and flat end caps; normals point radially out (along the line at the caps).
Geometry is built in a local east-north-up plane at the pipe's first vertex (metres, equirectangular: exact to
millimetres over a pipe's length) and handed back as lon/lat/height with normals in that frame, which is every
vertex's own ENU frame to well under a degree for pipes of a few kilometres.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from tiles.model import Mesh

SIDES = 10
METRES_PER_DEGREE = 6378137.0 * math.pi / 180.0


def _to_local(lonlat: NDArray[np.float64], origin: tuple[float, float]) -> NDArray[np.float64]:
    scale = np.array([METRES_PER_DEGREE * math.cos(math.radians(origin[1])), METRES_PER_DEGREE])
    return (lonlat - np.asarray(origin)) * scale


def _to_lonlat(local: NDArray[np.float64], origin: tuple[float, float]) -> NDArray[np.float64]:
    scale = np.array([METRES_PER_DEGREE * math.cos(math.radians(origin[1])), METRES_PER_DEGREE])
    return local / scale + np.asarray(origin)


def tube(lonlat: NDArray[np.float64], z: NDArray[np.float64], radius: float,
         color: tuple[int, int, int, int] | None = None) -> Mesh:
    """A closed tube of `radius` metres along lon/lat points at heights `z` (at least two distinct points)."""
    origin = (float(lonlat[0, 0]), float(lonlat[0, 1]))
    points = np.column_stack([_to_local(np.asarray(lonlat, dtype=np.float64), origin), np.asarray(z, dtype=np.float64)])
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-6
    points = points[keep]
    if len(points) < 2:
        raise ValueError("a tube needs two distinct points")
    segments = np.diff(points, axis=0)
    segments /= np.linalg.norm(segments, axis=1, keepdims=True)
    tangents = np.vstack([segments[:1], segments[:-1] + segments[1:], segments[-1:]])
    tangents /= np.maximum(np.linalg.norm(tangents, axis=1, keepdims=True), 1e-12)
    up = np.array([0.0, 0.0, 1.0])
    side = np.cross(tangents, up)
    flat = np.linalg.norm(side, axis=1) < 1e-6  # a vertical stretch: any horizontal side will do
    side[flat] = np.array([1.0, 0.0, 0.0])
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    lift = np.cross(side, tangents)
    angles = np.linspace(0.0, 2 * math.pi, SIDES, endpoint=False)
    radial = (np.cos(angles)[None, :, None] * side[:, None, :] + np.sin(angles)[None, :, None] * lift[:, None, :])
    ring = points[:, None, :] + radius * radial  # (rings, SIDES, 3)
    n_rings = len(points)
    positions = [ring.reshape(-1, 3)]
    normals = [radial.reshape(-1, 3)]
    triangles = []
    for r in range(n_rings - 1):
        a = r * SIDES + np.arange(SIDES)
        b = r * SIDES + (np.arange(SIDES) + 1) % SIDES
        c, d = a + SIDES, b + SIDES
        triangles += [np.column_stack([a, b, d]), np.column_stack([a, d, c])]
    base = n_rings * SIDES
    for end, sign, ring_index in ((0, -1.0, 0), (1, 1.0, n_rings - 1)):
        centre = base + end * (SIDES + 1)
        positions += [points[ring_index][None, :], ring[ring_index]]
        normals += [np.repeat(sign * tangents[ring_index][None, :], SIDES + 1, axis=0)]
        rim = centre + 1 + np.arange(SIDES)
        nxt = centre + 1 + (np.arange(SIDES) + 1) % SIDES
        fan = np.column_stack([np.full(SIDES, centre), nxt, rim]) if sign < 0 else \
            np.column_stack([np.full(SIDES, centre), rim, nxt])
        triangles.append(fan)
    local = np.concatenate(positions)
    geo = np.column_stack([_to_lonlat(local[:, :2], origin), local[:, 2]])
    mesh_normals = np.concatenate(normals).astype(np.float32)
    colors = None if color is None else np.tile(np.array(color, dtype=np.uint8), (len(geo), 1))
    return Mesh(geo, mesh_normals, np.ascontiguousarray(np.concatenate(triangles)[:, ::-1]).astype(np.uint32), colors)


def shaft(lon: float, lat: float, bottom: float, top: float, radius: float,
          color: tuple[int, int, int, int] | None = None) -> Mesh:
    """A vertical tube from `bottom` to `top` (a manhole's shaft, a valve's stem)."""
    return tube(np.array([[lon, lat], [lon, lat]]), np.array([bottom, max(top, bottom + 0.05)]), radius, color)
