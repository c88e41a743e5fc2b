"""Sensors written straight into the live tables, for commands that run without a server (`citytwin sensors`).

Each sensor is checked as `POST /sensors` checks it and bound by position to the innermost object that holds it;
all are written in one transaction, which also queues `sensors_changed` notices (NOTIFY on the tileset channel)
so that running servers load them from the database without a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import orjson

from twin.api.query_server import asyncpg_arguments
from twin.live import store
from twin.live.sensors import Sensor, SensorError, parse_sensor
from twin.notices import CHANNEL
from twin.queries import containing_query

T = TypeVar("T")
NOTICE_BYTES = 7000  # PostgreSQL's NOTIFY payloads stop at 8000 bytes


@dataclass
class ImportResult:
    stored: list[Sensor] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)

    @property
    def bound(self) -> int:
        return sum(1 for s in self.stored if s.object_id is not None)

    def as_json(self) -> dict[str, Any]:
        return {"stored": len(self.stored), "bound": self.bound,
                "refused": [{"row": row, "reason": reason} for row, reason in self.refused]}


def notices(ids: Sequence[str]) -> list[str]:
    """`sensors_changed` payloads naming `ids`, split to fit NOTIFY."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 0
    for sensor_id in ids:
        if chunk and size + len(sensor_id) + 4 > NOTICE_BYTES:
            payloads.append(orjson.dumps({"type": "sensors_changed", "ids": chunk}).decode())
            chunk, size = [], 0
        chunk.append(sensor_id)
        size += len(sensor_id) + 4
    if chunk:
        payloads.append(orjson.dumps({"type": "sensors_changed", "ids": chunk}).decode())
    return payloads


async def notify_changed(conn: asyncpg.Connection, ids: Sequence[str]) -> None:
    """Queue the notices on the connection's transaction: they go out at commit."""
    for payload in notices(ids):
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)


async def bind(conn: asyncpg.Connection, sensor: Sensor) -> Sensor:
    """A positioned sensor without an object is bound to the innermost object that contains it (`/query/at`)."""
    if sensor.object_id is not None or sensor.lon is None or sensor.lat is None:
        return sensor
    sql, arguments = asyncpg_arguments(containing_query(sensor.lon, sensor.lat, sensor.h, None))
    row = await conn.fetchrow(sql, *arguments)
    return sensor.bound_to(row[0] if row else None)


async def _connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await store.init_connection(conn)
    return conn


async def put_sensors(dsn: str, rows: Sequence[tuple[int, Any]]) -> ImportResult:
    """Check, bind and store (row number, description) pairs in one transaction; refused rows keep their numbers."""
    result = ImportResult()
    conn = await _connect(dsn)
    try:
        async with conn.transaction():
            for number, raw in rows:
                try:
                    sensor = await bind(conn, parse_sensor(raw))
                except SensorError as exc:
                    result.refused.append((number, str(exc)))
                    continue
                await store.upsert_sensor(conn, sensor)
                result.stored.append(sensor)
            await notify_changed(conn, [s.id for s in result.stored])
    finally:
        await conn.close()
    return result


async def list_sensors(dsn: str) -> list[Sensor]:
    conn = await _connect(dsn)
    try:
        return await store.read_sensors(conn)
    finally:
        await conn.close()


async def delete_sensors(dsn: str, ids: Sequence[str]) -> list[str]:
    """Delete sensors (their readings stay until retention drops them); the ids that existed."""
    conn = await _connect(dsn)
    try:
        async with conn.transaction():
            deleted = [r["id"] for r in await conn.fetch("DELETE FROM sensors WHERE id = ANY($1::text[]) "
                                                         "RETURNING id", list(ids))]
            await notify_changed(conn, deleted)
    finally:
        await conn.close()
    return deleted


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one of the above from synchronous code (the command line has no event loop)."""
    return asyncio.run(coroutine)
