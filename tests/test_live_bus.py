"""The Redis bus on a real redis-server: a worker that is still starting misses nothing published meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.helpers.redis_server import redis_server
from twin.live.bus import RedisBus


async def _entries_seen_after_a_late_start(url: str, before: list[str], meanwhile: list[str]) -> list[str]:
    starting, running = RedisBus(url), RedisBus(url)
    seen: list[tuple[int, dict[str, Any]]] = []
    try:
        for name in before:
            await running.publish({"k": "sensor", "name": name})
        await starting.mark()  # a worker begins: it marks the bus, then loads its state from the database
        for name in meanwhile:  # another worker publishes while it loads
            await running.publish({"k": "sensor", "name": name})
        await starting.start(lambda seq, entry: seen.append((seq, entry)))
        async with asyncio.timeout(10):
            while len(seen) < len(meanwhile):
                await asyncio.sleep(0.01)
        assert all(seq > starting.start_seq for seq, _ in seen)
        return [entry["name"] for _, entry in seen]
    finally:
        await starting.close()
        await running.close()


def test_what_is_published_while_a_worker_loads_its_state_reaches_it_after_on_an_empty_stream(
        tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        assert asyncio.run(_entries_seen_after_a_late_start(redis.url, [], ["A", "B"])) == ["A", "B"]


def test_what_is_published_while_a_worker_loads_its_state_reaches_it_and_nothing_from_before(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        assert asyncio.run(_entries_seen_after_a_late_start(redis.url, ["old"], ["A", "B"])) == ["A", "B"]
