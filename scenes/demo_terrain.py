"""The demo city's ground: a gentle valley with a closed low point at a street crossing, for water-logging drills.

Heights are metres above the ellipsoid (as every height in the twin) on a 2 m grid in ETRS89 / UTM 32N
(EPSG:25832) covering the district with a margin. In the street grid's own frame (x along the streets of
`scenes.demo_district`, metres from its origin) the valley runs along the street at x = −123 m, 2.5 m deep and
about 130 m wide; it falls gently (0.4 %) towards a closed basin 1 m deeper around the crossing at
(−123 m, −55 m), `LOW_POINT`. The park block, where the demo building stands at 0 m, is a flat terrace at 0 m,
and the margins fade to 0 m so the terrain meets the bare ellipsoid around it without a step.

`demo_terrain()` returns the grid and its GDAL geotransform; the ingest writes it as a GeoTIFF, and other code
(the drills' flood model) may call it for the same ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from scenes.demo_district import BLOCK_H, BLOCK_W, GRID_ANGLE_DEG, METRES_PER_DEGREE, ORIGIN, STREET, _to_lonlat

CRS = "EPSG:25832"
CELL_M = 2.0
HALF_EXTENT = (500.0, 400.0)  # grid-frame metres the terrain reaches from the district's origin
VALLEY_X, VALLEY_DEPTH, VALLEY_WIDTH = -123.0, 2.5, 130.0
LOW_POINT = (-123.0, -55.0)  # grid-frame metres: a street crossing
BASIN_DEPTH, BASIN_RADIUS = 1.0, 40.0
FALL = 0.004  # along the valley towards the basin
PARK = (BLOCK_W / 2, -(BLOCK_H + STREET) / 2 + BLOCK_H / 2, BLOCK_W / 2 + 6.0, BLOCK_H / 2 + 6.0)  # centre, halves
TERRACE_BLEND_M, MARGIN_FADE_M = 40.0, 80.0


@dataclass(frozen=True)
class DemoTerrain:
    """Heights (rows north → south), GDAL geotransform (x0, dx, 0, y0, 0, −dy) and CRS of the demo ground."""

    heights: NDArray[np.float64]
    geotransform: tuple[float, float, float, float, float, float]
    crs: str = CRS


def _smoothstep(t: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def grid_frame(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lon/lat → the district's street-grid frame (metres), the inverse of its placement."""
    angle = math.radians(GRID_ANGLE_DEG)
    lon0, lat0 = ORIGIN
    e = (lon - lon0) * METRES_PER_DEGREE * math.cos(math.radians(lat0))
    n = (lat - lat0) * METRES_PER_DEGREE
    return e * math.cos(angle) + n * math.sin(angle), -e * math.sin(angle) + n * math.cos(angle)


def height_in_grid_frame(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The demo ground at street-grid coordinates (metres)."""
    lx, ly = LOW_POINT
    valley = -VALLEY_DEPTH * np.exp(-(((x - VALLEY_X) / VALLEY_WIDTH) ** 2))
    along = FALL * np.sqrt((y - ly) ** 2 + 50.0**2) - FALL * 50.0
    basin = -BASIN_DEPTH * np.exp(-((x - lx) ** 2 + (y - ly) ** 2) / (2 * BASIN_RADIUS**2))
    px, py, hx, hy = PARK
    outside_park = np.hypot(np.maximum(np.abs(x - px) - hx, 0), np.maximum(np.abs(y - py) - hy, 0))
    terrace = 1.0 - _smoothstep(outside_park / TERRACE_BLEND_M)
    to_edge = np.minimum(HALF_EXTENT[0] - np.abs(x), HALF_EXTENT[1] - np.abs(y))
    return (valley + along + basin) * (1.0 - terrace) * _smoothstep(to_edge / MARGIN_FADE_M)


def demo_terrain(cell_m: float = CELL_M) -> DemoTerrain:
    """The demo ground on a north-up UTM grid of `cell_m` cells covering the district and its margin."""
    corners = [(sx * HALF_EXTENT[0], sy * HALF_EXTENT[1]) for sx in (-1, 1) for sy in (-1, 1)]
    lonlat = np.array(_to_lonlat(corners, math.radians(GRID_ANGLE_DEG)))
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    ex, ny = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
    x0, x1 = math.floor(min(ex) / cell_m) * cell_m, math.ceil(max(ex) / cell_m) * cell_m
    y0, y1 = math.floor(min(ny) / cell_m) * cell_m, math.ceil(max(ny) / cell_m) * cell_m
    cols, rows = round((x1 - x0) / cell_m), round((y1 - y0) / cell_m)
    xs = x0 + (np.arange(cols) + 0.5) * cell_m
    ys = y1 - (np.arange(rows) + 0.5) * cell_m
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(gx, gy)
    fx, fy = grid_frame(np.asarray(lon), np.asarray(lat))
    return DemoTerrain(np.round(height_in_grid_frame(fx, fy), 3), (x0, cell_m, 0.0, y1, 0.0, -cell_m))


def low_point() -> tuple[float, float]:
    """Lon/lat of the valley's low point, where water gathers."""
    (lon, lat), = _to_lonlat([LOW_POINT], math.radians(GRID_ANGLE_DEG))
    return lon, lat
