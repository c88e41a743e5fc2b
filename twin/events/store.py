"""The events tables through asyncpg: events with their lifecycle columns, the append-only history, actors.
Statements only; what is allowed is decided by `lifecycle` and `reports`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from twin.events.lifecycle import Step
from twin.events.reports import Report, deadline_for, is_overdue

COLUMNS = """id, kind, severity, status, source, title, description, object_id, alarm_id::text, assignee,
    deadline, merged_into, reporter, attachments, ST_X(location) AS lon, ST_Y(location) AS lat,
    ST_Z(location) AS h, attributes, reported_at, updated_at, closed_at"""


JSON_TEXT = """json_build_object('id', id, 'kind', kind, 'severity', severity, 'status', status, 'source', source,
    'title', title, 'description', description, 'object_id', object_id, 'alarm_id', alarm_id, 'assignee', assignee,
    'location', CASE WHEN location IS NULL THEN NULL
                     ELSE json_build_array(ST_X(location), ST_Y(location), ST_Z(location)) END,
    'reporter', reporter, 'attachments', attachments, 'attributes', attributes, 'merged_into', merged_into,
    'reported_at', reported_at, 'updated_at', coalesce(updated_at, reported_at), 'deadline', deadline,
    'closed_at', closed_at, 'overdue', coalesce(closed_at IS NULL AND deadline < now(), false))::text"""
"""An event as `event_json` shapes it, written by PostgreSQL (lists answer without a Python dict per row)."""


def event_json(row: asyncpg.Record | dict[str, Any], now: datetime) -> dict[str, Any]:
    """An event as the API, the bus and the websocket carry it."""
    event = {"id": row["id"], "kind": row["kind"], "severity": row["severity"], "status": row["status"],
             "source": row["source"], "title": row["title"], "description": row["description"],
             "object_id": row["object_id"], "alarm_id": row["alarm_id"], "assignee": row["assignee"],
             "location": [row["lon"], row["lat"], row["h"]] if row["lon"] is not None else None,
             "reporter": row["reporter"], "attachments": row["attachments"], "attributes": row["attributes"],
             "merged_into": row["merged_into"], "reported_at": row["reported_at"].isoformat(),
             "updated_at": (row["updated_at"] or row["reported_at"]).isoformat(),
             "deadline": row["deadline"].isoformat() if row["deadline"] else None,
             "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None}
    event["overdue"] = is_overdue(event, now)
    return event


async def insert_event(conn: asyncpg.Connection, report: Report, at: datetime, actor: str) -> dict[str, Any]:
    lon, lat, h = report.location or (None, None, None)
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO events (kind, severity, source, title, description, object_id, location, reporter,
                                    attachments, attributes, reported_at, updated_at, deadline)
                VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::float8 IS NULL THEN NULL
                        ELSE ST_SetSRID(ST_MakePoint($7, $8, $9), 4326) END, $10, $11, $12, $13, $13, $14)
                RETURNING {COLUMNS}""",
            report.kind, report.severity, report.source, report.title, report.description, report.object_id,
            lon, lat, h, report.reporter, report.attachments, report.attributes, at, deadline_for(report.kind, at))
        await conn.execute("INSERT INTO event_history (event_id, at, actor, action, to_status, note) "
                           "VALUES ($1, $2, $3, 'reported', 'reported', $4)", row["id"], at, actor,
                           report.description)
    return event_json(row, at)


async def read_event(conn: asyncpg.Connection, event_id: int, now: datetime, lock: bool = False
                     ) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM events WHERE id = $1" + (" FOR UPDATE" if lock else ""),
                              event_id)
    return event_json(row, now) if row else None


async def history(conn: asyncpg.Connection, event_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT seq, at, actor, action, from_status, to_status, assignee, note "
                            "FROM event_history WHERE event_id = $1 ORDER BY seq", event_id)
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


async def apply_step(conn: asyncpg.Connection, event_id: int, step: Step, actor: str, note: str | None,
                     at: datetime, merged_into: int | None = None) -> dict[str, Any]:
    """Write a checked transition and its history row (the caller holds the event's row lock)."""
    row = await conn.fetchrow(
        f"""UPDATE events SET status = $2::text, assignee = $3, updated_at = $4::timestamptz,
                closed_at = CASE WHEN $2::text IN ('closed', 'cancelled') THEN $4::timestamptz END,
                merged_into = coalesce($5, merged_into)
            WHERE id = $1 RETURNING {COLUMNS}""", event_id, step.to_status, step.assignee, at, merged_into)
    await conn.execute("INSERT INTO event_history (event_id, at, actor, action, from_status, to_status, assignee, "
                       "note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", event_id, at, actor, step.action,
                       step.from_status, step.to_status, step.assignee, note)
    return event_json(row, at)


async def note(conn: asyncpg.Connection, event_id: int, actor: str, action: str, text: str | None,
               at: datetime) -> None:
    """A history row that changes no status (a merge received)."""
    await conn.execute("INSERT INTO event_history (event_id, at, actor, action, note) VALUES ($1, $2, $3, $4, $5)",
                       event_id, at, actor, action, text)
    await conn.execute("UPDATE events SET updated_at = $2 WHERE id = $1", event_id, at)


async def open_of_kind(conn: asyncpg.Connection, kind: str, since: datetime, until: datetime,
                       now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM events WHERE kind = $1 AND closed_at IS NULL "
                            "AND reported_at BETWEEN $2 AND $3 ORDER BY reported_at DESC LIMIT 200",
                            kind, since, until)
    return [event_json(r, now) for r in rows]


def list_statement(*, bbox: tuple[float, float, float, float] | None, statuses: list[str] | None,
                   kinds: list[str] | None, severities: list[str] | None, sources: list[str] | None,
                   since: datetime | None, limit: int) -> tuple[str, list[Any]]:
    """The events list as SQL and its arguments: newest first; drill events only when `sources` asks for them."""
    clauses, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if bbox is not None:
        clauses.append(f"location && ST_MakeEnvelope({arg(bbox[0])}, {arg(bbox[1])}, {arg(bbox[2])}, "
                       f"{arg(bbox[3])}, 4326)")
    for column, values in (("status", statuses), ("kind", kinds), ("severity", severities)):
        if values:
            clauses.append(f"{column} = ANY({arg(values)}::text[])")
    clauses.append(f"source = ANY({arg(sources)}::text[])" if sources else "source <> 'drill'")
    if since is not None:
        clauses.append(f"updated_at >= {arg(since)}")
    return (f"SELECT {JSON_TEXT} FROM events WHERE {' AND '.join(clauses)} "
            f"ORDER BY reported_at DESC, id DESC LIMIT {arg(limit)}", args)


async def list_events(conn: asyncpg.Connection, **conditions: Any) -> list[orjson.Fragment]:
    """Events as `list_statement` selects them, each as JSON text PostgreSQL wrote."""
    sql, args = list_statement(**conditions)
    return [orjson.Fragment(r[0]) for r in await conn.fetch(sql, *args)]


async def actor_exists(conn: asyncpg.Connection, actor: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM event_actors WHERE id = $1", actor))


async def put_actor(conn: asyncpg.Connection, actor_id: str, name: str | None, kind: str,
                    attributes: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        "INSERT INTO event_actors (id, name, kind, attributes) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE "
        "SET name = excluded.name, kind = excluded.kind, attributes = excluded.attributes "
        "RETURNING id, name, kind, attributes", actor_id, name, kind, attributes)
    return dict(row)


async def actors(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT id, name, kind, attributes FROM event_actors ORDER BY id")]


def window(at: datetime, span: timedelta) -> tuple[datetime, datetime]:
    return at - span, at + span
