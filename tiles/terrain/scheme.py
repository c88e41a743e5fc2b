"""Cesium's geographic tiling scheme for quantized-mesh terrain (EPSG:4326, TMS rows from the south).

Level 0 has two tiles of 180° × 180° (x = 0 west, x = 1 east); each level halves the span. Cesium expects the
geometric error of a level-`z` tile to be about `level_error(z)` (its estimate for a 65-sample heightmap on two
level-0 tiles), so meshes are simplified to half of that (`mesh_error`): what Cesium draws from a tile is then
within a pixel of what it assumes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

WGS84_A = 6378137.0
TILE_SAMPLES = 65  # samples per tile side; delatin keeps those the mesh error needs
METRES_PER_DEGREE_LAT = 111_320.0
MIN_MESH_ERROR_M = 0.05
LAYER_TYPE = "application/json"
QUANTIZED_MESH_TYPE = "application/vnd.quantized-mesh"
Bounds = tuple[float, float, float, float]  # west, south, east, north (degrees)


@dataclass(frozen=True)
class TileRange:
    """Tiles `start_x..end_x` × `start_y..end_y` (inclusive, TMS y) of one level."""

    start_x: int
    start_y: int
    end_x: int
    end_y: int

    def tiles(self) -> Iterator[tuple[int, int]]:
        for x in range(self.start_x, self.end_x + 1):
            for y in range(self.start_y, self.end_y + 1):
                yield x, y

    @property
    def count(self) -> int:
        return (self.end_x - self.start_x + 1) * (self.end_y - self.start_y + 1)

    def as_json(self) -> dict[str, int]:
        return {"startX": self.start_x, "startY": self.start_y, "endX": self.end_x, "endY": self.end_y}


def tile_span(level: int) -> float:
    """Degrees of longitude (and latitude) a tile of `level` spans."""
    return 180.0 / 2**level


def tile_bounds(level: int, x: int, y: int) -> Bounds:
    span = tile_span(level)
    return (-180.0 + x * span, -90.0 + y * span, -180.0 + (x + 1) * span, -90.0 + (y + 1) * span)


def tiles_covering(level: int, bounds: Bounds) -> TileRange:
    """The tiles of `level` that a lon/lat box touches (all of level 0: Cesium needs both root tiles)."""
    if level == 0:
        return TileRange(0, 0, 1, 0)
    west, south, east, north = bounds
    span = tile_span(level)
    last_x, last_y = 2 ** (level + 1) - 1, 2**level - 1

    def index(value: float, origin: float, last: int) -> int:
        return min(max(math.floor((value - origin) / span), 0), last)

    return TileRange(index(west, -180.0, last_x), index(south, -90.0, last_y),
                     index(east, -180.0, last_x), index(north, -90.0, last_y))


def level_error(level: int) -> float:
    """Cesium's geometric error of a terrain tile at `level`, in metres."""
    return WGS84_A * 2 * math.pi * 0.25 / (TILE_SAMPLES * 2) / 2**level


def mesh_error(level: int) -> float:
    """The largest vertical error (m) a level's meshes may have against the DEM."""
    return max(level_error(level) / 2, MIN_MESH_ERROR_M)


def max_zoom_for_cell(cell_m: float, limit: int = 20) -> int:
    """The first level whose samples are no further apart than the DEM's cells (north–south metres)."""
    for level in range(limit + 1):
        if tile_span(level) * METRES_PER_DEGREE_LAT / (TILE_SAMPLES - 1) <= cell_m:
            return level
    return limit


def layer_document(name: str, bounds: Bounds, available: Sequence[TileRange], *, version: str,
                   description: str = "", attribution: str = "") -> bytes:
    """`layer.json` as CesiumTerrainProvider reads it: format, TMS tile URL template with the version, EPSG:4326,
    the octvertexnormals extension and per level the tile ranges that exist."""
    document: dict[str, Any] = {
        "tilejson": "2.1.0", "name": name, "description": description, "version": version,
        "format": "quantized-mesh-1.0", "attribution": attribution, "scheme": "tms",
        "tiles": ["{z}/{x}/{y}.terrain?v={version}"], "projection": "EPSG:4326",
        "bounds": [round(v, 9) for v in bounds], "minzoom": 0, "maxzoom": len(available) - 1,
        "extensions": ["octvertexnormals"],
        "available": [[r.as_json()] for r in available],
    }
    return orjson.dumps(document)
