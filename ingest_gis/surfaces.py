"""Planar polygons with holes over one shared vertex array → triangles wound as the polygons are, flat normals.

A surface is an exterior ring followed by its interior rings (holes), each a list of vertex indices without the
closing point, as CityJSON and CityGML write them. Its normal is the Newell normal of the exterior ring (right
hand around the ring, so a ring counter-clockwise seen from outside gives an outward normal). Triangles and
quadrilaterals are split with numpy for all surfaces at once; every other polygon is projected to its own plane
and triangulated with earcut, holes included. Every triangle is wound like its surface (counter-clockwise seen
from the side its normal points to). Coordinates must be metric and Cartesian (ECEF metres, for instance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mapbox_earcut
import numpy as np
from numpy.typing import NDArray

MIN_AREA = 1e-6  # m²: surfaces smaller than this are degenerate and dropped
MIN_TRIANGLE = 1e-9  # m² (twice the area): slivers from collinear corners are dropped


@dataclass(frozen=True)
class Surfaces:
    """Rings as flat arrays: `corner_vertex[ring_start[r]:ring_start[r + 1]]` are ring r's vertices, and
    `surface_ring[s]` is the first (exterior) ring of surface s."""

    corner_vertex: NDArray[np.int64]
    ring_start: NDArray[np.int64]
    surface_ring: NDArray[np.int64]

    @property
    def count(self) -> int:
        return len(self.surface_ring) - 1


class SurfaceBuilder:
    """Collects surfaces one at a time (cheap Python lists), then freezes them into `Surfaces`."""

    def __init__(self) -> None:
        self._corners: list[int] = []
        self._ring_start = [0]
        self._surface_ring = [0]

    @property
    def count(self) -> int:
        return len(self._surface_ring) - 1

    def add(self, rings: Sequence[Sequence[int]]) -> bool:
        """Add one surface; rings of fewer than three corners are left out, and so is a surface whose exterior
        is such a ring (returns False)."""
        if not rings or len(rings[0]) < 3:
            return False
        for ring in rings:
            if len(ring) >= 3:
                self._corners.extend(ring)
                self._ring_start.append(len(self._corners))
        self._surface_ring.append(len(self._ring_start) - 1)
        return True

    def build(self) -> Surfaces:
        return Surfaces(np.asarray(self._corners, dtype=np.int64), np.asarray(self._ring_start, dtype=np.int64),
                        np.asarray(self._surface_ring, dtype=np.int64))


@dataclass(frozen=True)
class Triangulation:
    """Triangles as corner indices (positions in `Surfaces.corner_vertex`), the surface of each triangle, and
    each surface's unit normal (zero for a degenerate surface, which has no triangles)."""

    triangles: NDArray[np.int64]
    triangle_surface: NDArray[np.int64]
    normals: NDArray[np.float64]

    def flip(self, surfaces: NDArray[np.bool_]) -> Triangulation:
        """The same triangulation with the given surfaces (a mask) turned inside out."""
        flipped = surfaces[self.triangle_surface]
        triangles = np.where(flipped[:, None], self.triangles[:, ::-1], self.triangles)
        return Triangulation(triangles, self.triangle_surface, np.where(surfaces[:, None], -self.normals,
                                                                        self.normals))


