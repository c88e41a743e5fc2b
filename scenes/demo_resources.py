"""The demo district's streets and resources: street centre lines along its grid (long lines, not split at the
crossings, as raw OSM ways come), and hydrants, cameras, a fire station, a hospital and shelters beside them."""

from __future__ import annotations

import math
from typing import Any

from scenes.demo_district import BLOCK_H, BLOCK_W, GRID_ANGLE_DEG, STREET, STREETS, _to_lonlat

ANGLE = math.radians(GRID_ANGLE_DEG)


def _lines(blocks_x: int, blocks_y: int) -> tuple[list[float], list[float]]:
    """The x of the north–south streets and the y of the east–west streets (grid metres)."""
    xs = [(bx - blocks_x / 2) * (BLOCK_W + STREET) - STREET / 2 for bx in range(blocks_x + 1)]
    ys = [(by - blocks_y / 2) * (BLOCK_H + STREET) - STREET / 2 for by in range(blocks_y + 1)]
    return xs, ys


def _point(x: float, y: float, **properties: Any) -> dict[str, Any]:
    (lon, lat), = _to_lonlat([(x, y)], ANGLE)
    return {"type": "Feature", "properties": properties, "geometry": {"type": "Point", "coordinates": [lon, lat]}}


def generate_streets(blocks_x: int = 6, blocks_y: int = 5) -> dict[str, Any]:
    """Street centre lines with OSM tags: the outer ring `secondary` at 50, inner streets `residential` at 30,
    every second inner east–west street one-way."""
    xs, ys = _lines(blocks_x, blocks_y)
    features = []
    for i, x in enumerate(xs):
        outer = i in (0, len(xs) - 1)
        features.append({"type": "Feature", "properties": {
            "highway": "secondary" if outer else "residential", "maxspeed": "50" if outer else "30",
            "oneway": "no", "name": STREETS[i % len(STREETS)]},
            "geometry": {"type": "LineString", "coordinates": _to_lonlat([(x, ys[0]), (x, ys[-1])], ANGLE)}})
    for j, y in enumerate(ys):
        outer = j in (0, len(ys) - 1)
        features.append({"type": "Feature", "properties": {
            "highway": "secondary" if outer else "residential", "maxspeed": "50" if outer else "30",
            "oneway": "yes" if not outer and j % 2 else "no", "name": f"{STREETS[(j + 3) % len(STREETS)]} Quer"},
            "geometry": {"type": "LineString", "coordinates": _to_lonlat([(xs[0], y), (xs[-1], y)], ANGLE)}})
    return {"type": "FeatureCollection", "name": "demo-streets", "features": features}


def generate_resources(blocks_x: int = 6, blocks_y: int = 5) -> dict[str, Any]:
    """Hydrants at every crossing, cameras at every other one looking along the street, a fire station, a hospital
    and three shelters at the street side."""
    xs, ys = _lines(blocks_x, blocks_y)
    features = []
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            features.append(_point(x + 5, y + 5, kind="hydrant", id=f"hydrant-{i}-{j}"))
            if (i + j) % 2 == 0:
                heading = (90 - GRID_ANGLE_DEG + 90 * ((i + j) // 2 % 4)) % 360  # along the grid, turning
                features.append(_point(x - 5, y - 5, kind="camera", id=f"camera-{i}-{j}", heading=heading, fov=70,
                                       range_m=120, stream_url=f"rtsp://demo.citytwin.invalid/cam-{i}-{j}"))
    features.append(_point(xs[0] + 4, ys[len(ys) // 2] + 30, kind="fire_station", id="fire-station-1",
                           name="Feuerwache Nord"))
    features.append(_point(xs[-1] - 4, ys[1] + 30, kind="hospital", id="hospital-1", name="Klinikum"))
    for n, (i, j) in enumerate(((1, 1), (3, 4), (5, 2)), start=1):
        features.append(_point(xs[i] + 4, ys[j] + 40, kind="shelter", id=f"shelter-{n}", name=f"Notunterkunft {n}"))
    return {"type": "FeatureCollection", "name": "demo-resources", "features": features}
