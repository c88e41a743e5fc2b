"""The server under test as `citytwin serve` runs it, and the bare `websockets` peer (the fan-out limit)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from bench.live.layout import DLAT, DLON, LAT0, LON0, TICK_S, Layout


def serve(port: int, workers: int) -> None:
    """The app as `citytwin serve [--workers N]` serves it (settings from CITYTWIN_*), without an access log."""
    import uvicorn

    from twin.api.lean_http import LeanHttpProtocol

    if workers <= 1:
        from twin.api import create_app
        from twin.settings import Settings

        uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    http=LeanHttpProtocol)
    else:
        uvicorn.run("twin.api.asgi:app_from_environment", factory=True, host="127.0.0.1", port=port,
                    workers=workers, log_level="warning", access_log=False, http=LeanHttpProtocol)


def bare_serve(port: int, n: int) -> None:
    """The fan-out limit: a minimal websockets server. A `feed` connection sends readings; each goes to the
    clients whose box holds its sensor (a sensor → clients map built at subscribe), one frame per client per
    tick."""
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # the benchmark's port probes are no errors
    asyncio.run(_bare(port, Layout(n)))


class _BareClient:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.wake = asyncio.Event()


async def _bare(port: int, layout: Layout) -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    subs: dict[str, list[_BareClient]] = {}
    seq = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal seq
        hello = orjson.loads(await ws.recv())
        if hello.get("op") == "feed":
            async for frame in ws:
                for r in orjson.loads(frame):
                    seq += 1
                    message = {"type": "reading", "seq": seq, "sensor": r["sensor"], "object": None,
                               "kind": "temperature", "time": r["time"], "value": r["value"]}
                    for client in subs.get(r["sensor"], ()):
                        if not client.pending:
                            client.wake.set()
                        client.pending.append(message)
            return
        w, s, e, _ = hello["bbox"]
        col0, row0 = round((w - LON0) / DLON + 0.5), round((s - LAT0) / DLAT + 0.5)
        width = round((e - w) / DLON)
        client = _BareClient()
        mine = [layout.sensor_id(i) for i in layout.in_box((col0, row0, width))]
        for sensor_id in mine:
            subs.setdefault(sensor_id, []).append(client)
        await ws.send(orjson.dumps({"type": "snapshot", "seq": seq, "sensors": len(mine)}).decode())
        last = time.monotonic()
        try:
            while True:
                await client.wake.wait()
                await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - last)))
                client.wake.clear()
                last = time.monotonic()
                messages, client.pending = client.pending, []
                await ws.send(orjson.dumps(messages).decode())
        except ConnectionClosed:
            pass
        finally:
            for sensor_id in mine:
                subs[sensor_id].remove(client)

    async with ws_serve(handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None):
        await asyncio.Future()
