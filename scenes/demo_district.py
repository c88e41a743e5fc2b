"""A procedural demo district: perimeter blocks on a slightly rotated street grid, a park, a few towers.

Everything is generated from a seed, so the same call gives the same city; nothing is copied from real data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ORIGIN = (8.4330, 49.0960)  # lon, lat: open fields north of Karlsruhe, where the demo city is placed
GRID_ANGLE_DEG = 12.0  # the street grid is turned this far counter-clockwise from east
BLOCK_W, BLOCK_H, STREET = 96.0, 74.0, 18.0
METRES_PER_DEGREE = 6378137.0 * math.pi / 180.0
STREETS = ("Lindenallee", "Hafenstraße", "Kastanienweg", "Marktgasse", "Ringstraße", "Uferstraße", "Parkweg")
USES = ("residential", "residential", "residential", "commercial", "office", "mixed")


def _to_lonlat(points: list[tuple[float, float]], angle: float) -> list[list[float]]:
    c, s = math.cos(angle), math.sin(angle)
    lon0, lat0 = ORIGIN
    out = []
    for x, y in points:
        e, n = x * c - y * s, x * s + y * c
        out.append([round(lon0 + e / (METRES_PER_DEGREE * math.cos(math.radians(lat0))), 8),
                    round(lat0 + n / METRES_PER_DEGREE, 8)])
    return out


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def _row(rng: np.random.Generator, start: float, end: float) -> list[tuple[float, float]]:
    """Split a block side into building frontages (start, end) with occasional gaps."""
    spans, x = [], start
    while end - x > 8:
        width = float(min(rng.uniform(11, 24), end - x))
        if rng.random() > 0.08:
            spans.append((x, x + width))
        x += width + (rng.uniform(2, 6) if rng.random() < 0.2 else 0.0)
    return spans


def generate_district(blocks_x: int = 6, blocks_y: int = 5, seed: int = 7) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326) of building footprints with heights, levels and uses."""
    rng = np.random.default_rng(seed)
    angle = math.radians(GRID_ANGLE_DEG)
    block_w, block_h, street = BLOCK_W, BLOCK_H, STREET
    park = (blocks_x // 2, blocks_y // 2)
    features: list[dict[str, Any]] = []

    def add(ring: list[tuple[float, float]], holes: list[list[tuple[float, float]]], props: dict[str, Any]) -> None:
        coordinates = [_to_lonlat(ring, angle)] + [_to_lonlat(h, angle) for h in holes]
        features.append({"type": "Feature", "id": f"b{len(features) + 1:04d}", "properties": props,
                         "geometry": {"type": "Polygon", "coordinates": coordinates}})

    for bx in range(blocks_x):
        for by in range(blocks_y):
            if (bx, by) == park:
                continue
            x0 = (bx - blocks_x / 2) * (block_w + street)
            y0 = (by - blocks_y / 2) * (block_h + street)
            x1, y1 = x0 + block_w, y0 + block_h
            street_name = STREETS[(bx + by) % len(STREETS)]
            base_levels = int(rng.integers(3, 7))
            if (bx + 2 * by) % 7 == 3:  # one courtyard building for the whole block
                levels = base_levels + 1
                add(_rect(x0, y0, x1, y1), [_rect(x0 + 16, y0 + 16, x1 - 16, y1 - 16)[::-1]],
                    {"name": f"{street_name} Hof", "use": "residential", "levels": levels,
                     "height": round(levels * 3.2 + 1.5, 1), "address": f"{street_name} {bx + 1}"})
                continue
            depth = float(rng.uniform(11, 15))
            sides = [
                [(a, y0, b, y0 + depth) for a, b in _row(rng, x0, x1)],
                [(a, y1 - depth, b, y1) for a, b in _row(rng, x0, x1)],
                [(x0, a, x0 + depth, b) for a, b in _row(rng, y0 + depth, y1 - depth)],
                [(x1 - depth, a, x1, b) for a, b in _row(rng, y0 + depth, y1 - depth)],
            ]
            for number, (ax, ay, cx, cy) in enumerate((r for side in sides for r in side), start=1):
                levels = int(np.clip(base_levels + rng.integers(-1, 2), 2, 9))
                props: dict[str, Any] = {"use": USES[int(rng.integers(len(USES)))], "levels": levels,
                                         "address": f"{street_name} {number}",
                                         "year_built": int(rng.integers(1890, 2024))}
                if rng.random() < 0.85:  # some buildings carry only levels, as in real data
                    props["height"] = round(levels * 3.1 + float(rng.uniform(0.5, 2.5)), 1)
                add(_rect(ax, ay, cx, cy), [], props)
            if rng.random() < 0.25:  # a tower in the block's yard
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                levels = int(rng.integers(12, 24))
                add(_rect(cx - 11, cy - 11, cx + 11, cy + 11), [],
                    {"name": f"Turm {street_name}", "use": "office", "levels": levels,
                     "height": round(levels * 3.6, 1), "address": f"{street_name} 100"})
    return {"type": "FeatureCollection", "name": "demo-district", "features": features}


def park_centre(blocks_x: int = 6, blocks_y: int = 5) -> tuple[float, float]:
    """Lon/lat of the middle of the district's park block, where the demo building stands."""
    bx, by = blocks_x // 2, blocks_y // 2
    x = (bx - blocks_x / 2) * (BLOCK_W + STREET) + BLOCK_W / 2
    y = (by - blocks_y / 2) * (BLOCK_H + STREET) + BLOCK_H / 2
    (lon, lat), = _to_lonlat([(x, y)], math.radians(GRID_ANGLE_DEG))
    return lon, lat
