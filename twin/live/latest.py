"""`sensor_latest` kept off the readings' transaction. The writer notes what each commit stored (`Pending`); a
background task upserts the changed sensors about once a second and moves this worker's mark in
`sensor_latest_flush` (every reading it stored with `received_at` before the mark is in the table). A start, and
later any worker finding a mark that stopped moving, corrects the table from the readings received since the oldest
mark, so a crash between a commit and its flush loses nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

Row = tuple[str, datetime, float, datetime]

SLACK = timedelta(seconds=5)
"""Marks are set this far before the oldest unflushed receipt: clocks of workers on one machine may step."""
STALE = timedelta(seconds=30)
"""A mark not moved for this long belongs to a worker that is gone (a live one moves it every flush)."""
RECOVERY_LOCK = 7_263_514_002

NEWER_WINS = """
ON CONFLICT (sensor_id) DO UPDATE SET time = excluded.time, value = excluded.value,
    received_at = excluded.received_at WHERE sensor_latest.time < excluded.time"""
"""How a row meets the stored latest value of its sensor: the later reading stays."""
UPSERT = """
INSERT INTO sensor_latest (sensor_id, time, value, received_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::timestamptz[])""" + NEWER_WINS
MARK = """INSERT INTO sensor_latest_flush (worker, upto, at) VALUES ($1, $2, now())
ON CONFLICT (worker) DO UPDATE SET upto = excluded.upto, at = excluded.at"""
CORRECT = """
INSERT INTO sensor_latest
SELECT DISTINCT ON (sensor_id) sensor_id, time, value, received_at FROM readings WHERE received_at >= $1
ORDER BY sensor_id, time DESC""" + NEWER_WINS


class Pending:
    """What this worker stored and `sensor_latest` does not hold yet: the newest row per sensor, and the receipt
    times of batches still being written (their rows may land at any moment)."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.in_flight: Counter[datetime] = Counter()

    def begin(self, received: datetime) -> None:
        self.in_flight[received] += 1

    def _end(self, received: datetime) -> None:
        self.in_flight[received] -= 1
        if self.in_flight[received] <= 0:
            del self.in_flight[received]

    def committed(self, received: datetime, rows: Sequence[Row]) -> None:
        """A batch's new rows are durable (re-sent ones are left out: the stored row stands)."""
        self._end(received)
        self.give_back(rows)

    def failed(self, received: datetime) -> None:
        """A batch's write failed: none of its rows is stored."""
        self._end(received)

    def give_back(self, rows: Sequence[Row]) -> None:
        """Rows to flush (again): each sensor keeps its newest."""
        for row in rows:
            held = self.rows.get(row[0])
            if held is None or held[1] < row[1]:
                self.rows[row[0]] = row

    def take(self, now: datetime) -> tuple[list[Row], datetime]:
        """The rows to flush (sorted by sensor, so concurrent flushes lock in one order) and the mark that holds
        once they are stored."""
        rows, self.rows = sorted(self.rows.values()), {}
        return rows, min([*self.in_flight, now]) - SLACK


async def flush(conn: asyncpg.Connection, worker: str, rows: Sequence[Row], mark: datetime) -> None:
    """Upsert the rows (a newer stored time wins) and move the worker's mark, in one transaction."""
    async with conn.transaction():
        if rows:
            await conn.execute(UPSERT, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                               [r[3] for r in rows])
        await conn.execute(MARK, worker, mark)


async def drop_mark(conn: asyncpg.Connection, worker: str) -> None:
    """A worker that stopped cleanly, everything flushed, leaves no mark."""
    await conn.execute("DELETE FROM sensor_latest_flush WHERE worker = $1", worker)


async def recover(conn: asyncpg.Connection, every_mark: bool) -> datetime | None:
    """Correct `sensor_latest` from the readings received since the oldest mark — of every worker (a start: the
    last run may have crashed a moment ago), or only of those gone (`STALE`) — then drop the marks of the gone.
    Returns the point corrected from, None when there was nothing to correct."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", RECOVERY_LOCK)
        stale = "" if every_mark else "WHERE at < now() - $1::interval"
        since = await conn.fetchval(f"SELECT min(upto) FROM sensor_latest_flush {stale}",
                                    *(() if every_mark else (STALE,)))
        if since is not None:
            await conn.execute(CORRECT, since)
            await conn.execute("DELETE FROM sensor_latest_flush WHERE at < now() - $1::interval", STALE)
    return since
