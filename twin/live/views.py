"""Read-only views of the live state for the HTTP API: sensors with their latest value, status and alarm."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from twin.live.alarms import worst
from twin.live.state import LiveState, iso

Bounds = tuple[float, float, float, float]


class ViewError(ValueError):
    """A query parameter of a live view that cannot be used."""


def parse_bbox(text: str | None) -> Bounds | None:
    """`w,s,e,n` in degrees; ViewError with the reason."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ViewError(f"bbox must be four numbers w,s,e,n, got {text!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ViewError("bbox must be four finite numbers w,s,e,n")
    w, s, e, n = values
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ViewError("bbox must be west ≤ east and south ≤ north within ±180/±90")
    return w, s, e, n


def sensor_view(state: LiveState, sensor_id: str) -> dict[str, Any]:
    sensor = state.sensors[sensor_id]
    latest = state.latest.get(sensor_id)
    status = state.status.get(sensor_id)
    alarm = state.alarm_of(sensor_id)
    return {**sensor.as_json(),
            "latest": {"time": iso(latest.time), "value": latest.value} if latest else None,
            "online": status.online if status else False,
            "last_seen": iso(status.last_seen) if status else None,
            "alarm": alarm}


def select(state: LiveState, bbox: Bounds | None = None, kind: str | None = None,
           objects: Iterable[str] | None = None) -> list[str]:
    """Sensor ids in a box, of a kind, on some objects (all given conditions hold), sorted."""
    if objects is not None:  # copies first: sync routes read the state from worker threads
        ids: Iterable[str] = {s for o in objects for s in list(state.by_object.get(o, ()))}
    else:
        ids = list(state.sensors)
    found = []
    for sensor_id in ids:
        sensor = state.sensors.get(sensor_id)
        if sensor is None:
            continue
        if kind is not None and sensor.kind != kind:
            continue
        if bbox is not None:
            if not sensor.positioned:
                continue
            assert sensor.lon is not None and sensor.lat is not None
            if not (bbox[0] <= sensor.lon <= bbox[2] and bbox[1] <= sensor.lat <= bbox[3]):
                continue
        found.append(sensor_id)
    return sorted(found)


def object_live(state: LiveState, object_ids: Iterable[str]) -> dict[str, Any]:
    """The sensors on some objects (an object and its children) and their worst active alarm level."""
    sensors = [sensor_view(state, s) for s in select(state, objects=object_ids)]
    return {"sensors": sensors, "alarm_level": worst([s["alarm"]["level"] if s["alarm"] else None
                                                      for s in sensors])}
