"""Sensor kinds: their unit, how their values read, when they count as offline, and their default thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SensorKind:
    """One kind of device. `boolean` kinds report 0 or 1 (1 = the alarming state: open, wet, smoke, stuck; a
    camera reports 1 while it streams)."""

    name: str
    unit: str
    offline_after_s: float
    boolean: bool = False
    thresholds: dict[str, Any] | None = None
    event_kind: str = "other"


def _above(blue: float, yellow: float, orange: float, red: float, hysteresis: float,
           min_duration_s: float = 0.0) -> dict[str, Any]:
    return {"direction": "above", "levels": {"blue": blue, "yellow": yellow, "orange": orange, "red": red},
            "hysteresis": hysteresis, "min_duration_s": min_duration_s}


def _switch(level: str) -> dict[str, Any]:
    """A two-state device: value 1 raises `level` at once, 0 clears it."""
    return {"direction": "above", "levels": {level: 0.5}, "hysteresis": 0.0, "min_duration_s": 0.0}


KINDS: dict[str, SensorKind] = {kind.name: kind for kind in (
    SensorKind("manhole_cover", "state", 3600, boolean=True, thresholds=_switch("orange"),
               event_kind="manhole_missing"),
    SensorKind("water_level", "m", 600, thresholds=_above(0.1, 0.2, 0.3, 0.5, 0.02, 30), event_kind="water_logging"),
    SensorKind("water_immersion", "state", 3600, boolean=True, thresholds=_switch("red"),
               event_kind="water_logging"),
    SensorKind("gas", "%LEL", 300, thresholds=_above(5, 10, 20, 25, 1, 5), event_kind="gas_leak"),
    SensorKind("smoke", "state", 600, boolean=True, thresholds=_switch("red"), event_kind="fire"),
    SensorKind("temperature", "°C", 600, thresholds=_above(45, 57, 70, 90, 2, 10), event_kind="fire"),
    SensorKind("pressure", "MPa", 600, thresholds=_above(1.0, 1.2, 1.4, 1.6, 0.05, 10), event_kind="structural"),
    SensorKind("elevator", "state", 600, boolean=True, thresholds=_switch("orange"),
               event_kind="elevator_entrapment"),
    SensorKind("strain", "µε", 600, thresholds=_above(300, 500, 800, 1200, 20, 10), event_kind="structural"),
    SensorKind("tilt", "°", 600, thresholds=_above(0.5, 1.0, 2.0, 3.0, 0.1, 10), event_kind="structural"),
    SensorKind("air_quality", "µg/m³", 900, thresholds=_above(75, 115, 150, 250, 5, 60)),
    SensorKind("rainfall", "mm/h", 900, thresholds=_above(10, 25, 50, 100, 2, 60), event_kind="water_logging"),
    SensorKind("camera", "state", 120, boolean=True),
)}
"""Default thresholds after common practice: gas in % of the lower explosive limit (alarms at 20–25 % LEL),
air quality as PM2.5 (China's AQI breakpoints 75/115/150/250 µg/m³), rainfall by China's hourly warning levels."""


def kind_of(name: str) -> SensorKind:
    """The kind named `name`; ValueError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown sensor kind {name!r}; known kinds: {', '.join(sorted(KINDS))}") from None
