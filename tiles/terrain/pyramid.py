"""A terrain layer from a height sampler: every level's tiles over the coverage, then `layer.json`.

`sample(lon, lat)` answers heights (metres above the ellipsoid) for arrays of points, NaN outside the data;
outside the data the terrain stands at 0 m (the ellipsoid Cesium draws without terrain). Level 0 always has
both of its tiles, as Cesium needs them; deeper levels have the tiles that touch the coverage box, down to
`max_zoom`. Tiles are meshed and encoded on a few threads (delatin and numpy release the GIL); the bytes do not
depend on it. Tile paths are `{z}/{x}/{y}.terrain` (TMS y), named in `layer.json` with the version.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tiles.model import TileBounds, TileEntry
from tiles.terrain.mesh import build_tile_mesh, sample_grid
from tiles.terrain.quantized import encode_tile
from tiles.terrain.scheme import (
    LAYER_TYPE,
    QUANTIZED_MESH_TYPE,
    TILE_SAMPLES,
    Bounds,
    TileRange,
    layer_document,
    mesh_error,
    tile_bounds,
    tiles_covering,
)

Sampler = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]
THREADS = 4


@dataclass(frozen=True)
class TerrainLayer:
    """`layer.json` first, then every tile; per level the tile count, vertices and the mesh error used."""

    entries: list[TileEntry]
    levels: list[dict[str, float]]

    @property
    def tile_count(self) -> int:
        return len(self.entries) - 1


def tile_path(level: int, x: int, y: int) -> str:
    return f"{level}/{x}/{y}.terrain"


def _ring(bounds: Bounds) -> tuple[tuple[float, float], ...]:
    west, south, east, north = bounds
    return ((west, south), (east, south), (east, north), (west, north), (west, south))


def build_tile(sample: Sampler, level: int, x: int, y: int, samples: int = TILE_SAMPLES) -> tuple[TileEntry, int]:
    """One tile's entry and its vertex count."""
    bounds = tile_bounds(level, x, y)
    lon, lat = sample_grid(bounds, samples)
    heights = np.nan_to_num(np.asarray(sample(lon, lat), dtype=np.float64).reshape(lon.shape), nan=0.0)
    mesh = build_tile_mesh(heights, bounds, mesh_error(level))
    z = mesh.positions[:, 2]
    entry = TileEntry(tile_path(level, x, y), encode_tile(mesh), QUANTIZED_MESH_TYPE, level, mesh_error(level),
                      TileBounds(_ring(bounds), float(z.min()), float(z.max())))
    return entry, len(mesh.positions)


def build_terrain(sample: Sampler, coverage: Bounds, max_zoom: int, *, name: str, version: str = "1.0.0",
                  description: str = "", attribution: str = "",
                  on_progress: Callable[[int, int], None] | None = None) -> TerrainLayer:
    """Every tile of levels 0…`max_zoom` over `coverage` (west, south, east, north) and `layer.json`."""
    if not 0 <= max_zoom <= 22:
        raise ValueError("the deepest terrain level must be 0–22")
    ranges: list[TileRange] = [tiles_covering(level, coverage) for level in range(max_zoom + 1)]
    work = [(level, x, y) for level, tile_range in enumerate(ranges) for x, y in tile_range.tiles()]
    entries: list[TileEntry] = []
    vertices = np.zeros(max_zoom + 1, dtype=np.int64)
    with ThreadPoolExecutor(max(1, min(THREADS, os.cpu_count() or 1))) as pool:
        for done, ((level, _, _), (entry, count)) in enumerate(
                zip(work, pool.map(lambda key: build_tile(sample, *key), work), strict=True), start=1):
            entries.append(entry)
            vertices[level] += count
            if on_progress:
                on_progress(done, len(work))
    west, south, east, north = coverage
    zmin = min((e.bounds.zmin for e in entries if e.bounds), default=0.0)
    zmax = max((e.bounds.zmax for e in entries if e.bounds), default=0.0)
    layer = TileEntry("layer.json", layer_document(name, coverage, ranges, version=version,
                                                   description=description, attribution=attribution),
                      LAYER_TYPE, 0, None, TileBounds(_ring((west, south, east, north)), zmin, zmax))
    levels = [{"level": level, "tiles": r.count, "vertices": int(vertices[level]),
               "max_error_m": round(mesh_error(level), 3)} for level, r in enumerate(ranges)]
    return TerrainLayer([layer, *entries], levels)
