"""The cockpit (驾驶舱) summary of an area: events by status, kind and severity, overdue, mean time to close,
active alarms by level, sensors online/offline and today's events by hour. Drill events are left out.

`by_status` counts the open events and those closed or cancelled today (UTC); kinds, severities and overdue count
open events; the mean time to close is over events closed in the last 30 days."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from twin.events.lifecycle import STATUSES
from twin.events.reports import KINDS, SEVERITIES
from twin.live import views
from twin.live.state import LiveState

CLOSE_WINDOW = timedelta(days=30)
BOX = "location && ST_MakeEnvelope($1, $2, $3, $4, 4326)"


def statements(boxed: bool) -> tuple[str, str, str]:
    """The counts, time-to-close and today's-trend SQL, with the area as $1..$4 when `boxed` (else no area)."""
    where, n = (f"source <> 'drill' AND {BOX}", 5) if boxed else ("source <> 'drill'", 1)
    counts = f"""
SELECT status, kind, severity, count(*) AS n, count(*) FILTER (WHERE deadline < ${n}) AS overdue FROM events
WHERE {where} AND closed_at IS NULL GROUP BY status, kind, severity
UNION ALL
SELECT status, kind, severity, count(*), 0 FROM events WHERE {where} AND closed_at >= ${n + 1}
GROUP BY status, kind, severity"""
    close = f"""SELECT avg(extract(epoch FROM closed_at - reported_at)) AS mean_s, count(*) AS n FROM events
WHERE {where} AND status = 'closed' AND closed_at >= ${n}"""
    trend = f"""SELECT extract(hour FROM reported_at AT TIME ZONE 'UTC')::int AS hour, count(*) AS reported,
    count(*) FILTER (WHERE status = 'closed') AS closed
FROM events WHERE {where} AND reported_at >= ${n} GROUP BY 1"""
    return counts, close, trend


STATEMENTS = {boxed: statements(boxed) for boxed in (False, True)}

def midnight(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def event_counts(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Rows of (status, kind, severity, n, overdue) → the counts the cockpit shows (every key present)."""
    status: Counter[str] = Counter()
    kind: Counter[str] = Counter()
    severity: Counter[str] = Counter()
    overdue = 0
    for row in rows:
        status[row["status"]] += row["n"]
        if row["status"] not in ("closed", "cancelled"):
            kind[row["kind"]] += row["n"]
            severity[row["severity"]] += row["n"]
            overdue += row["overdue"]
    return {"by_status": {s: status[s] for s in STATUSES}, "by_kind": {k: kind[k] for k in KINDS},
            "by_severity": {s: severity[s] for s in SEVERITIES}, "open": sum(kind.values()), "overdue": overdue}


def trend(rows: Iterable[dict[str, Any]], today: datetime, now: datetime) -> list[dict[str, Any]]:
    """One bucket per hour of today up to now, with the events reported in it (and how many are closed)."""
    found = {row["hour"]: row for row in rows}
    return [{"hour": (today + timedelta(hours=h)).isoformat(), "reported": found[h]["reported"] if h in found else 0,
             "closed": found[h]["closed"] if h in found else 0} for h in range(now.astimezone(UTC).hour + 1)]


def live_counts(state: LiveState, bbox: views.Bounds | None) -> dict[str, Any]:
    """Active alarms by level and sensors online/offline in the box, from the live state."""
    sensors = views.select(state, bbox)
    inside = set(sensors)
    levels = Counter(a["level"] for a in list(state.alarms.values()) if a["sensor"] in inside)
    online = sum(1 for s in sensors if (status := state.status.get(s)) is not None and status.online)
    return {"alarms": {"by_level": {level: levels[level] for level in SEVERITIES}, "active": sum(levels.values())},
            "sensors": {"total": len(sensors), "online": online, "offline": len(sensors) - online}}


async def summary(conn: asyncpg.Connection, state: LiveState, bbox: views.Bounds | None, now: datetime
                  ) -> dict[str, Any]:
    box = list(bbox) if bbox else []
    today = midnight(now)
    counts_sql, close_sql, trend_sql = STATEMENTS[bbox is not None]
    counts = await conn.fetch(counts_sql, *box, now, today)
    closing = await conn.fetchrow(close_sql, *box, now - CLOSE_WINDOW)
    hours = await conn.fetch(trend_sql, *box, today)
    mean = closing["mean_s"]
    return {"time": now.isoformat(), "bbox": list(bbox) if bbox else None,
            "events": {**event_counts(dict(r) for r in counts),
                       "mean_time_to_close_s": round(float(mean), 1) if mean is not None else None,
                       "closed_last_30_days": closing["n"]},
            **live_counts(state, bbox), "today": trend((dict(r) for r in hours), today, now)}
