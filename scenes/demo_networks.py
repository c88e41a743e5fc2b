"""The demo district's underground: a gas network and a drainage network under its streets.

Gas: a main 3 m beside each street centre line (DN200 on the outer ring, DN100 inside), 1.0 m deep, one pipe per
street stretch between crossings, a valve 6 m into every stretch, and a regulator station feeding the west side.
Drainage: sewers 2 m to the other side of the centre lines (DN600 on the ring, DN400 inside), 2.5 m deep, a
manhole at every crossing, street inlets around the valley's low point (`scenes.demo_terrain.LOW_POINT`) and an
outfall south of the valley. Both are GeoJSON FeatureCollections (EPSG:4326) of pipe lines and node points.
"""

from __future__ import annotations

import math
from typing import Any

from scenes.demo_district import GRID_ANGLE_DEG, _to_lonlat
from scenes.demo_resources import _lines
from scenes.demo_terrain import LOW_POINT

ANGLE = math.radians(GRID_ANGLE_DEG)
GAS_OFFSET, DRAIN_OFFSET, VALVE_INTO = 3.0, -2.0, 6.0
INLET_REACH_M = 150.0


def _line(points: list[tuple[float, float]], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "LineString", "coordinates": _to_lonlat(points, ANGLE)}}


def _node(x: float, y: float, **properties: Any) -> dict[str, Any]:
    (lon, lat), = _to_lonlat([(x, y)], ANGLE)
    return {"type": "Feature", "properties": properties, "geometry": {"type": "Point", "coordinates": [lon, lat]}}


def _stretches(offset: float, blocks_x: int, blocks_y: int
               ) -> list[tuple[str, tuple[float, float], tuple[float, float], bool]]:
    """(id, start, end, on the outer ring) of every street stretch between two crossings, shifted by `offset`."""
    xs, ys = _lines(blocks_x, blocks_y)
    xs, ys = [x + offset for x in xs], [y + offset for y in ys]
    out = []
    for i, x in enumerate(xs):
        for j in range(len(ys) - 1):
            out.append((f"ns-{i}-{j}", (x, ys[j]), (x, ys[j + 1]), i in (0, len(xs) - 1)))
    for j, y in enumerate(ys):
        for i in range(len(xs) - 1):
            out.append((f"ew-{i}-{j}", (xs[i], y), (xs[i + 1], y), j in (0, len(ys) - 1)))
    return out


def generate_gas(blocks_x: int = 6, blocks_y: int = 5) -> dict[str, Any]:
    """Gas mains, their valves and the regulator station."""
    features = []
    for key, (ax, ay), (bx, by), outer in _stretches(GAS_OFFSET, blocks_x, blocks_y):
        features.append(_line([(ax, ay), (bx, by)], id=f"gas-{key}", diameter=0.2 if outer else 0.1, depth=1.0,
                              material="PE" if not outer else "steel"))
        length = math.hypot(bx - ax, by - ay)
        t = VALVE_INTO / length
        features.append(_node(ax + (bx - ax) * t, ay + (by - ay) * t, id=f"valve-{key}", kind="valve"))
    xs, ys = _lines(blocks_x, blocks_y)
    west, middle = xs[0] + GAS_OFFSET, ys[len(ys) // 2] + GAS_OFFSET
    features.append(_line([(west - 25.0, middle), (west, middle)], id="gas-feeder", diameter=0.25, depth=1.2,
                          material="steel"))
    features.append(_node(west - 25.0, middle, id="regulator-west", kind="station", name="Gasdruckregelanlage West"))
    return {"type": "FeatureCollection", "name": "demo-gas", "features": features}


def generate_drainage(blocks_x: int = 6, blocks_y: int = 5) -> dict[str, Any]:
    """Sewers, manholes at the crossings, inlets near the low point and the outfall."""
    features = []
    for key, (ax, ay), (bx, by), outer in _stretches(DRAIN_OFFSET, blocks_x, blocks_y):
        features.append(_line([(ax, ay), (bx, by)], id=f"sewer-{key}", diameter=0.6 if outer else 0.4, depth=2.5))
    xs, ys = _lines(blocks_x, blocks_y)
    lx, ly = LOW_POINT
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            mx, my = x + DRAIN_OFFSET, y + DRAIN_OFFSET
            features.append(_node(mx, my, id=f"manhole-{i}-{j}", kind="manhole"))
            if math.hypot(x - lx, y - ly) <= INLET_REACH_M:  # street inlets joined to the manhole by a lead
                features.append(_node(mx + 5.0, my, id=f"inlet-{i}-{j}", kind="inlet"))
                features.append(_line([(mx + 5.0, my), (mx, my)], id=f"lead-{i}-{j}", diameter=0.15, depth=1.2))
    valley = min(range(len(xs)), key=lambda k: abs(xs[k] - lx))
    ox, oy = xs[valley] + DRAIN_OFFSET, ys[0] + DRAIN_OFFSET
    features.append(_line([(ox, oy), (ox, oy - 40.0)], id="sewer-outfall", diameter=0.8, depth=3.0))
    features.append(_node(ox, oy - 40.0, id="outfall-south", kind="outfall", name="Auslass Süd"))
    return {"type": "FeatureCollection", "name": "demo-drainage", "features": features}
