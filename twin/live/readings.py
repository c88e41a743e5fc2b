"""Readings in: one validation for HTTP, MQTT and websocket, item by item, each rejection with its reason."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from twin.live.kinds import KINDS
from twin.live.sensors import Sensor

FIELDS = {"sensor", "time", "value", "unit"}


@dataclass(slots=True)
class Reading:
    sensor_id: str
    time: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Window:
    """The times a reading may carry: no older than the retention, no further ahead than clock skew allows."""

    now: datetime
    retention: timedelta
    max_future: timedelta = timedelta(seconds=300)


class BrokenLine(dict[str, str]):
    """An NDJSON line that did not parse: checked like any item, it is rejected with the parser's reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason=f"line is not JSON: {reason}")


def parse_time(value: Any, now: datetime) -> datetime:
    """ISO 8601 with an offset (or Z), or Unix seconds; a missing time is the time of receipt."""
    if value is None:
        return now
    if isinstance(value, bool):
        raise ValueError("time must be ISO 8601 text or Unix seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("time must be finite")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {value} is out of range") from None
    if not isinstance(value, str):
        raise ValueError("time must be ISO 8601 text or Unix seconds")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"time {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset (add Z or +hh:mm)")
    return parsed.astimezone(UTC)


def _value(raw: Any, sensor: Sensor) -> float:
    if KINDS[sensor.kind].boolean:
        if raw in (0, 1) or isinstance(raw, bool):
            return float(raw)
        raise ValueError(f"{sensor.kind} sensors report 0 or 1 (or false/true), got {raw!r}")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"value must be a number, got {type(raw).__name__}")
    if not math.isfinite(raw):
        raise ValueError("value must be finite (NaN and ±∞ are refused)")
    return float(raw)


def check_item(raw: Any, sensors: Mapping[str, Sensor], window: Window,
               allowed: frozenset[str] | None = None) -> Reading:
    """One reading from its JSON form; ValueError with the reason. `allowed`: the only sensors the sender may
    post for (a device key's), None for any."""
    if isinstance(raw, BrokenLine):
        raise ValueError(raw["reason"])
    if not isinstance(raw, dict):
        raise ValueError("a reading is a JSON object with sensor, time, value (and unit)")
    unknown = set(raw) - FIELDS
    if unknown:
        raise ValueError(f"unknown reading fields: {', '.join(sorted(unknown))}")
    code = raw.get("sensor")
    if not isinstance(code, str):
        raise ValueError("sensor must be a device code")
    if allowed is not None and code not in allowed:
        raise ValueError(f"sensor {code!r} is not one of this device key's sensors")
    sensor = sensors.get(code)
    if sensor is None:
        raise ValueError(f"unknown sensor {code!r}")
    if "value" not in raw:
        raise ValueError("value is missing")
    value = _value(raw["value"], sensor)
    unit = raw.get("unit")
    if unit is not None and unit != sensor.unit:
        raise ValueError(f"unit mismatch: sensor {code} measures in {sensor.unit!r}, got {unit!r}")
    time = parse_time(raw.get("time"), window.now)
    if time > window.now + window.max_future:
        raise ValueError(f"time {time.isoformat()} is {(time - window.now).total_seconds():.0f} s in the future")
    if time < window.now - window.retention:
        raise ValueError(f"time {time.isoformat()} is before the retention window "
                         f"({window.retention.days} days)")
    return Reading(code, time, value)


def check_batch(items: Iterable[Any], sensors: Mapping[str, Sensor], window: Window,
                allowed: frozenset[str] | None = None) -> tuple[list[tuple[int, Reading]], list[Rejected]]:
    """Every item checked on its own: the good ones with their index, and the rejected ones with reasons."""
    good: list[tuple[int, Reading]] = []
    bad: list[Rejected] = []
    for index, raw in enumerate(items):
        try:
            good.append((index, check_item(raw, sensors, window, allowed)))
        except ValueError as exc:
            bad.append(Rejected(index, str(exc)))
    return good, bad


class BodyError(ValueError):
    """A request body that is not a batch of readings at all."""


def parse_body(body: bytes, content_type: str, max_items: int,
               loads: Callable[[bytes], Any] = orjson.loads) -> list[Any]:
    """A JSON array (or one object) or NDJSON (one reading per line; a broken line is an item error)."""
    if "ndjson" in content_type or "jsonlines" in content_type or "x-ndjson" in content_type:
        items: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                items.append(loads(line))
            except orjson.JSONDecodeError as exc:
                items.append(BrokenLine(str(exc)))
            if len(items) > max_items:
                raise OverflowError(max_items)
        return items
    try:
        parsed = loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"body is not JSON: {exc}") from None
    items = parsed if isinstance(parsed, list) else [parsed]
    if len(items) > max_items:
        raise OverflowError(max_items)
    return items
