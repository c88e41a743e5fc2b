"""A DEM as a regular grid of heights and bilinear sampling from it, NaN where it has no data.

The geotransform is GDAL's six numbers (x0, dx, 0, y0, 0, dy) of an axis-aligned grid; a cell's value stands at
its centre. Between centres heights are bilinear; a point within the outer half cell takes the edge cells'
values; outside the grid the answer is NaN. A neighbour without data gives no weight (the others are
reweighted), so holes shrink by at most a cell and never turn into spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Lookup = Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64]]
"""`lookup(rows, cols)`: the heights of those cells (NaN where there is no data)."""


@dataclass(frozen=True)
class GridFrame:
    """Where a grid of `rows` × `cols` cells lies in its CRS."""

    geotransform: tuple[float, float, float, float, float, float]
    rows: int
    cols: int

    def __post_init__(self) -> None:
        _, dx, rx, _, ry, dy = self.geotransform
        if rx or ry:
            raise ValueError("rotated grids are not supported: warp the DEM to a north-up grid first")
        if dx == 0 or dy == 0:
            raise ValueError("a grid cell has no size")

    def cell_position(self, x: NDArray[np.float64], y: NDArray[np.float64]
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Fractional (row, col) of CRS coordinates, 0 at the first cell's centre."""
        x0, dx, _, y0, _, dy = self.geotransform
        return (np.asarray(y, dtype=np.float64) - y0) / dy - 0.5, (np.asarray(x, dtype=np.float64) - x0) / dx - 0.5

    def extent(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of the grid's outer edges."""
        x0, dx, _, y0, _, dy = self.geotransform
        xs, ys = (x0, x0 + dx * self.cols), (y0, y0 + dy * self.rows)
        return min(xs), min(ys), max(xs), max(ys)


def bilinear(frame: GridFrame, lookup: Lookup, x: NDArray[np.float64], y: NDArray[np.float64]
             ) -> NDArray[np.float64]:
    """Heights at CRS points `x`, `y` (any shape): bilinear between cell centres, NaN outside or without data."""
    row, col = frame.cell_position(np.ravel(x), np.ravel(y))
    inside = (row >= -0.5) & (row <= frame.rows - 0.5) & (col >= -0.5) & (col <= frame.cols - 0.5)
    out = np.full(row.shape, np.nan)
    if not inside.any():
        return out.reshape(np.shape(x))
    r = np.clip(row[inside], 0, frame.rows - 1)
    c = np.clip(col[inside], 0, frame.cols - 1)
    r0 = np.minimum(np.floor(r).astype(np.int64), frame.rows - 2)
    c0 = np.minimum(np.floor(c).astype(np.int64), frame.cols - 2)
    fr, fc = r - r0, c - c0
    rows = np.concatenate([r0, r0, r0 + 1, r0 + 1])
    cols = np.concatenate([c0, c0 + 1, c0, c0 + 1])
    values = lookup(rows, cols).reshape(4, -1)
    weights = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc])
    weights = np.where(np.isnan(values), 0.0, weights)
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[inside] = np.where(total > 1e-12, np.nansum(values * weights, axis=0) / total, np.nan)
    return out.reshape(np.shape(x))


def array_lookup(heights: NDArray[np.floating]) -> Lookup:
    """The lookup of a grid held in memory."""
    return lambda rows, cols: np.asarray(heights[rows, cols], dtype=np.float64)
