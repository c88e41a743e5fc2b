"""Requests measured where they enter the app: count and latency per route template (never the raw path, so a
million tile paths are one series), and with JSON logs one access record each with its request id.

The template is FastAPI's matched route (`scope["route"]`), or what a fast path answering in bare ASGI names in
`scope[ROUTE_KEY]`; a request no route matched is `unmatched`. The lean HTTP protocol, which answers some queries
without ASGI at all, calls `observe_lean` instead.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from twin.ops import metrics
from twin.ops.logs import ACCESS_LOGGER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTE_KEY = "citytwin.route"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_ID = re.compile(r"^[!-~]{1,128}$")
access_log = logging.getLogger(ACCESS_LOGGER)


def route_of(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    named = scope.get(ROUTE_KEY)
    return named if isinstance(named, str) else UNMATCHED


def _method(scope: Scope) -> str:
    method = scope.get("method", "GET")
    return method if method in METHODS else "OTHER"


def _request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when it is one short visible token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


async def observed(app: App, scope: Scope, receive: Receive, send: Send, access: bool) -> None:
    """Run `app` on an HTTP request and record it; with `access`, log it and answer its `X-Request-ID`."""
    start = time.perf_counter()
    status = 500  # what the client sees when the app fails before answering
    request_id = _request_id(scope) if access else ""

    async def send_observed(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            if access:
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-request-id", request_id.encode())]}
        await send(message)

    try:
        await app(scope, receive, send_observed)
    finally:
        seconds = time.perf_counter() - start
        route, method = route_of(scope), _method(scope)
        metrics.observe_request(method, route, status, seconds)
        if access:
            client = scope.get("client")
            log_access(request_id, method, scope.get("path", ""), route, status, seconds,
                       f"{client[0]}:{client[1]}" if client else None)


def observe_lean(route: str, path: str, seconds: float, client: str | None, access: bool) -> None:
    """A GET the lean protocol answered itself (always 200)."""
    metrics.observe_request("GET", route, 200, seconds)
    if access:
        log_access(uuid.uuid4().hex, "GET", path, route, 200, seconds, client)


def log_access(request_id: str, method: str, path: str, route: str, status: int, seconds: float,
               client: str | None) -> None:
    access_log.info("%s %s %d", method, path, status,
                    extra={"request_id": request_id, "method": method, "path": path, "route": route,
                           "status": status, "duration_ms": round(seconds * 1000, 3), "client": client})
