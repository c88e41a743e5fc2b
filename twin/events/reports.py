"""Event reports checked as values: kinds, severities, sources, locations, attachments; deadlines per kind and
the overdue flag; duplicate suggestions (same kind, near in space and time)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import orjson

from twin.events.lifecycle import FINAL

KINDS = ("fire", "gas_leak", "water_logging", "manhole_missing", "elevator_entrapment", "structural", "crowding",
         "other")
SEVERITIES = ("blue", "yellow", "orange", "red")
SOURCES = ("manual", "alarm", "video", "drill")
DEADLINE_MINUTES = {"fire": 60, "gas_leak": 60, "elevator_entrapment": 30, "crowding": 60, "manhole_missing": 240,
                    "water_logging": 360, "structural": 1440, "other": 1440}
"""Minutes from the report by which an event of the kind should be closed; past it an open event is overdue."""
DUPLICATE_RADIUS_M = 200.0
DUPLICATE_WINDOW = timedelta(minutes=30)
MAX_TEXT = 2000
MAX_ATTACHMENTS = 20


class ReportError(ValueError):
    """A report that cannot become an event; the message says what to fix."""


@dataclass(frozen=True)
class Report:
    kind: str
    severity: str
    source: str
    title: str
    description: str | None
    location: tuple[float, float, float] | None
    object_id: str | None
    reporter: str | None
    attachments: list[dict[str, str]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


def _text(body: dict[str, Any], name: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ReportError(f"{name} is required")
        return None
    if not isinstance(value, str) or "\x00" in value or len(value) > limit:
        raise ReportError(f"{name} must be text of at most {limit} characters")
    value = value.strip()
    if required and not value:
        raise ReportError(f"{name} must not be empty")
    return value or None


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise ReportError(f"unknown {name} {value!r}; one of: {', '.join(choices)}")
    return str(value)


def parse_location(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) not in (2, 3) or \
            not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise ReportError("location must be [lon, lat] or [lon, lat, h] in degrees and metres")
    lon, lat, h = float(value[0]), float(value[1]), float(value[2]) if len(value) == 3 else 0.0
    if not all(math.isfinite(v) for v in (lon, lat, h)) or not (-180 <= lon <= 180 and -90 <= lat <= 90) \
            or abs(h) > 100_000:
        raise ReportError("location must be lon -180..180, lat -90..90 and h within ±100 km")
    return lon, lat, h


def _attachments(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise ReportError(f"attachments must be a list of at most {MAX_ATTACHMENTS} URLs")
    out = []
    for item in value:
        url, name = (item, None) if isinstance(item, str) else \
            (item.get("url"), item.get("name")) if isinstance(item, dict) else (None, None)
        if not isinstance(url, str) or len(url) > MAX_TEXT or "\x00" in url or \
                urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ReportError("each attachment must be an http(s) URL, or {\"url\", \"name\"}")
        out.append({"url": url, **({"name": str(name)[:200]} if name else {})})
    return out


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL text and jsonb cannot store one)."""
    return b"\\u0000" in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def parse_report(body: Any) -> Report:
    """A POST /events body → a report; ReportError with the reason otherwise."""
    if not isinstance(body, dict):
        raise ReportError("an event is a JSON object")
    if has_nul(body):
        raise ReportError("text in an event must not contain NUL characters")
    location = parse_location(body.get("location"))
    object_id = _text(body, "object_id", limit=300)
    if location is None and object_id is None:
        raise ReportError("an event needs a location [lon, lat, h] and/or an object_id")
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ReportError("attributes must be a JSON object")
    title = _text(body, "title", required=True, limit=300)
    assert title is not None
    return Report(kind=_choice(body, "kind", KINDS), severity=_choice(body, "severity", SEVERITIES, "yellow"),
                  source=_choice(body, "source", SOURCES, "manual"), title=title,
                  description=_text(body, "description"), location=location, object_id=object_id,
                  reporter=_text(body, "reporter", limit=200), attachments=_attachments(body.get("attachments")),
                  attributes=attributes)


def deadline_for(kind: str, reported_at: datetime) -> datetime:
    return reported_at + timedelta(minutes=DEADLINE_MINUTES.get(kind, DEADLINE_MINUTES["other"]))


def is_overdue(event: dict[str, Any], now: datetime) -> bool:
    deadline = event.get("deadline")
    if deadline is None or event.get("status") in FINAL:
        return False
    return now > (datetime.fromisoformat(deadline) if isinstance(deadline, str) else deadline)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle metres (haversine on the mean Earth radius): what duplicate suggestions need."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def is_duplicate(report: Report, reported_at: datetime, other: dict[str, Any],
                 radius_m: float = DUPLICATE_RADIUS_M, window: timedelta = DUPLICATE_WINDOW) -> bool:
    """Whether an open event looks like the same incident: same kind, same drill-ness, within the radius (or on
    the same object) and reported within the window."""
    if other.get("kind") != report.kind or other.get("status") in FINAL:
        return False
    if (other.get("source") == "drill") != (report.source == "drill"):
        return False
    other_time = datetime.fromisoformat(other["reported_at"]) if isinstance(other["reported_at"], str) \
        else other["reported_at"]
    if abs(reported_at - other_time) > window:
        return False
    if report.object_id is not None and other.get("object_id") == report.object_id:
        return True
    where = other.get("location")
    return report.location is not None and where is not None and \
        metres_between(report.location[:2], (where[0], where[1])) <= radius_m
