"""The websocket clients (1–2 processes): subscribe boxes, record every reading's latency and every alarm."""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import orjson

from bench.live.layout import CHANNELS, time_us
from twin.ops.heap import settle_heap


def client_main(url: str, boxes: list[tuple[int, list[float]]], control: Connection) -> None:
    """Subscribe every box, then record (send µs, latency µs) for each reading and every alarm per client until
    told to hand them over."""
    asyncio.run(_clients(url, boxes, control))


async def _clients(url: str, boxes: list[tuple[int, list[float]]], control: Connection) -> None:
    from websockets.asyncio.client import connect

    sent_us, latency_us = array("q"), array("q")
    alarms: dict[int, list[tuple[str, int]]] = {index: [] for index, _ in boxes}
    counts = {"frames": 0, "ready": 0, "overflow": 0, "closed": 0}
    frames_at: dict[int, int] = {}  # frames received per 100 ms
    gate = asyncio.Semaphore(32)
    sockets: list[Any] = []

    async def one(index: int, bbox: list[float]) -> None:
        async with gate:
            ws = await connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=120)
            sockets.append(ws)
            await ws.send(orjson.dumps({"op": "subscribe", "bbox": bbox, "channels": CHANNELS}).decode())
            while True:
                first = orjson.loads(await ws.recv())
                if isinstance(first, dict) and first.get("type") == "snapshot":
                    break
        counts["ready"] += 1
        try:
            async for frame in ws:
                now = time.time()
                counts["frames"] += 1
                tenth = int(now * 10)
                frames_at[tenth] = frames_at.get(tenth, 0) + 1
                messages = orjson.loads(frame)
                if isinstance(messages, dict):
                    if messages.get("type") == "overflow":
                        counts["overflow"] += 1
                    continue
                for m in messages:
                    kind = m["type"]
                    if kind == "reading":
                        t = datetime.fromisoformat(m["time"]).timestamp()
                        sent_us.append(int(t * 1e6))
                        latency_us.append(int((now - t) * 1e6))
                    elif kind == "alarm":
                        alarms[index].append((m["sensor"], time_us(m["updated_at"])))
        except Exception:  # a closed connection ends this client; counted
            counts["closed"] += 1

    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(one(index, bbox)) for index, bbox in boxes]
    while counts["ready"] < len(boxes):
        await asyncio.sleep(0.1)
        if any(t.done() and t.exception() for t in tasks):
            raise next(t.exception() for t in tasks if t.done() and t.exception())  # type: ignore[misc]
    settle_heap()  # as the server does: unfrozen, full collections over 500 connections paused a client process
    control.send("ready")  # for up to 0.4 s, which it measured as the server's latency
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "collect":
            control.send({"sent": np.frombuffer(sent_us, dtype=np.int64).copy(),
                          "latency": np.frombuffer(latency_us, dtype=np.int64).copy(),
                          "alarms": alarms, "counts": dict(counts), "frames_at": dict(frames_at)})
            frames_at.clear()
            del sent_us[:], latency_us[:]
            for index in alarms:
                alarms[index] = []
        elif command == "stop":
            break
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for task in tasks:
        task.cancel()
    control.send("stopped")
