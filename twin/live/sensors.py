"""Sensors as values: the device code (统一编码), kind, unit, position, bound object and thresholds; validation."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from twin.live.alarms import Rule, RuleError, parse_rule
from twin.live.kinds import kind_of

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
FIELDS = {"id", "kind", "name", "unit", "lon", "lat", "h", "object_id", "attributes", "thresholds"}
CAMERA_FIELDS = ("stream_url", "heading", "pitch", "fov", "range_m")


class SensorError(ValueError):
    """A sensor description that cannot be stored, with the reason."""


@dataclass(frozen=True, slots=True)
class Sensor:
    id: str
    kind: str
    unit: str
    lon: float | None = None
    lat: float | None = None
    h: float = 0.0
    name: str | None = None
    object_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    thresholds: Rule | None = None

    @property
    def positioned(self) -> bool:
        return self.lon is not None and self.lat is not None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "unit": self.unit,
                "position": [self.lon, self.lat, self.h] if self.positioned else None,
                "object_id": self.object_id, "attributes": self.attributes,
                "thresholds": self.thresholds.as_json() if self.thresholds else None}

    def bound_to(self, object_id: str | None) -> Sensor:
        return replace(self, object_id=object_id)


def _coordinate(raw: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SensorError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise SensorError(f"{name} must lie in [{low}, {high}], got {value}")
    return float(value)


def _camera_attributes(attributes: dict[str, Any]) -> None:
    url = attributes.get("stream_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"^(rtsp|rtmp|https?|wss?)://", url)):
        raise SensorError(f"stream_url must be an rtsp/rtmp/http(s)/ws(s) URL, got {url!r}")
    for name, low, high in (("heading", 0, 360), ("pitch", -90, 90), ("fov", 1, 360), ("range_m", 0, 10_000)):
        _coordinate(attributes, name, low, high)


def holds_nul(value: Any) -> bool:
    """Whether a JSON value holds U+0000 anywhere (PostgreSQL text and JSONB cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def parse_sensor(raw: Any) -> Sensor:
    """A sensor from its JSON form (`position` as [lon, lat, h] or lon/lat/h fields); SensorError with the reason."""
    if not isinstance(raw, dict):
        raise SensorError("a sensor is a JSON object")
    if holds_nul(raw):
        raise SensorError("a sensor's texts must not hold NUL characters (U+0000)")
    raw = dict(raw)
    position = raw.pop("position", None)
    if position is not None:
        if not isinstance(position, list | tuple) or len(position) not in (2, 3):
            raise SensorError("position must be [lon, lat] or [lon, lat, h]")
        raw.update(zip(("lon", "lat", "h"), position, strict=False))
    unknown = set(raw) - FIELDS
    if unknown:
        raise SensorError(f"unknown sensor fields: {', '.join(sorted(unknown))}")
    code = raw.get("id")
    if not isinstance(code, str) or not CODE.match(code):
        raise SensorError(f"id must be a device code of letters, digits and . _ : - (≤ 128), got {code!r}")
    try:
        kind = kind_of(str(raw.get("kind")))
    except ValueError as exc:
        raise SensorError(str(exc)) from None
    unit = raw.get("unit") or kind.unit
    if not isinstance(unit, str) or len(unit) > 32:
        raise SensorError(f"unit must be a short text, got {unit!r}")
    lon, lat = _coordinate(raw, "lon", -180, 180), _coordinate(raw, "lat", -90, 90)
    if (lon is None) != (lat is None):
        raise SensorError("give both lon and lat, or neither")
    h = _coordinate(raw, "h", -11_000, 9_000) or 0.0
    object_id = raw.get("object_id")
    if object_id is not None and (not isinstance(object_id, str) or not object_id):
        raise SensorError(f"object_id must be a twin object id, got {object_id!r}")
    if lon is None and object_id is None:
        raise SensorError(f"sensor {code} needs a position or an object_id")
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise SensorError("attributes must be a JSON object")
    if kind.name == "camera":
        _camera_attributes(attributes)
    _coordinate(attributes, "offline_after_s", 1, 7 * 86400)  # this device's own silence timeout
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise SensorError("name must be a text")
    try:
        thresholds = parse_rule(raw["thresholds"]) if raw.get("thresholds") is not None else None
    except RuleError as exc:
        raise SensorError(f"thresholds: {exc}") from None
    return Sensor(code, kind.name, unit, lon, lat, h, name, object_id, attributes, thresholds)
