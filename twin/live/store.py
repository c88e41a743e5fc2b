"""The live tables in PostGIS through asyncpg: sensors, readings (COPY into time partitions), alarms and their
history, events (latest values: `twin.live.latest`). Statements only; what to write is decided by the pure core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from twin.events.reports import deadline_for
from twin.live.alarms import Transition, parse_rule
from twin.live.sensors import Sensor, parse_sensor
from twin.live.state import LiveState

STAGING = """CREATE TEMP TABLE IF NOT EXISTS readings_in
    (sensor_id text, time timestamptz, value float8, received_at timestamptz) ON COMMIT DELETE ROWS"""
INSERT_STAGED = "INSERT INTO readings SELECT * FROM readings_in ON CONFLICT DO NOTHING"
STAGED_DUPLICATES = """SELECT s.sensor_id, s.time, s.received_at FROM readings_in s
JOIN readings r USING (sensor_id, time) WHERE r.received_at IS DISTINCT FROM s.received_at"""
"""Staged rows that were stored before (a resend has another receipt time than the row it repeats, so of two posts
of one pair in one batch only the one that did not land is named)."""
SENSOR_COLUMNS = """id, kind, name, unit, ST_X(position) AS lon, ST_Y(position) AS lat, ST_Z(position) AS h,
    object_id, attributes, thresholds"""


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON as Python values, and the per-connection staging table COPY writes into."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                  schema="pg_catalog")
    await conn.execute(STAGING)


async def open_pool(dsn: str, size: int = 4) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, init=init_connection)
    assert pool is not None
    return pool


PARTITIONS_LOCK = 7_263_514_001
"""The advisory lock that serialises partition upkeep between workers and processes."""


def partition_name(day: datetime) -> str:
    return f"readings_{day:%Y%m%d}"


async def maintain_partitions(conn: asyncpg.Connection, now: datetime, retention_days: int,
                              ahead_days: int = 3) -> tuple[int, int]:
    """Daily partitions from the retention window's start to `ahead_days` ahead; older ones dropped.
    Returns (created, dropped). One transaction under an advisory lock: workers starting together would otherwise
    race on `CREATE TABLE IF NOT EXISTS` (not safe against a concurrent create)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    created = dropped = 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITIONS_LOCK)
        existing = {row["relname"] for row in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass")}
        for offset in range(-retention_days - 1, ahead_days + 1):
            day = today + timedelta(days=offset)
            name = partition_name(day)
            if name not in existing:
                await conn.execute(f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM "
                                   f"('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")
                created += 1
        oldest = partition_name(today - timedelta(days=retention_days + 1))
        for name in sorted(existing):
            if name < oldest:
                await conn.execute(f"DROP TABLE IF EXISTS {name}")
                dropped += 1
    return created, dropped


def _sensor(row: asyncpg.Record) -> Sensor:
    raw = {"id": row["id"], "kind": row["kind"], "name": row["name"], "unit": row["unit"],
           "object_id": row["object_id"], "attributes": row["attributes"], "thresholds": row["thresholds"]}
    if row["lon"] is not None:
        raw.update(lon=row["lon"], lat=row["lat"], h=row["h"])
    return parse_sensor(raw)


async def read_sensors(conn: asyncpg.Connection, ids: Sequence[str] | None = None) -> list[Sensor]:
    """Stored sensors by id: all of them, or those of `ids` that exist."""
    if ids is None:
        rows = await conn.fetch(f"SELECT {SENSOR_COLUMNS} FROM sensors ORDER BY id")
    else:
        rows = await conn.fetch(f"SELECT {SENSOR_COLUMNS} FROM sensors WHERE id = ANY($1::text[]) ORDER BY id",
                                list(ids))
    return [_sensor(row) for row in rows]


async def load_state(conn: asyncpg.Connection, seq: int) -> LiveState:
    """The live state as stored: sensors, kind thresholds, latest values, active alarms, open events."""
    state = LiveState()
    state.seq = seq
    for row in await conn.fetch(f"SELECT {SENSOR_COLUMNS} FROM sensors"):
        state.put_sensor(_sensor(row))
    for row in await conn.fetch("SELECT kind, rule FROM kind_thresholds"):
        state.kind_rules[row["kind"]] = parse_rule(row["rule"])
    state.load_latest([(r["sensor_id"], r["time"], r["value"], r["received_at"])
                       for r in await conn.fetch("SELECT * FROM sensor_latest")])
    state.load_alarms([dict(r) for r in await conn.fetch(
        "SELECT id::text, sensor_id, object_id, kind, level, value, raised_at, updated_at, acknowledged_by, "
        "acknowledged_at FROM alarms WHERE cleared_at IS NULL")])
    for row in await conn.fetch(f"SELECT {EVENT_COLUMNS} FROM events WHERE closed_at IS NULL"):
        event = event_json(row)
        state.events[str(event["id"])] = event
    return state


async def upsert_sensor(conn: asyncpg.Connection, sensor: Sensor) -> None:
    await conn.execute(
        """INSERT INTO sensors (id, kind, name, unit, position, object_id, attributes, thresholds)
           VALUES ($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL
                   ELSE ST_SetSRID(ST_MakePoint($5, $6, $7), 4326) END, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, unit = excluded.unit,
               position = excluded.position, object_id = excluded.object_id, attributes = excluded.attributes,
               thresholds = excluded.thresholds, updated_at = now()""",
        sensor.id, sensor.kind, sensor.name, sensor.unit, sensor.lon, sensor.lat, sensor.h, sensor.object_id,
        sensor.attributes, sensor.thresholds.as_json() if sensor.thresholds else None)


Row = tuple[str, datetime, float, datetime]
"""A reading as stored: sensor, time, value, received_at."""
Resent = set[tuple[str, datetime, datetime]]
"""Rows that had been stored before, as (sensor, time, received_at) of the rows given."""


async def write_readings(conn: asyncpg.Connection, rows: Sequence[Row]) -> Resent:
    """Store the rows durably; those whose (sensor, time) had been stored before (skipped). The fast path is
    one binary COPY straight into `readings` (PostgreSQL routes the rows to their partitions); a re-sent row
    makes it fail on the unique index, and only then is the batch written the staged way."""
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("readings", records=rows)
    except asyncpg.UniqueViolationError:
        return await write_staged(conn, rows)
    return set()


async def write_staged(conn: asyncpg.Connection, rows: Sequence[Row]) -> Resent:
    """COPY the rows into the staging table and insert them skipping the stored pairs, in one transaction; the
    rows whose pair was stored before. Only when the insert stored fewer rows than it was given are those looked up."""
    async with conn.transaction():
        await conn.copy_records_to_table("readings_in", records=rows)
        stored = int((await conn.execute(INSERT_STAGED)).split()[-1])
        return set() if stored == len(rows) else \
            {(r["sensor_id"], r["time"], r["received_at"]) for r in await conn.fetch(STAGED_DUPLICATES)}


UPSERT_ALARM = """
INSERT INTO alarms (id, sensor_id, object_id, kind, level, value, raised_at, updated_at, cleared_at)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9::bool THEN $8::timestamptz END)
ON CONFLICT (id) DO UPDATE SET level = excluded.level, value = excluded.value, updated_at = excluded.updated_at,
    cleared_at = excluded.cleared_at
WHERE alarms.updated_at <= excluded.updated_at"""


async def write_transitions(conn: asyncpg.Connection, transitions: Sequence[Transition],
                            sensors: dict[str, Sensor]) -> None:
    """Alarm rows and their history for transitions this worker caused (one transaction, batched statements).

    Each transition upserts its alarm whole, the later one winning: with several workers an alarm's raise and
    its clear may be stored by different workers in either order."""
    rows = []
    for t in transitions:
        sensor = sensors.get(t.sensor_id)
        level = t.level if t.level is not None else t.previous  # a cleared alarm keeps its last level
        rows.append((t.alarm_id, t.sensor_id, sensor.object_id if sensor else None,
                     sensor.kind if sensor else "unknown", level, t.value, t.raised_at, t.time,
                     t.action == "cleared"))
    async with conn.transaction():
        await conn.executemany(UPSERT_ALARM, rows)
        await conn.executemany("INSERT INTO alarm_history (alarm_id, at, action, level, value) "
                               "VALUES ($1::uuid, $2, $3, $4, $5)",
                               [(t.alarm_id, t.time, t.action, t.level, t.value) for t in transitions])


async def acknowledge(conn: asyncpg.Connection, alarm_id: str, actor: str, at: datetime) -> bool:
    async with conn.transaction():
        done = await conn.fetchval("UPDATE alarms SET acknowledged_by = $2, acknowledged_at = $3 "
                                   "WHERE id = $1::uuid AND cleared_at IS NULL RETURNING true", alarm_id, actor, at)
        if done:
            level = await conn.fetchval("SELECT level FROM alarms WHERE id = $1::uuid", alarm_id)
            await conn.execute("INSERT INTO alarm_history (alarm_id, at, action, level, actor) "
                               "VALUES ($1::uuid, $2, 'acknowledged', $3, $4)", alarm_id, at, level, actor)
    return bool(done)


EVENT_COLUMNS = """id, kind, severity, status, source, title, description, object_id, alarm_id::text,
    ST_X(location) AS lon, ST_Y(location) AS lat, ST_Z(location) AS h, attributes, reported_at, closed_at"""


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "severity": row["severity"], "status": row["status"],
            "source": row["source"], "title": row["title"], "description": row["description"],
            "object_id": row["object_id"], "alarm_id": row["alarm_id"],
            "location": [row["lon"], row["lat"], row["h"]] if row["lon"] is not None else None,
            "attributes": row["attributes"], "reported_at": row["reported_at"].isoformat(),
            "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None}


async def open_alarm_event(conn: asyncpg.Connection, transition: Transition, sensor: Sensor,
                           event_kind: str) -> dict[str, Any] | None:
    """The event an alarm opens, pinned on its object and the sensor's position; None if it has one already."""
    async with conn.transaction():
        existing = await conn.fetchval("SELECT event_id FROM alarms WHERE id = $1::uuid FOR UPDATE",
                                       transition.alarm_id)
        if existing is not None:
            return None
        row = await conn.fetchrow(
            f"""INSERT INTO events (kind, severity, source, title, object_id, location, alarm_id, reported_at,
                                    attributes, updated_at, deadline)
                VALUES ($1, $2, 'alarm', $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL
                        ELSE ST_SetSRID(ST_MakePoint($5, $6, $7), 4326) END, $8::uuid, $9, $10, $9, $11)
                RETURNING {EVENT_COLUMNS}""",
            event_kind, transition.level, f"{sensor.kind} alarm at {sensor.name or sensor.id}", sensor.object_id,
            sensor.lon, sensor.lat, sensor.h, transition.alarm_id, transition.time,
            {"sensor": sensor.id, "value": transition.value}, deadline_for(event_kind, transition.time))
        await conn.execute("UPDATE alarms SET event_id = $2 WHERE id = $1::uuid", transition.alarm_id, row["id"])
        await conn.execute("INSERT INTO event_history (event_id, at, actor, action, to_status, note) "
                           "VALUES ($1, $2, 'system', 'reported', 'reported', $3)", row["id"], transition.time,
                           f"alarm {transition.alarm_id}")
    return event_json(row)


async def readings_between(conn: asyncpg.Connection, sensor_id: str, start: datetime, end: datetime,
                           bucket_s: float | None, limit: int) -> list[dict[str, Any]]:
    """A sensor's readings in [start, end], raw or per bucket (`date_bin`: min, max, avg, last, count)."""
    if bucket_s is None:
        rows = await conn.fetch("SELECT time, value FROM readings WHERE sensor_id = $1 AND time BETWEEN $2 AND $3 "
                                "ORDER BY time LIMIT $4", sensor_id, start, end, limit)
        return [{"time": r["time"].isoformat(), "value": r["value"]} for r in rows]
    rows = await conn.fetch(
        """SELECT date_bin($5::interval, time, '2000-01-01T00:00:00Z') AS bucket, min(value) AS min,
                  max(value) AS max, avg(value) AS avg, (array_agg(value ORDER BY time DESC))[1] AS last,
                  count(*) AS count
           FROM readings WHERE sensor_id = $1 AND time BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1 LIMIT $4""",
        sensor_id, start, end, limit, timedelta(seconds=bucket_s))
    return [{"time": r["bucket"].isoformat(), "min": r["min"], "max": r["max"], "avg": r["avg"],
             "last": r["last"], "count": r["count"]} for r in rows]
