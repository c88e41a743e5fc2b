"""The past from the database: the state at an instant, and the timeline of a window, as live messages.

`state_at` is what `GET /state?at=` answers and what a replay starts from; `timeline` yields what happened after
it in time order. `fold` applies such messages to a state, as a viewer does: folding the timeline from T0 up to T
onto the state at T0 gives the state at T.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from twin.live.state import iso

DAY = timedelta(days=1)
_BUCKET = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$")
_UNIT_S = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_bucket(text: str) -> float:
    """A bucket width such as `30s`, `5m`, `1h`, `1d` (or bare seconds), from 1 s to 31 days."""
    match = _BUCKET.match(text.strip())
    if not match:
        raise ValueError(f"bucket must be a width such as 30s, 5m, 1h or 1d, got {text!r}")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not (math.isfinite(seconds) and 1 <= seconds <= 31 * 86400):
        raise ValueError("bucket must be from 1 s to 31 days")
    return seconds


_SENSORS = "(SELECT id, object_id, kind FROM sensors WHERE $2::text[] IS NULL OR id = ANY($2::text[]))"
LATEST_AT = f"""
SELECT s.id, s.object_id, s.kind, r.time, r.value FROM {_SENSORS} s
CROSS JOIN LATERAL (SELECT time, value FROM readings WHERE sensor_id = s.id AND time <= $1
                    ORDER BY time DESC LIMIT 1) r ORDER BY s.id"""
ALARMS_AT = f"""
SELECT a.id::text, a.sensor_id, a.object_id, a.kind, a.raised_at, h.level, h.value, h.at,
       (SELECT actor FROM alarm_history k WHERE k.alarm_id = a.id AND k.action = 'acknowledged' AND k.at <= $1
        ORDER BY k.at DESC LIMIT 1) AS acknowledged_by
FROM alarms a JOIN {_SENSORS} s ON s.id = a.sensor_id
CROSS JOIN LATERAL (SELECT level, value, at FROM alarm_history WHERE alarm_id = a.id AND at <= $1
                    AND action <> 'acknowledged' ORDER BY at DESC, seq DESC LIMIT 1) h
WHERE a.raised_at <= $1 AND (a.cleared_at IS NULL OR a.cleared_at > $1) ORDER BY a.id"""
EVENTS_AT = """
SELECT id, kind, severity, source, title, object_id, ST_X(location) AS lon, ST_Y(location) AS lat,
       ST_Z(location) AS h, reported_at FROM events
WHERE reported_at <= $1 AND (closed_at IS NULL OR closed_at > $1) AND source <> 'drill' ORDER BY id"""
READINGS_IN = f"""
SELECT r.sensor_id, s.object_id, s.kind, r.time, r.value FROM readings r JOIN {_SENSORS} s ON s.id = r.sensor_id
WHERE r.time > $1 AND r.time <= $3 ORDER BY r.time, r.sensor_id"""
ALARMS_IN = f"""
SELECT h.alarm_id::text, h.at, h.action, h.level, h.value, h.actor, a.sensor_id, a.object_id, a.kind, a.raised_at
FROM alarm_history h JOIN alarms a ON a.id = h.alarm_id JOIN {_SENSORS} s ON s.id = a.sensor_id
WHERE h.at > $1 AND h.at <= $3 ORDER BY h.at, h.seq"""


EVENTS_IN = """
SELECT id, kind, severity, source, title, object_id, ST_X(location) AS lon, ST_Y(location) AS lat,
       ST_Z(location) AS h, reported_at FROM events
