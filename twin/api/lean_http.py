"""HTTP/1.1 connections that answer the query fast path without the ASGI machinery, and give uvicorn the rest.

A dashboard asks `/query/at?…` over one keep-alive connection again and again. Through uvicorn each request is
parsed by callbacks into an ASGI scope, gets a request-response cycle with an event, passes the proxy-headers
middleware and the app, and has its head and body written apart. On a 0.3 ms point query that cost ≈50 µs more
than a bare asyncio protocol running the same query: in a hot loop it is 8 µs, but the code runs cold after each
wait on the database, and measured in place every microsecond of hot Python costs four to five.

`LeanHttpProtocol` is uvicorn's connection protocol (`uvicorn.run(…, http=LeanHttpProtocol)`). While a connection
sends plain requests — one complete `GET` head per packet, HTTP/1.1, one Host, no body, no upgrade, no proxy
headers — for a path the query fast path takes, it answers them itself through `twin.api.query_server.answer`,
with uvicorn's Date and Server headers, in one write. The first request it does not take (another route,
anything unusual, pipelining, a head split over packets, a request the fast path declines) turns the connection
over to uvicorn's own protocol for good, with that request's bytes — as uvicorn's own HTTP/2 sniffer hands over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, NamedTuple, cast

import uvicorn
from starlette.datastructures import URL
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import is_ssl
from uvicorn.server import ServerState

from twin.api.app import APP_STATE_KEY
from twin.api.query_server import answer, is_query_path, route_template
from twin.ops.http import observe_lean

MAX_HEAD = 8192
MAX_WAITING = 65536
HEAD = re.compile(rb"GET (/[!-~]*) HTTP/1\.1\r\n((?:[!#$%&'*+.^_`|~0-9A-Za-z-]++:[\t\x20-\x7e\x80-\xff]*+\r\n)*+)\r\n")
"""One complete GET head: a visible-ASCII target, HTTP/1.1, header fields of token names and visible values."""
REFUSED = re.compile(rb"\n(?:content-length|transfer-encoding|expect|upgrade|forwarded|x-forwarded-[!-9;-~]*):")
"""Header fields that make a request uvicorn's: a body, an upgrade, or proxy headers its middleware applies."""
HOST = re.compile(rb"\nhost:[ \t]*([^\r]*?)[ \t]*\r")
CONNECTION = re.compile(rb"\nconnection:[ \t]*([^\r]*?)[ \t]*\r")
access_logger = logging.getLogger("uvicorn.access")
log = logging.getLogger(__name__)


class Head(NamedTuple):
    path: str
    query_string: bytes
    host: bytes
    cross_origin: bool
    close: bool

    @property
    def target(self) -> str:
        """Path and query string, as the request line has them."""
        return self.path + ("?" + self.query_string.decode() if self.query_string else "")


def plain_get(data: bytes) -> Head | None:
    """The head of `data` if it is exactly one complete, plain HTTP/1.1 GET without a body; else None."""
    if len(data) > MAX_HEAD or not (match := HEAD.fullmatch(data)):
        return None
    fields = b"\n" + match.group(2).lower()
    hosts = HOST.findall(fields)
    if len(hosts) != 1 or REFUSED.search(fields):
        return None
    close = False
    if b"\nconnection:" in fields:
        connections = CONNECTION.findall(fields)
        tokens = {token.strip() for value in connections for token in value.split(b",")}
        if tokens - {b"close", b"keep-alive"}:
            return None
        close = b"close" in tokens
    target = match.group(1)
    path, _, query_string = target.partition(b"?")
    if b"%" in path or b"#" in target or b"\\" in path:
        return None
    return Head(path.decode("ascii"), query_string, hosts[0], b"\norigin:" in fields, close)


