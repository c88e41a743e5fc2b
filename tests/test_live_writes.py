"""The readings' write path on a real PostGIS: one COPY straight into the partitions for new rows, the staged path
for re-sends, and `sensor_latest` flushed from the live state and corrected after a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from twin.live import latest, store
from twin.live.latest import Pending
from twin.live.service import LiveOptions, LiveService

NOW = datetime.now(UTC).replace(microsecond=0)


def dsn_of(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def rows_for(prefix: str, n: int, received: datetime) -> list[tuple[str, datetime, float, datetime]]:
    """n rows over 5 sensors, spread over two days (two partitions)."""
    return [(f"{prefix}{i % 5}", NOW - timedelta(hours=i * 5), float(i), received) for i in range(n)]


async def stored(conn: asyncpg.Connection, prefix: str) -> list[tuple[str, datetime, float, datetime]]:
    rows = await conn.fetch("SELECT sensor_id, time, value, received_at FROM readings WHERE sensor_id LIKE $1 "
                            "ORDER BY sensor_id, time", prefix + "%")
    return [(r["sensor_id"][len(prefix):], r["time"], r["value"], r["received_at"]) for r in rows]


def on_database(database_url: str, body: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(dsn_of(database_url))
        await store.init_connection(conn)
        try:
            await store.maintain_partitions(conn, NOW, 30)
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_the_fast_path_and_the_staged_path_store_the_same_rows(database_url: str) -> None:
    async def body(conn: asyncpg.Connection) -> tuple[Any, ...]:
        fast = await store.write_readings(conn, rows_for("F", 40, NOW))
        staged = await store.write_staged(conn, rows_for("S", 40, NOW))
        return fast, staged, await stored(conn, "F"), await stored(conn, "S")

    fast, staged, fast_rows, staged_rows = on_database(database_url, body)
    assert fast == staged == set()
    assert len(fast_rows) == 40 and fast_rows == staged_rows


def test_resends_within_and_across_batches_mixed_with_new_rows_are_named_and_stored_once(
        database_url: str) -> None:
    first = rows_for("G", 10, NOW)
    later = NOW + timedelta(seconds=1)
    resent = [(s, t, v + 100, later) for s, t, v, _ in first[:3]]  # the same (sensor, time), another value
    new = [("G9", NOW - timedelta(minutes=m), 9.0, later) for m in range(4)]
    twice = [("G8", NOW, 8.0, later), ("G8", NOW, 8.5, later + timedelta(microseconds=1))]  # two posts, one batch

    async def body(conn: asyncpg.Connection) -> tuple[Any, ...]:
        once = await store.write_readings(conn, first)
        across = await store.write_readings(conn, resent + new)
        within = await store.write_readings(conn, twice)
        return once, across, within, await stored(conn, "G")

    once, across, within, rows = on_database(database_url, body)
    assert once == set()
    assert across == {(s, t, r) for s, t, _, r in resent}
    assert within == {("G8", NOW, later + timedelta(microseconds=1))}  # the one that did not land
    assert len(rows) == 10 + 4 + 1
    values = {("G" + s, t): v for s, t, v, _ in rows}
    assert [values[s, t] for s, t, _, _ in resent] == [v for _, _, v, _ in first[:3]]  # the stored rows stand


def test_pending_keeps_the_newest_row_per_sensor_and_marks_before_the_oldest_batch_in_flight() -> None:
    pending = Pending()
    early, late = NOW - timedelta(seconds=10), NOW - timedelta(seconds=2)
    pending.begin(early)
    pending.begin(late)
    pending.committed(late, [("A", NOW - timedelta(seconds=3), 1.0, late), ("A", NOW, 2.0, late),
                             ("B", NOW, 3.0, late)])
    rows, mark = pending.take(NOW)
    assert rows == [("A", NOW, 2.0, late), ("B", NOW, 3.0, late)]
    assert mark == early - latest.SLACK  # the early batch may still land
    pending.failed(early)
    assert pending.take(NOW) == ([], NOW - latest.SLACK)
    pending.give_back([("A", NOW - timedelta(seconds=1), 0.5, late), ("A", NOW, 2.0, late)])
    assert pending.take(NOW)[0] == [("A", NOW, 2.0, late)]


SENSORS = [{"id": f"T{i}", "kind": "temperature", "object_id": "house.b"} for i in range(3)]


async def with_sensors(service: LiveService) -> None:
    """Create the sensors and wait until the bus has brought them to the live state."""
    stored, refused = await service.put_sensors(SENSORS)
    assert len(stored) == len(SENSORS), refused
    for _ in range(200):
        if all(s["id"] in service.hub.state.sensors for s in SENSORS):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the sensors never reached the live state")


async def crash(service: LiveService) -> None:
    """Stop as a killed process would: nothing flushed, no mark dropped."""
    for task in service.tasks:
        task.cancel()
    await service.writer.close()
    await service.bus.close()
    service.pool.terminate()


def test_a_restart_after_a_crash_before_the_flush_loads_and_stores_the_latest_values(database_url: str) -> None:
    options = LiveOptions(latest_flush_s=3600)  # the crash comes before any flush

    async def run() -> tuple[Any, ...]:
        first = await LiveService.open(dsn_of(database_url), options)
        await with_sensors(first)
        for step in range(3):
            result = await first.post_readings([{"sensor": s["id"], "time": (NOW + timedelta(seconds=step))
                                                 .isoformat(), "value": 10.0 * step + i}
                                                for i, s in enumerate(SENSORS)])
            assert result.accepted == 3
        await crash(first)
        conn = await asyncpg.connect(dsn_of(database_url))
        before = await conn.fetchval("SELECT count(*) FROM sensor_latest")
        await conn.close()
        second = await LiveService.open(dsn_of(database_url), options)
        try:
            live = {s: (v.time, v.value) for s, v in second.hub.state.latest.items()}
            async with second.pool.acquire() as conn:
                table = {r["sensor_id"]: (r["time"], r["value"]) for r in await conn.fetch(
                    "SELECT sensor_id, time, value FROM sensor_latest")}
        finally:
            await second.close()
        return before, live, table

    before, live, table = asyncio.run(run())
    expected = {f"T{i}": (NOW + timedelta(seconds=2), 20.0 + i) for i in range(3)}
    assert before == 0
    assert live == expected and table == expected


def test_the_flush_stores_the_latest_values_and_a_clean_stop_leaves_no_mark(database_url: str) -> None:
    options = LiveOptions(latest_flush_s=0.05)

    async def run() -> tuple[Any, ...]:
        service = await LiveService.open(dsn_of(database_url), options)
        try:
            await with_sensors(service)
            await service.post_readings([{"sensor": "T0", "time": NOW.isoformat(), "value": 1.5}])
            await service.post_readings([{"sensor": "T0", "time": (NOW - timedelta(seconds=5)).isoformat(),
                                          "value": 9.0}])  # late: the newer stored one stays the latest
            async with service.pool.acquire() as conn:
                for _ in range(100):
                    flushed = await conn.fetchrow("SELECT time, value FROM sensor_latest WHERE sensor_id = 'T0'")
                    if flushed is not None:
                        break
                    await asyncio.sleep(0.05)
                marks = await conn.fetchval("SELECT count(*) FROM sensor_latest_flush")
        finally:
            await service.close()
        conn = await asyncpg.connect(dsn_of(database_url))
        try:
            after = await conn.fetchval("SELECT count(*) FROM sensor_latest_flush")
            value = await conn.fetchval("SELECT value FROM sensor_latest WHERE sensor_id = 'T0'")
        finally:
            await conn.close()
        return flushed, marks, after, value

    flushed, marks, after, value = asyncio.run(run())
    assert (flushed["time"], flushed["value"]) == (NOW, 1.5)
    assert marks == 1 and after == 0 and value == 1.5


def test_a_live_worker_recovers_the_mark_of_a_worker_that_is_gone(database_url: str) -> None:
    async def body(conn: asyncpg.Connection) -> tuple[Any, ...]:
        await store.write_readings(conn, [("R1", NOW, 4.0, NOW), ("R1", NOW - timedelta(seconds=1), 3.0, NOW)])
        await latest.flush(conn, "gone", [], NOW - timedelta(seconds=1))
        fresh = await latest.recover(conn, every_mark=False)  # its mark still moves: it may be alive
        await conn.execute("UPDATE sensor_latest_flush SET at = now() - interval '1 minute'")
        since = await latest.recover(conn, every_mark=False)
        value = await conn.fetchval("SELECT value FROM sensor_latest WHERE sensor_id = 'R1'")
        return fresh, since, value, await conn.fetchval("SELECT count(*) FROM sensor_latest_flush")

    fresh, since, value, marks = on_database(database_url, body)
    assert fresh is None and since == NOW - timedelta(seconds=1)
    assert value == 4.0 and marks == 0