WHERE reported_at > $1 AND reported_at <= $2 AND source <> 'drill' ORDER BY reported_at, id"""


def _event(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "severity": row["severity"], "source": row["source"],
            "title": row["title"], "object_id": row["object_id"], "reported_at": iso(row["reported_at"]),
            "location": [row["lon"], row["lat"], row["h"]] if row["lon"] is not None else None}


async def state_at(conn: asyncpg.Connection, at: datetime, sensors: Sequence[str] | None,
                   bbox: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """Latest value of every sensor (of `sensors`, or all), active alarms and open events (in `bbox`, or all) as
    they were at `at`."""
    ids = list(sensors) if sensors is not None else None
    readings = [{"type": "reading", "sensor": r["id"], "object": r["object_id"], "kind": r["kind"],
                 "time": iso(r["time"]), "value": r["value"]} for r in await conn.fetch(LATEST_AT, at, ids)]
    alarms = [{"id": r["id"], "sensor": r["sensor_id"], "object": r["object_id"], "kind": r["kind"],
               "raised_at": iso(r["raised_at"]), "level": r["level"], "value": r["value"],
               "updated_at": iso(r["at"]), "acknowledged_by": r["acknowledged_by"]}
              for r in await conn.fetch(ALARMS_AT, at, ids)]
    events = [_event(r) for r in await conn.fetch(EVENTS_AT, at)
              if bbox is None or (r["lon"] is not None and bbox[0] <= r["lon"] <= bbox[2]
                                  and bbox[1] <= r["lat"] <= bbox[3])]
    return {"type": "snapshot", "time": iso(at), "readings": readings, "alarms": alarms, "events": events}


async def timeline(conn: asyncpg.Connection, start: datetime, end: datetime, sensors: Sequence[str] | None
                   ) -> list[tuple[datetime, dict[str, Any]]]:
    """What happened in (start, end]: readings and alarm changes as live messages, in time order."""
    ids = list(sensors) if sensors is not None else None
    out: list[tuple[datetime, dict[str, Any]]] = [
        (r["time"], {"type": "reading", "sensor": r["sensor_id"], "object": r["object_id"], "kind": r["kind"],
                     "time": iso(r["time"]), "value": r["value"]})
        for r in await conn.fetch(READINGS_IN, start, ids, end)]
    for r in await conn.fetch(ALARMS_IN, start, ids, end):
        message = {"type": "alarm", "action": r["action"], "id": r["alarm_id"], "sensor": r["sensor_id"],
                   "object": r["object_id"], "kind": r["kind"], "raised_at": iso(r["raised_at"]),
                   "updated_at": iso(r["at"]), "value": r["value"]}
        if r["action"] == "acknowledged":
            message["acknowledged_by"] = r["actor"]
        else:
            message["level"] = r["level"]
        out.append((r["at"], message))
    for r in await conn.fetch(EVENTS_IN, start, end):
        out.append((r["reported_at"], {"type": "event", "event": _event(r)}))
    order = {"reading": 0, "alarm": 1, "event": 2}  # a reading before the alarm it caused, and its event
    out.sort(key=lambda item: (item[0], order[item[1]["type"]]))
    return out


def fold(state: dict[str, Any], message: dict[str, Any]) -> None:
    """Apply one live or replayed message to a snapshot-shaped state (readings and alarms keyed as in it)."""
    if message["type"] == "reading":
        readings = {r["sensor"]: r for r in state["readings"]}
        readings[message["sensor"]] = {k: v for k, v in message.items() if k not in ("seq", "replay")}
        state["readings"] = sorted(readings.values(), key=lambda r: r["sensor"])
    elif message["type"] == "alarm":
        alarms = {a["id"]: a for a in state["alarms"]}
        if message["action"] == "cleared":
            alarms.pop(message["id"], None)
        elif message["action"] == "acknowledged":
            if message["id"] in alarms:
                alarms[message["id"]]["acknowledged_by"] = message.get("acknowledged_by")
        else:
            previous = alarms.get(message["id"], {"acknowledged_by": None})
            alarms[message["id"]] = {
                "id": message["id"], "sensor": message["sensor"], "object": message["object"],
                "kind": message["kind"], "raised_at": message["raised_at"], "level": message["level"],
                "value": message["value"], "updated_at": message["updated_at"],
                "acknowledged_by": previous.get("acknowledged_by")}
        state["alarms"] = sorted(alarms.values(), key=lambda a: a["id"])
    elif message["type"] == "event":
        events = {e["id"]: e for e in state["events"]}
        event = message["event"]
        if event.get("status") in ("closed", "cancelled"):
            events.pop(event["id"], None)
        else:
            events[event["id"]] = {k: event[k] for k in ("id", "kind", "severity", "source", "title", "object_id",
                                                          "reported_at", "location")}
        state["events"] = sorted(events.values(), key=lambda e: e["id"])