class LeanHttpProtocol(asyncio.Protocol):
    """One connection: query fast-path requests answered here until the first other request, then uvicorn's."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.task: asyncio.Task[None] | None = None
        self.waiting = b""  # bytes that came while an answer was under way: uvicorn's, after it
        self.paused = False
        self.closing = False
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.host = b""
        self.url_root = ""
        self.defaults: tuple[list[tuple[bytes, bytes]], bytes] = ([], b"")
        self.access_log = config.access_log and access_logger.hasHandlers()
        # uvicorn's own answers for these: 503s when over the limit, paths under a root path
        self.lean = config.limit_concurrency is None and not config.root_path

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's subclasses
        if is_ssl(self.transport) or not self.lean:
            self._hand_over(b"")
            return
        self.server_state.connections.add(cast(Any, self))  # uvicorn asks its connections to `shutdown()`
        self.server = _address(self.transport.get_extra_info("sockname"))
        self.last_active = self.loop.time()
        self.idle_timer = self.loop.call_later(self.config.timeout_keep_alive, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    def eof_received(self) -> None:
        pass

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after the answer under way."""
        self.closing = True
        if self.task is None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.task is not None:
            self.waiting += data
            if len(self.waiting) > MAX_WAITING:  # a client sending faster than it is answered waits
                self.transport.pause_reading()
                self.paused = True
            return
        app = self.app_state.get(APP_STATE_KEY)
        server = app.state.queries if app is not None else None
        access = getattr(app.state, "access", None) if app is not None else None
        if access is not None and access.enforcing:  # keys in force: every request passes twin.access.asgi
            server = None
        head = plain_get(data) if server is not None else None
        if head is None or not is_query_path(head.path):
            self._hand_over(data)
            return
        self.task = self.loop.create_task(self._answer(server, head, data))

    async def _answer(self, server: Any, head: Head, data: bytes) -> None:
        start = time.perf_counter()
        try:
            if head.host != self.host:
                self.host, self.url_root = head.host, _url_root(head.host, self.server)
            reply = await answer(server, head.path, head.query_string, self.url_root + head.target,
                                 self.url_root + "/", head.cross_origin)
        except Exception:  # whatever went wrong here, the request is not lost: uvicorn answers it
            log.exception("lean HTTP path failed on %s; uvicorn answers", head.path)
            reply = None
        self.task = None
        if self.transport.is_closing():
            return
        if reply is None:
            self._hand_over(data + self.waiting)
            return
        headers, body = reply
        self.transport.write(b"".join((b"HTTP/1.1 200 OK\r\n", self._default_headers(),
                                       *(b"%s: %s\r\n" % pair for pair in headers),
                                       b"connection: close\r\n\r\n" if head.close else b"\r\n", body)))
        self.server_state.total_requests += 1
        self.last_active = self.loop.time()
        if self.access_log:
            self._log(head)
        app = self.app_state.get(APP_STATE_KEY)
        structured = app is not None and app.state.access_log
        peer = _address(self.transport.get_extra_info("peername")) if structured else None
        observe_lean(route_template(head.path), head.path, time.perf_counter() - start,
                     f"{peer[0]}:{peer[1]}" if peer else None, structured)
        if head.close or self.closing:
            self.transport.close()
        elif self.waiting:
            waiting, self.waiting = self.waiting, b""
            self._hand_over(waiting)

    def _default_headers(self) -> bytes:
        """uvicorn's Date and Server headers (the list is replaced every second), encoded once per list."""
        current = self.server_state.default_headers
        if self.defaults[0] is not current:
            self.defaults = (current, b"".join(b"%s: %s\r\n" % pair for pair in current))
        return self.defaults[1]

    def _log(self, head: Head) -> None:
        peer = _address(self.transport.get_extra_info("peername"))
        access_logger.info('%s - "%s %s HTTP/%s" %d', f"{peer[0]}:{peer[1]}" if peer else "", "GET", head.target,
                           "1.1", 200)

    def _idle_check(self) -> None:
        """Close a keep-alive connection idle for `timeout_keep_alive` (one timer per connection, not per request)."""
        idle = self.loop.time() - self.last_active
        if self.task is not None or idle < self.config.timeout_keep_alive:
            wait = self.config.timeout_keep_alive - (0 if self.task is not None else idle)
            self.idle_timer = self.loop.call_later(wait, self._idle_check)
        else:
            self.transport.close()

    def _forget(self) -> None:
        self.server_state.connections.discard(cast(Any, self))
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _hand_over(self, data: bytes) -> None:
        """This connection is uvicorn's from now on, starting with `data`."""
        self._forget()
        if self.paused:
            self.transport.resume_reading()
        protocol = HttpToolsProtocol(config=self.config, server_state=self.server_state, app_state=self.app_state,
                                     _loop=self.loop)
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if data:
            protocol.data_received(data)
        if self.closing:
            protocol.shutdown()


def _url_root(host: bytes, server: tuple[str, int] | None) -> str:
    """`scheme://authority` of the request URL, as Starlette builds it from the Host header."""
    url = URL(scope={"type": "http", "scheme": "http", "server": server, "path": "/", "query_string": b"",
                     "headers": [(b"host", host)]})
    return str(url)[:-1]


def _address(address: Any) -> tuple[str, int] | None:
    return (str(address[0]), int(address[1])) if isinstance(address, tuple) and len(address) >= 2 else None

