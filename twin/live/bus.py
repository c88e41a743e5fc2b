"""The bus every worker's hub reads in one order: in-process by default, a Redis stream when `CITYTWIN_BUS_URL`
is set (so `citytwin serve --workers N` shares one live layer).

Sequence numbers come from time: a Redis stream id `ms-n` is `ms × 1024 + n`, and the in-process bus starts at
the current millisecond × 1024, so a client resuming against a newer server generation is always behind the
ring and takes a snapshot instead of a wrong resume.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from twin.live.tasks import cancel_and_wait

log = logging.getLogger(__name__)
OnEntry = Callable[[int, dict[str, Any]], None]
STREAM = "citytwin:live"


def seq_of_stream_id(stream_id: str) -> int:
    ms, n = stream_id.split("-")
    return int(ms) * 1024 + min(int(n), 1023)


class Bus(Protocol):
    start_seq: int

    async def mark(self) -> None:
        """Remember where the bus is now: `start` reads from here, so whatever is published while the worker loads
        its state is applied after it, not lost."""

    async def start(self, on_entry: OnEntry) -> None: ...

    async def publish(self, entry: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: an entry is applied as soon as it is published, in publishing order."""

    def __init__(self) -> None:
        self.start_seq = self.seq = int(time.time() * 1000) * 1024
        self.on_entry: OnEntry | None = None

    async def mark(self) -> None:
        """Nothing to remember: publishing and applying happen in one process."""

    async def start(self, on_entry: OnEntry) -> None:
        self.on_entry = on_entry

    async def publish(self, entry: dict[str, Any]) -> None:
        self.seq += 1
        assert self.on_entry is not None
        self.on_entry(self.seq, entry)

    async def close(self) -> None:
        self.on_entry = None


class RedisBus:
    """A Redis stream (XADD/XREAD, capped at `max_length` entries): every worker reads every entry in stream
    order; a reader that lost Redis reconnects and goes on from the last id it had."""

    def __init__(self, url: str, max_length: int = 200_000) -> None:
        import redis.asyncio as redis  # the scale-out path only

        self.redis: Any = redis.from_url(url)
        self.reader: Any = redis.from_url(url)
        self.max_length = max_length
        self.last_id = "0-0"
        self.start_seq = 0
        self.marked = False
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def mark(self) -> None:
        """The newest entry's id (reading resumes after it), or the stream's beginning when it is empty; sequence
        numbers start from that id or, on an empty stream, from now."""
        newest = await self.redis.xrevrange(STREAM, count=1)
        if newest:
            self.last_id = newest[0][0].decode()
            self.start_seq = seq_of_stream_id(self.last_id)
        else:  # one below now: an entry added within this millisecond still comes after the start
            self.last_id, self.start_seq = "0-0", int(time.time() * 1000) * 1024 - 1
        self.marked = True

    async def start(self, on_entry: OnEntry) -> None:
        if not self.marked:
            await self.mark()
        self.task = asyncio.create_task(self._read(on_entry), name="citytwin-bus")
        self.connected.set()

    async def _read(self, on_entry: OnEntry) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        while True:
            try:
                replies = await self.reader.xread({STREAM: self.last_id}, block=1000, count=1000)
                self.connected.set()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.connected.clear()
                log.warning("live bus: Redis unreachable (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in replies:
                for stream_id, fields in entries:
                    self.last_id = stream_id.decode()
                    try:
                        on_entry(seq_of_stream_id(self.last_id), orjson.loads(fields[b"e"]))
                    except Exception:
                        log.exception("live bus: entry %s could not be applied", self.last_id)

    async def publish(self, entry: dict[str, Any], attempts: int = 50) -> None:
        """XADD, retried for ≈10 s while Redis is unreachable (a restart), so no entry is lost to a short outage."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        payload = orjson.dumps(entry)
        for attempt in range(attempts):
            try:
                await self.redis.xadd(STREAM, {"e": payload}, maxlen=self.max_length, approximate=True)
                return
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        await cancel_and_wait([self.task])
        await self.redis.aclose()
        await self.reader.aclose()


def open_bus(url: str | None) -> Bus:
    return RedisBus(url) if url else LocalBus()
