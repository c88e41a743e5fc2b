"""Access on the server, before any routing (so the bare-ASGI fast paths and the websocket handshake are
covered): who a request is from, whether it is within its rate limit, and whether its role may use the route
(`twin.access.policy`). A request that may not go on is answered here with a JSON `{"detail": …}`: 401 without a
valid key, 403 for a role too weak, 429 with `Retry-After` past the rate limit.

A key travels as `Authorization: Bearer <key>`, as `?key=<key>` (browsers cannot set a websocket's headers), or
in the `citytwin_key` cookie the viewer's page sets when it is opened as `/?key=<key>` (docs/access.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson

from twin.access.control import AccessControl, Unauthorized, bearer
from twin.access.policy import roles_for
from twin.access.ratelimit import retry_after
from twin.access.roles import OPEN, Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PRINCIPAL = "citytwin.principal"
"""The scope key holding the request's `Principal` (routes read it, e.g. a device key's sensors)."""
COOKIE = "citytwin_key"
UNAUTHORIZED_HEADERS = [(b"www-authenticate", b'Bearer realm="citytwin"')]


def principal_of(scope: Scope) -> Principal:
    """The principal `authorize` found for a request (`OPEN` when access control is not installed)."""
    principal: Principal = scope.get(PRINCIPAL, OPEN)
    return principal


async def refuse(scope: Scope, send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    """An HTTP refusal, or for a websocket the same answer to its handshake (else a policy-violation close)."""
    body = orjson.dumps({"detail": detail})
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                *headers]})
        await send({"type": "http.response.body", "body": body})
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                *headers]})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})


def token_of(scope: Scope) -> tuple[str | None, str]:
    """The key a request carries and where it came from: 'header', 'query', 'cookie' (or None, '')."""
    cookie = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bearer(value), "header"
        if name == b"cookie" and COOKIE.encode() in value:
            cookie = value.decode("latin-1")
    query = scope.get("query_string", b"")
    if b"key=" in query:
        for name, value in parse_qsl(query.decode("latin-1")):
            if name == "key":
                return value, "query"
    if cookie is not None:
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                return value, "cookie"
    return None, ""


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return f"address {client[0]}" if client else "address ?"


async def _identify(access: AccessControl, scope: Scope, send: Send, token: str | None, now: float
                    ) -> Principal | None:
    if not access.enforcing:
        return OPEN
    if token is not None and (known := access.cached(token, now)) is not None:
        wait = access.throttle(known.key_id or "", now)
        if not wait:
            return known
        await _too_many(scope, send, wait)
        return None
    wait = access.throttle(client_of(scope), now)  # before any hashing: a flood of bad keys costs no scrypt
    if wait:
        await _too_many(scope, send, wait)
        return None
    if token is None:
        return access.without_key()
    try:
        return await anyio.to_thread.run_sync(access.verify, token, now)
    except Unauthorized as exc:
        await refuse(scope, send, 401, str(exc), UNAUTHORIZED_HEADERS)
        return None


async def _too_many(scope: Scope, send: Send, wait: float) -> None:
    seconds = retry_after(wait)
    await refuse(scope, send, 429, f"rate limit reached: try again in {seconds} s",
                 [(b"retry-after", str(seconds).encode())])


async def authorize(access: AccessControl, scope: Scope, send: Send, now: float) -> Principal | None:
    """The request's principal (also put in the scope) when it may go on; None when it was answered here."""
    token, source = token_of(scope)
    principal = await _identify(access, scope, send, token, now)
    if principal is None:
        return None
    method = "WEBSOCKET" if scope["type"] == "websocket" else scope["method"]
    needs = roles_for(method, scope["path"])
    if not principal.may_any(needs):
        need = " or ".join(needs)
        if principal.key_id is None:
            await refuse(scope, send, 401, f"{method} {scope['path']} needs an API key of role {need} or above "
                         "(Authorization: Bearer <key>)", UNAUTHORIZED_HEADERS)
        else:
            await refuse(scope, send, 403, f"{method} {scope['path']} needs role {need}; this key has role "
                         f"{principal.role}", [])
        return None
    scope[PRINCIPAL] = principal
    if source == "query" and scope["type"] == "http" and scope["path"] == "/" and principal.key_id is not None:
        scope["citytwin.set_cookie"] = token
    return principal


def with_key_cookie(scope: Scope, send: Send) -> Send:
    """`send` that also sets the key cookie on the viewer's page opened as `/?key=…`, so its own requests (tiles,
    API, websocket) carry the key without the page handling it."""
    token = scope.get("citytwin.set_cookie")
    if token is None:
        return send
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()

    async def send_with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return send_with_cookie

