"""The live deltas' fast path (twin.live.direct) against the plain ASGI send, on a real uvicorn server: a client
receives the very same messages either way, with and without permessage-deflate, and a closed connection is not
written to."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import uvicorn
from websockets.asyncio.client import connect

from twin.live.direct import DirectFrames
from twin.localhost import free_port

PAYLOADS = [b"[]", orjson.dumps([{"type": "reading", "sensor": "Zürich-北京", "value": 1.5}]),
            orjson.dumps([{"type": "reading", "seq": i, "value": i / 7} for i in range(5_000)])]


async def _received(direct: bool, compression: str | None) -> tuple[list[str], list[bool]]:
    used: list[bool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        frames = DirectFrames.of(send) if direct else None
        for payload in PAYLOADS:
            if frames is not None and frames.ready():
                frames.write(payload)
                used.append(True)
            else:
                await send({"type": "websocket.send", "text": payload.decode()})
                used.append(False)
        await send({"type": "websocket.close", "code": 1000})
        used.append(frames is not None and frames.ready())  # closed: never written to again

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with connect(f"ws://127.0.0.1:{port}/ws", compression=compression, max_size=None) as ws:
            messages = [str(message) async for message in ws]
    finally:
        server.should_exit = True
        await serving
    return messages, used


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_frames_written_directly_reach_the_client_exactly_as_the_asgi_send_delivers_them(
        compression: str | None) -> None:
    direct, used_direct = asyncio.run(_received(True, compression))
    plain, used_plain = asyncio.run(_received(False, compression))
    assert direct == plain == [p.decode() for p in PAYLOADS]
    assert used_direct == [True, True, True, False]
    assert used_plain == [False, False, False, False]


def test_a_send_that_is_not_a_websockets_sansio_connection_has_no_fast_path() -> None:
    async def send(message: dict[str, Any]) -> None:
        return None

    assert DirectFrames.of(send) is None
    assert DirectFrames.of(None) is None
    assert DirectFrames.of(print) is None  # a bound builtin: its __self__ is a module
