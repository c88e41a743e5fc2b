"""Request body limits for everything but uploads: a body over the limit is answered 413 before the app runs.

Bodies of other routes are small (a polygon, a filter), so the wrapper reads them whole — at most `limit` bytes —
and replays them to the app; a declared or streamed length over the limit never reaches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": f"request body larger than {limit:,} bytes"})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def with_body_limit(app: App, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """Run `app` on a body of at most `limit` bytes; answer 413 for a longer one (declared or streamed)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            await _refuse(send, limit)
            return
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
        await app(scope, receive, send)
        return
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            await _refuse(send, limit)
            return
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": b"".join(parts), "more_body": False}

    await app(scope, replay, send)
