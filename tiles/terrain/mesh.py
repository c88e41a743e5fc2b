"""One terrain tile's mesh: heights sampled on the tile's grid, simplified by delatin to a maximum error.

The grid has `samples` × `samples` points over the tile's lon/lat bounds, row 0 at the north edge; delatin
(`pydelatin`, a greedy insertion TIN after Garland & Heckbert 1995) keeps the grid points needed for the mesh
to stay within `max_error` metres of every sample, always including the corners and enough edge points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydelatin import Delatin

from tiles.terrain.scheme import Bounds


@dataclass(frozen=True)
class TileMesh:
    """Vertices as (lon°, lat°, height m) rows and counter-clockwise (seen from above) triangles."""

    positions: NDArray[np.float64]
    triangles: NDArray[np.uint32]
    bounds: Bounds
    max_error: float


def sample_grid(bounds: Bounds, samples: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lon and lat of the tile's sample grid, both (samples, samples), row 0 north."""
    west, south, east, north = bounds
    lon = np.linspace(west, east, samples)
    lat = np.linspace(north, south, samples)
    return np.meshgrid(lon, lat)


def build_tile_mesh(heights: NDArray[np.floating], bounds: Bounds, max_error: float) -> TileMesh:
    """The simplified mesh of a tile from its sampled heights (rows north → south, no NaN)."""
    grid = np.ascontiguousarray(heights, dtype=np.float32)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] < 2:
        raise ValueError("a tile's heights are a square grid of at least 2 × 2 samples")
    if not np.isfinite(grid).all():
        raise ValueError("a tile's heights must all be finite")
    last = grid.shape[0] - 1
    tin = Delatin(grid, max_error=float(max_error))
    vertices = tin.vertices
    col = np.rint(vertices[:, 0]).astype(np.int64)
    up = np.rint(vertices[:, 1]).astype(np.int64)  # delatin's y grows northwards: row = last - y
    west, south, east, north = bounds
    positions = np.column_stack([west + col / last * (east - west), south + up / last * (north - south),
                                 np.asarray(heights, dtype=np.float64)[last - up, col]])
    triangles: NDArray[np.int64] = tin.triangles.astype(np.int64)
    p = positions[:, :2]
    a, b, c = p[triangles[:, 0]], p[triangles[:, 1]], p[triangles[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    wound = np.where(cross[:, None] < 0, triangles[:, ::-1], triangles).astype(np.int64)
    ordered, renumbered = in_first_use_order(positions, wound)
    return TileMesh(ordered, renumbered, bounds, float(max_error))


def in_first_use_order(positions: NDArray[np.float64], triangles: NDArray[np.int64]
                       ) -> tuple[NDArray[np.float64], NDArray[np.uint32]]:
    """Vertices renumbered in the order the triangles first use them, as high-water-mark index coding needs
    (unused vertices dropped)."""
    flat = triangles.ravel()
    _, first = np.unique(flat, return_index=True)
    order = flat[np.sort(first)]
    renumber = np.empty(len(positions), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return positions[order], np.ascontiguousarray(renumber[triangles].astype(np.uint32))
