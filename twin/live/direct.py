"""Frames written straight to the connection: the live deltas' fast path past the ASGI layers.

Under uvicorn's websockets-sansio protocol (what `citytwin serve` runs) the raw ASGI `send` a websocket scope is
called with is a bound method of the connection's protocol object. While its transport takes writes without
waiting, a text frame is encoded by that connection's own `websockets` ServerProtocol (with whatever extension it
negotiated) and written as uvicorn's `send` writes it — synchronously, so the shared tick hands every due client
its frame in one pass instead of waking a sender task per client through Starlette and ASGI (`bench live`: the
wake-ups and layers were a fifth of the server's CPU). Any other server, a paused transport (a client that
lags), a closing connection: `of` gives None or `ready` is False, and the adapter sends through ASGI as before.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import State
from websockets.server import ServerProtocol

RAW_SEND = "citytwin.raw_send"
"""The scope key the app files a websocket's raw ASGI `send` under, before any middleware wraps it."""

PROTOCOL_FIELDS = ("conn", "transport", "writable", "close_sent", "disconnected")


class DirectFrames:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, send: Any) -> DirectFrames | None:
        """The fast path for a websocket whose raw ASGI `send` this is, or None when its server is not one that
        has it."""
        protocol = getattr(send, "__self__", None)
        if protocol is None or not all(hasattr(protocol, name) for name in PROTOCOL_FIELDS) \
                or not isinstance(protocol.conn, ServerProtocol):
            return None
        return cls(protocol)

    def ready(self) -> bool:
        """Whether a frame written now goes out without waiting: the connection is open and its transport is
        not paused by a full buffer."""
        p = self._protocol  # OPEN: the handshake is done and no close was sent or received
        return (p.writable.is_set() and not p.close_sent and not p.disconnected and p.conn.state is State.OPEN
                and not p.transport.is_closing())

    def write(self, text: bytes) -> None:
        """One text frame holding `text` (UTF-8), written now; call only when `ready`."""
        p = self._protocol
        p.conn.send_text(text)
        p.transport.write(b"".join(p.conn.data_to_send()))