def _bases(normals: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per normal n, two unit vectors u, v with u × v = n."""
    axis = np.zeros_like(normals)
    axis[np.arange(len(normals)), np.argmin(np.abs(normals), axis=1)] = 1.0
    u = np.cross(normals, axis)
    u = (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float64)
    return u, np.cross(normals, u).astype(np.float64)


def triangulate(points: NDArray[np.float64], surfaces: Surfaces) -> Triangulation:
    """Triangulate every surface of `surfaces` over `points` (V, 3)."""
    ring_start, surface_ring = surfaces.ring_start, surfaces.surface_ring
    n_rings = len(ring_start) - 1
    corners = points[surfaces.corner_vertex]
    if n_rings == 0:
        return Triangulation(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.zeros((surfaces.count, 3)))
    ring_of = np.repeat(np.arange(n_rings), np.diff(ring_start))
    following = np.arange(len(corners)) + 1
    last = ring_start[1:] - 1
    following[last] = ring_start[:-1]
    first = corners[ring_start[:-1]][ring_of]
    area_vectors = np.add.reduceat(np.cross(corners - first, corners[following] - first), ring_start[:-1]) / 2
    exterior = surface_ring[:-1]
    surface_area = area_vectors[exterior]
    area = np.linalg.norm(surface_area, axis=1)
    valid = area > MIN_AREA
    normals = np.zeros_like(surface_area)
    normals[valid] = surface_area[valid] / area[valid, None]

    single = np.diff(surface_ring) == 1
    size = np.diff(ring_start)[exterior]
    start = ring_start[exterior]
    parts: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
    tri = np.flatnonzero(valid & single & (size == 3))
    parts.append((start[tri, None] + np.arange(3), tri))
    quad = np.flatnonzero(valid & single & (size == 4))
    c = start[quad, None] + np.arange(4)
    p = corners[c]
    n = normals[quad]
    ok = ((np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), n) > 0)
          & (np.einsum("ij,ij->i", np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]), n) > 0))
    split = np.where(ok[:, None, None], c[:, [[0, 1, 2], [0, 2, 3]]], c[:, [[1, 2, 3], [1, 3, 0]]])
    parts.append((split.reshape(-1, 3), np.repeat(quad, 2)))

    rest = np.flatnonzero(valid & ~(single & ((size == 3) | (size == 4))))
    general: list[NDArray[np.int64]] = []
    general_surface: list[NDArray[np.int64]] = []
    if len(rest):
        # every other polygon in its own plane: bases and 2D corners for all at once, earcut one by one
        u, v = _bases(normals[rest])
        corner_start = ring_start[surface_ring]
        counts = corner_start[rest + 1] - corner_start[rest]
        owner = np.repeat(np.arange(len(rest)), counts)
        index = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) \
            + np.repeat(corner_start[rest], counts)
        local = corners[index] - corners[corner_start[rest]][owner]
        flat = np.column_stack([np.einsum("ij,ij->i", local, u[owner]), np.einsum("ij,ij->i", local, v[owner])])
        offsets = np.concatenate([[0], np.cumsum(counts)])
        for k, s in enumerate(rest.tolist()):
            r0, r1 = surface_ring[s], surface_ring[s + 1]
            c0 = ring_start[r0]
            ends = (ring_start[r0 + 1 : r1 + 1] - c0).astype(np.uint32)
            found = mapbox_earcut.triangulate_float64(flat[offsets[k]:offsets[k + 1]], ends)
            general.append(found.astype(np.int64).reshape(-1, 3) + c0)
            general_surface.append(np.full(len(found) // 3, s, dtype=np.int64))
    if general:
        found = np.concatenate(general)
        owner = np.concatenate(general_surface)
        q = corners[found]
        facing = np.einsum("ij,ij->i", np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]), normals[owner])
        parts.append((np.where(facing[:, None] < 0, found[:, ::-1], found), owner))

    triangles = np.concatenate([t for t, _ in parts]).astype(np.int64)
    owner = np.concatenate([o for _, o in parts]).astype(np.int64)
    q = corners[triangles]
    keep = np.linalg.norm(np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]), axis=1) > MIN_TRIANGLE
    order = np.argsort(owner[keep], kind="stable")
    return Triangulation(triangles[keep][order], owner[keep][order], normals)


def inside_out_shells(points: NDArray[np.float64], surfaces: Surfaces, triangulation: Triangulation,
                      surface_shell: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which shells (surface_shell ≥ 0 numbers them; −1 is no shell) enclose a negative volume: their rings
    were written clockwise seen from outside."""
    shells = int(surface_shell.max(initial=-1)) + 1
    if shells == 0:
        return np.zeros(0, dtype=bool)
    shell = surface_shell[triangulation.triangle_surface]
    inside = shell >= 0
    shell = shell[inside]
    q = points[surfaces.corner_vertex[triangulation.triangles[inside]]]
    # cones from the shell's own centre: the sign holds for a shell left open (a solid without its floor) too
    count = np.maximum(np.bincount(shell, minlength=shells), 1) * 3
    centre = np.column_stack([np.bincount(shell, weights=q[:, :, k].sum(axis=1), minlength=shells)
                              for k in range(3)]) / count[:, None]
    q = q - centre[shell][:, None, :]
    volume = np.einsum("ij,ij->i", q[:, 0], np.cross(q[:, 1], q[:, 2])) / 6
    return np.bincount(shell, weights=volume, minlength=shells) < 0
