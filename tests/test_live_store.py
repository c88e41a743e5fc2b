"""The live tables written by workers in any order: an alarm's transitions stored out of order end the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import make_url

from twin.live import store
from twin.live.alarms import SensorAlarm, parse_rule, step
from twin.live.sensors import parse_sensor

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_an_alarms_clear_stored_before_its_raise_leaves_it_cleared_with_its_whole_history(database_url: str) -> None:
    sensor = parse_sensor({"id": "G", "kind": "gas", "object_id": "house.b"})
    rule, standing = parse_rule({"levels": {"yellow": 10, "red": 25}}), SensorAlarm()
    raised = step(standing, rule, "G", T0, 30)
    cleared = step(standing, rule, "G", T0 + timedelta(minutes=1), 1)
    assert raised is not None and cleared is not None
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> tuple[object, ...]:
        pool = await store.open_pool(dsn)
        try:
            async with pool.acquire() as conn:  # as two workers would: the clear's worker first
                await store.write_transitions(conn, [cleared], {"G": sensor})
                await store.write_transitions(conn, [raised], {"G": sensor})
                row = await conn.fetchrow("SELECT level, raised_at, cleared_at FROM alarms")
                actions = [r["action"] for r in await conn.fetch("SELECT action FROM alarm_history ORDER BY at")]
            return row["level"], row["raised_at"], row["cleared_at"], actions
        finally:
            await pool.close()

    level, raised_at, cleared_at, actions = asyncio.run(run())
    assert (level, raised_at, cleared_at) == ("red", T0, T0 + timedelta(minutes=1))
    assert actions == ["raised", "cleared"]


def test_a_batch_mixing_resent_and_new_readings_names_only_the_resent_ones(database_url: str) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC)
    first = [("G", now - timedelta(seconds=2), 1.0, now), ("G", now - timedelta(seconds=1), 2.0, now)]
    later = now + timedelta(seconds=1)
    second = [("G", now - timedelta(seconds=1), 2.0, later), ("G", now, 3.0, later)]

    async def run() -> tuple[store.Resent, store.Resent, int]:
        pool = await store.open_pool(dsn)
        try:
            async with pool.acquire() as conn:
                await store.maintain_partitions(conn, now, 1)
                once = await store.write_readings(conn, first)
                twice = await store.write_readings(conn, second)
                count = await conn.fetchval("SELECT count(*) FROM readings")
            return once, twice, count
        finally:
            await pool.close()

    once, twice, count = asyncio.run(run())
    assert once == set() and twice == {("G", now - timedelta(seconds=1), later)}
    assert count == 3


def test_workers_keeping_the_partitions_at_the_same_moment_do_not_trip_over_each_other(database_url: str) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC)

    async def run() -> list[tuple[int, int]]:
        pool = await store.open_pool(dsn, size=4)
        try:
            async def keep() -> tuple[int, int]:
                async with pool.acquire() as conn:
                    return await store.maintain_partitions(conn, now, 30)

            return list(await asyncio.gather(*(keep() for _ in range(4))))
        finally:
            await pool.close()

    results = asyncio.run(run())
    assert sorted(created for created, _ in results) == [0, 0, 0, 35]  # one made them all, the others found them
