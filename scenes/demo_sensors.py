"""Simulated sensors on the demo city and the readings they send: pure and seeded, no clock of their own.

Sensors: smoke and temperature on every eighth district building, temperature and smoke in every room of the
demo building (gas in two), manhole covers along the streets' centre lines, hydrants (pressure) at the kerbs,
water level and immersion sensors at low crossings, air quality and rainfall stations, two cameras. Positions
only: the server binds each to the object that holds it (a building, a room).

`readings_at(t, seed)` is what every sensor reads at Unix time `t`. Four scenes cross thresholds over and over:
a gas leak in a room (red ≥ 25 %LEL for about a minute of every `GAS_PERIOD_S`), a rain storm (rainfall orange,
the low crossing's water level red for about four minutes of every `RAIN_PERIOD_S`), a fire in one building
(temperature and smoke red for two minutes of every `FIRE_PERIOD_S`) and a manhole cover lifted for a minute of
every `MANHOLE_PERIOD_S`. Everything else reads quiet values with a little noise.
"""

from __future__ import annotations

import copy
import math
import zlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

from shapely.geometry import shape

from scenes.demo_building import CORRIDOR, STOREY_HEIGHT, WALL, WIDTH
from scenes.demo_building import LENGTH as BUILDING_LENGTH
from scenes.demo_district import (
    BLOCK_H,
    BLOCK_W,
    GRID_ANGLE_DEG,
    METRES_PER_DEGREE,
    ORIGIN,
    STREET,
    generate_district,
    park_centre,
)

GAS_PERIOD_S, RAIN_PERIOD_S, FIRE_PERIOD_S, MANHOLE_PERIOD_S = 300, 900, 600, 420
GAS_LEAK = "RATHAUS-1S2-GAS"
FLOOD = "WL-LOW-1"
RAIN = "RAIN-PARK"
MANHOLE = "MH-03"
BLOCKS_X, BLOCKS_Y = 6, 5
STOREYS = 4
ROOMS_PER_SIDE = 3


def _lonlat(x: float, y: float, origin: tuple[float, float]) -> tuple[float, float]:
    """Grid metres (x along the turned street grid, y across) → lon/lat around `origin`."""
    angle = math.radians(GRID_ANGLE_DEG)
    e, n = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
    lon0, lat0 = origin
    return (round(lon0 + e / (METRES_PER_DEGREE * math.cos(math.radians(lat0))), 8),
            round(lat0 + n / METRES_PER_DEGREE, 8))


def _sensor(code: str, kind: str, lonlat: tuple[float, float], h: float, name: str, **attributes: Any
            ) -> dict[str, Any]:
    return {"id": code, "kind": kind, "position": [lonlat[0], lonlat[1], round(h, 2)], "name": name,
            "attributes": {"demo": True, **attributes}}


def _buildings() -> list[dict[str, Any]]:
    sensors = []
    for index, feature in enumerate(generate_district()["features"]):
        if index % 8:
            continue
        point = shape(feature["geometry"]).representative_point()
        address = feature["properties"]["address"]
        lonlat = (round(point.x, 8), round(point.y, 8))
        sensors.append(_sensor(f"SMK-{feature['id']}", "smoke", lonlat, 2.5, f"Rauchmelder {address}"))
        sensors.append(_sensor(f"TMP-{feature['id']}", "temperature", lonlat, 2.5, f"Temperatur {address}"))
    return sensors


@cache
def fire_building() -> str:
    """The district building whose temperature and smoke sensors burn every `FIRE_PERIOD_S`."""
    return str(generate_district()["features"][0]["id"])


def _rooms() -> list[dict[str, Any]]:
    """Sensors at the ceiling of every room of the demo building (its origin is the park centre)."""
    origin = park_centre(BLOCKS_X, BLOCKS_Y)
    room_depth = (WIDTH - CORRIDOR) / 2
    room_length = BUILDING_LENGTH / ROOMS_PER_SIDE
    depth = room_depth - WALL * 1.5
    sensors = []
    for level in range(STOREYS):
        z = level * STOREY_HEIGHT + 2.4
        for side, letter, y0 in (("Süd", "S", WALL), ("Nord", "N", room_depth + CORRIDOR + WALL / 2)):
            for i in range(ROOMS_PER_SIDE):
                room = f"Raum {level}.{side}.{i + 1}"
                lonlat = _lonlat(i * room_length + room_length / 2, y0 + depth / 2, origin)
                code = f"RATHAUS-{level}{letter}{i + 1}"
                sensors.append(_sensor(f"{code}-TEMP", "temperature", lonlat, z, f"Temperatur {room}", room=room))
                sensors.append(_sensor(f"{code}-SMOKE", "smoke", lonlat, z, f"Rauchmelder {room}", room=room))
                if (level, letter, i) in ((1, "S", 1), (0, "N", 2)):
                    sensors.append(_sensor(f"{code}-GAS", "gas", lonlat, z - 2.0, f"Gasmelder {room}", room=room))
    return sensors


