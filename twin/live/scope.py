"""What a subscriber looks at — an area, objects (with their children), sensor kinds, channels — and the grid
that finds the subscribers of a point without looping over every subscription."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.prepared import prep

CHANNELS = frozenset({"readings", "alarms", "status", "events", "tilesets", "drills"})
CELL_DEG = 0.01
"""Grid cell of the index: 0.01° (≈1.1 km north–south)."""
MAX_CELLS = 4096
"""An area over more cells than this is a wide subscription, checked point by point."""
EARTH_RADIUS_M = 6_371_008.8
Bounds = tuple[float, float, float, float]


class ScopeError(ValueError):
    """A subscription that cannot be used, with the reason."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Area:
    """A bbox, a polygon or a circle (centre and metres), tested exactly; `bounds` for the grid."""

    bounds: Bounds
    polygon: Any = None
    centre: tuple[float, float] | None = None
    radius_m: float = 0.0
    _prepared: Any = field(default=None, compare=False, repr=False)

    def holds(self, lon: float, lat: float) -> bool:
        w, s, e, n = self.bounds
        if not (w <= lon <= e and s <= lat <= n):
            return False
        if self.centre is not None:
            return haversine_m(self.centre[0], self.centre[1], lon, lat) <= self.radius_m
        if self._prepared is not None:
            return bool(self._prepared.covers(shapely.Point(lon, lat)))
        return True


def _finite(values: list[Any], what: str) -> list[float]:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ScopeError(f"{what} must be finite numbers")
    return [float(v) for v in values]


def parse_area(raw: dict[str, Any]) -> Area | None:
    """`bbox` [w, s, e, n], `polygon` (GeoJSON Polygon/MultiPolygon) or `radius` {lon, lat, m}; at most one."""
    given = [k for k in ("bbox", "polygon", "radius") if raw.get(k) is not None]
    if len(given) > 1:
        raise ScopeError(f"give one area, not {' and '.join(given)}")
    if not given:
        return None
    if given[0] == "bbox":
        box = raw["bbox"]
        if not isinstance(box, list) or len(box) != 4:
            raise ScopeError("bbox is [west, south, east, north]")
        w, s, e, n = _finite(box, "bbox")
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise ScopeError("bbox must be west ≤ east and south ≤ north within ±180/±90")
        return Area((w, s, e, n))
    if given[0] == "polygon":
        try:
            geometry = shape(raw["polygon"])
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            raise ScopeError(f"polygon is not GeoJSON: {exc}") from None
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty or not geometry.is_valid:
            raise ScopeError("polygon must be a valid GeoJSON Polygon or MultiPolygon")
        w, s, e, n = geometry.bounds
        if w < -180 or e > 180 or s < -90 or n > 90:
            raise ScopeError("polygon must lie within ±180/±90")
        return Area((w, s, e, n), geometry, _prepared=prep(geometry))
    circle = raw["radius"]
    if not isinstance(circle, dict) or set(circle) != {"lon", "lat", "m"}:
        raise ScopeError("radius is {lon, lat, m}")
    lon, lat, metres = _finite([circle["lon"], circle["lat"], circle["m"]], "radius")
    if not (-180 <= lon <= 180 and -85 <= lat <= 85 and 0 < metres <= 100_000):
        raise ScopeError("radius needs lon in ±180, lat in ±85 and 0 < m ≤ 100,000")
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlon = min(180.0, dlat / max(math.cos(math.radians(abs(lat) + dlat)), 1e-6))
    return Area((max(-180, lon - dlon), max(-90, lat - dlat), min(180, lon + dlon), min(90, lat + dlat)),
                centre=(lon, lat), radius_m=metres)


@dataclass(frozen=True)
class Scope:
    """Area and objects together are the place (either one holds a thing; neither means the whole city)."""

    area: Area | None = None
    objects: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    channels: frozenset[str] = CHANNELS

    @property
    def everywhere(self) -> bool:
        return self.area is None and self.objects is None

    def holds(self, lon: float | None, lat: float | None, object_id: str | None) -> bool:
        if self.everywhere:
            return True
        if self.objects is not None and object_id is not None and object_id in self.objects:
            return True
        return self.area is not None and lon is not None and lat is not None and self.area.holds(lon, lat)

    def takes_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


def cell_of(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)


def cells_of(bounds: Bounds) -> list[tuple[int, int]] | None:
    """The grid cells a box covers, or None when there are more than MAX_CELLS."""
    x0, y0 = cell_of(bounds[0], bounds[1])
    x1, y1 = cell_of(bounds[2], bounds[3])
    if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS:
        return None
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


class Grid:
    """Keys (sensor ids or client ids) filed under the cells of their points or boxes."""

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], set[str]] = {}

    def add(self, key: str, cells: list[tuple[int, int]]) -> None:
        for cell in cells:
            self.cells.setdefault(cell, set()).add(key)

    def remove(self, key: str, cells: list[tuple[int, int]]) -> None:
        for cell in cells:
            members = self.cells.get(cell)
            if members is not None:
                members.discard(key)
                if not members:
                    del self.cells[cell]

    def at(self, cell: tuple[int, int]) -> set[str]:
        return self.cells.get(cell, set())

    def within(self, cells: list[tuple[int, int]]) -> Iterator[str]:
        for cell in cells:
            yield from self.cells.get(cell, ())
