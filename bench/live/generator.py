"""The load generator: readings posted over keep-alive HTTP (or fed to the bare peer) at a scheduled rate."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import orjson

from bench.live.layout import ALARM_EVERY, HIGH, LOW, OVERRUN, POST_TIMEOUT_S, Layout, time_text, time_us


class _Http:
    """A lean keep-alive POST client: the request as bytes, the answer read by its Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(lines[0].split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class StepLoad:
    """What the generator did in one step: readings sent and accepted, and which sensors' were accepted."""

    rate: float
    seconds: float
    start: float = 0.0
    end: float = 0.0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed_posts: int = 0
    late_s: float = 0.0  # how far behind its schedule the last batch went out
    sensors: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    alarm_readings: list[tuple[int, int]] = field(default_factory=list)  # (sensor index, time µs) accepted


def generator_main(n: int, control: Connection) -> None:
    """Readings on command: ("http", port, rate, seconds, batch, connections) posts them; ("ws", url, …) feeds the
    bare peer over one websocket. Sensors take turns in a fixed shuffled order; an alarming sensor's readings
    alternate between above red and below it, so each of its readings is one alarm transition."""
    asyncio.run(_generate(n, control))


class _Generator:
    def __init__(self, n: int) -> None:
        layout = Layout(n)
        self.n = n
        self.order = np.random.default_rng(3).permutation(n).astype(np.int32)
        self.prefixes = [b'{"sensor":"%s","time":"' % layout.sensor_id(i).encode() for i in range(n)]
        self.high = np.zeros(n, dtype=bool)  # the alarming sensors' last value was above red
        self.cursor = 0

    def batch(self, size: int, t: float) -> tuple[bytes, np.ndarray, list[int]]:
        """The next `size` sensors' readings at time `t`; their indices and the positions of alarming ones."""
        idx = self.order[np.arange(self.cursor, self.cursor + size) % self.n]
        self.cursor = (self.cursor + size) % self.n
        stamp = time_text(t).encode()
        parts, alarmed = [], []
        for position, i in enumerate(idx.tolist()):
            if i % ALARM_EVERY == 0:
                value = LOW if self.high[i] else HIGH
                self.high[i] = not self.high[i]
                alarmed.append(position)
            else:
                value = 20.0 + (i % 7)
            parts.append(self.prefixes[i] + stamp + b'","value":%r}' % value)
        return b"[" + b",".join(parts) + b"]", idx, alarmed

    async def step(self, mode: str, target: Any, rate: float, seconds: float, size: int,
                   connections: int) -> StepLoad:
        load = StepLoad(rate, seconds)
        accepted: list[np.ndarray] = []
        interval = size / rate
        next_batch = 0
        start = load.start = time.time() + 0.05

        async def post_loop(conn: Any) -> None:
            nonlocal next_batch
            while True:
                k = next_batch
                next_batch += 1
                due = start + k * interval
                if due >= start + seconds or time.time() > start + seconds * OVERRUN:
                    return  # a server that cannot keep up is offered no more than it takes in the step's time
                await asyncio.sleep(max(0.0, due - time.time()))
                t = time.time()
                load.late_s = max(load.late_s, t - due)
                body, idx, alarmed = self.batch(size, t)
                t_us = time_us(time_text(t))
                load.sent += len(idx)
                good = np.ones(len(idx), dtype=bool)
                if mode == "ws":
                    await conn.send(body.decode())
                    load.accepted += len(idx)
                else:
                    try:
                        status, answer = await asyncio.wait_for(conn.post("/readings", body), POST_TIMEOUT_S)
                    except (OSError, asyncio.IncompleteReadError, TimeoutError):
                        load.failed_posts += 1
                        conn.close()
                        return
                    if status != 200:
                        load.failed_posts += 1
                        continue
                    result = orjson.loads(answer)
                    for r in result["rejected"]:
                        good[r["index"]] = False
                    load.accepted += result["accepted"]
                    load.duplicates += result["duplicates"]
                    load.rejected += len(result["rejected"])
                accepted.append(idx[good])
                load.alarm_readings.extend((int(idx[p]), t_us) for p in alarmed if good[p])

        if mode == "ws":
            from websockets.asyncio.client import connect

            async with connect(target, compression=None, max_size=None, ping_interval=None) as ws:
                await ws.send(orjson.dumps({"op": "feed"}).decode())
                await post_loop(ws)
        else:
            clients = [await _Http.open(target) for _ in range(connections)]
            await asyncio.gather(*(post_loop(c) for c in clients))
            for c in clients:
                c.close()
        load.end = time.time()
        load.sensors = np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int32)
        return load


async def _generate(n: int, control: Connection) -> None:
    generator = _Generator(n)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "stop":
            break
        control.send(await generator.step(*command))
    control.send("stopped")