def _streets() -> tuple[list[float], list[float], tuple[float, float, float, float]]:
    """Centre lines of the streets between blocks (x of the north-south ones, y of the east-west ones) and the
    district's extent, in grid metres from the district origin."""
    xs = [(bx - BLOCKS_X / 2) * (BLOCK_W + STREET) + BLOCK_W + STREET / 2 for bx in range(BLOCKS_X - 1)]
    ys = [(by - BLOCKS_Y / 2) * (BLOCK_H + STREET) + BLOCK_H + STREET / 2 for by in range(BLOCKS_Y - 1)]
    x0, y0 = -BLOCKS_X / 2 * (BLOCK_W + STREET), -BLOCKS_Y / 2 * (BLOCK_H + STREET)
    return xs, ys, (x0, y0, x0 + BLOCKS_X * (BLOCK_W + STREET) - STREET, y0 + BLOCKS_Y * (BLOCK_H + STREET) - STREET)


def _street_furniture() -> list[dict[str, Any]]:
    xs, ys, (x0, y0, x1, y1) = _streets()
    sensors = []
    manholes: list[tuple[float, float]] = [(x, y0 + 20 + k * 60) for x in xs for k in range(int((y1 - y0) // 60))]
    manholes += [(x0 + 30 + k * 80, y) for y in ys for k in range(int((x1 - x0) // 80))]
    for n, (x, y) in enumerate(manholes[::3], start=1):
        sensors.append(_sensor(f"MH-{n:02d}", "manhole_cover", _lonlat(x, y, ORIGIN), 0.0, f"Schacht {n}"))
    hydrants = [(x + STREET / 2 - 1.5, y0 + 50 + k * 110) for x in xs[::2] for k in range(int((y1 - y0) // 110))]
    for n, (x, y) in enumerate(hydrants, start=1):
        sensors.append(_sensor(f"HYD-{n:02d}", "pressure", _lonlat(x, y, ORIGIN), 0.5, f"Hydrant {n}"))
    crossings = [(x, y) for x in xs for y in ys]
    for n, (x, y) in enumerate(crossings[1::4], start=1):
        sensors.append(_sensor(f"WL-LOW-{n}", "water_level", _lonlat(x + 4, y + 4, ORIGIN), 0.0,
                               f"Pegel Unterführung {n}"))
        sensors.append(_sensor(f"WI-LOW-{n}", "water_immersion", _lonlat(x + 4, y + 5, ORIGIN), 0.0,
                               f"Überflutung Unterführung {n}"))
    for n, (x, y) in enumerate(crossings[::5], start=1):
        sensors.append(_sensor(f"AQ-{n}", "air_quality", _lonlat(x - 5, y - 5, ORIGIN), 3.0, f"Luftmessstation {n}"))
    park = park_centre(BLOCKS_X, BLOCKS_Y)
    sensors.append(_sensor(RAIN, "rainfall", _lonlat(-30, -25, park), 1.5, "Regenmesser Park"))
    sensors.append(_sensor("RAIN-HAFEN", "rainfall", _lonlat(x1 + 5, y0 - 5, ORIGIN), 1.5, "Regenmesser Hafen"))
    heading = round((90 - GRID_ANGLE_DEG) % 360, 1)  # compass degrees along the grid's x axis
    for n, (x, y) in enumerate((crossings[0], crossings[-1]), start=1):
        sensors.append(_sensor(f"CAM-{n}", "camera", _lonlat(x - 6, y - 6, ORIGIN), 6.0, f"Kamera Kreuzung {n}",
                               stream_url=f"rtsp://127.0.0.1:8554/demo/cam{n}",
                               heading=heading if n == 1 else (heading + 180) % 360, pitch=-20.0, fov=70.0,
                               range_m=120.0))
    return sensors


@cache
def _all_sensors() -> tuple[dict[str, Any], ...]:
    return tuple(_buildings() + _rooms() + _street_furniture())


def demo_sensors() -> list[dict[str, Any]]:
    """Every simulated sensor of the demo city, in the form `POST /sensors` takes (positions only)."""
    return copy.deepcopy(list(_all_sensors()))


# -- readings --------------------------------------------------------------------------------------------------
def _noise(seed: int, code: str, tick: int) -> float:
    """A deterministic number in [-1, 1) for a sensor at a whole second."""
    return zlib.crc32(f"{seed}:{code}:{tick}".encode()) / 2**31 - 1.0


def _phase(t: float, period: int, seed: int, code: str) -> float:
    return (t + zlib.crc32(f"{seed}:{code}".encode()) % period) % period


def gas_value(p: float) -> float:
    """%LEL through a leak: quiet, a ramp to 32, a minute held, and a fall back (phase p in [0, GAS_PERIOD_S))."""
    if p < 150 or p >= 260:
        return 2.0
    if p < 180:
        return 2.0 + (p - 150)
    if p < 220:
        return 32.0
    return 32.0 - (p - 220) * 30 / 40


def rain_value(p: float) -> float:
    """mm/h through a storm: a sine over its first six minutes, peaking at 70 (orange)."""
    return 70.0 * math.sin(math.pi * p / 360) if p < 360 else 0.0


def flood_value(p: float, depth: float) -> float:
    """m of water at a crossing: rising behind the rain, peaking at `depth`, drained by the fifteenth minute."""
    return 0.03 + (depth * math.sin(math.pi * (p - 60) / 480) if 60 <= p < 540 else 0.0)


def _value(sensor: dict[str, Any], t: float, seed: int, fire: str) -> float:
    code, kind, tick = sensor["id"], sensor["kind"], int(t)
    noise = _noise(seed, code, tick)
    rain_p = _phase(t, RAIN_PERIOD_S, seed, "rain")
    if kind == "gas":
        p = _phase(t, GAS_PERIOD_S, seed, code)
        return round((gas_value(p) if code == GAS_LEAK else 1.5) + 0.8 * noise, 2)
    if kind == "temperature":
        p = _phase(t, FIRE_PERIOD_S, seed, "fire")
        heat = max(0.0, min(1.0, (p - 400) / 40)) * (1.0 if p < 540 else 0.0) if code == f"TMP-{fire}" else 0.0
        return round(21.0 + 75.0 * heat + 0.6 * noise, 2)
    if kind == "smoke":
        p = _phase(t, FIRE_PERIOD_S, seed, "fire")
        return 1.0 if code == f"SMK-{fire}" and 420 <= p < 540 else 0.0
    if kind == "manhole_cover":
        return 1.0 if code == MANHOLE and _phase(t, MANHOLE_PERIOD_S, seed, code) < 60 else 0.0
    if kind == "pressure":
        return round(0.35 + 0.02 * noise, 3)
    if kind == "water_level":
        return round(max(0.0, flood_value(rain_p, 0.7 if code == FLOOD else 0.25) + 0.005 * noise), 3)
    if kind == "water_immersion":
        return 1.0 if code == "WI-LOW-1" and flood_value(rain_p, 0.7) > 0.4 else 0.0
    if kind == "rainfall":
        return round(max(0.0, rain_value(rain_p) * (1.0 if code == RAIN else 0.8) + 0.5 * noise), 1)
    if kind == "air_quality":
        return round(45.0 + 20.0 * math.sin(2 * math.pi * t / 3600) + 4.0 * noise, 1)
    return 1.0  # cameras stream


def readings_at(t: float, seed: int = 7, sensors: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What every sensor reads at Unix time `t` (whole seconds): `{"sensor", "time", "value"}` items."""
    sensors = demo_sensors() if sensors is None else sensors
    tick = int(t)
    when = datetime.fromtimestamp(tick, UTC).isoformat().replace("+00:00", "Z")
    fire = fire_building()
    return [{"sensor": s["id"], "time": when, "value": _value(s, tick, seed, fire)} for s in sensors]
