"""Websocket clients of the live protocol for tests: subscribe, then read messages until one matches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect


class LiveClient:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send(orjson.dumps(message).decode())

    def receive(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Messages not yet looked at, else the next frame's (a frame holds one message or a batch)."""
        if self.pending:
            messages, self.pending = self.pending, []
            return messages
        frame = orjson.loads(self.socket.recv(timeout=timeout))
        messages = frame if isinstance(frame, list) else [frame]
        self.seen.extend(messages)
        return messages

    def until(self, matches: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """Read until a message matches; TimeoutError if none does in time."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message")
            messages = self.receive(left)
            for i, message in enumerate(messages):
                if matches(message):
                    self.pending = messages[i + 1:] + self.pending
                    return message

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds`."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.extend(self.receive(left))
            except TimeoutError:
                break
        return [m for m in got if m["type"] != "heartbeat"]

    def subscribe(self, **scope: Any) -> dict[str, Any]:
        self.send({"op": "subscribe", **scope})
        return self.until(lambda m: m["type"] in ("snapshot", "resumed", "error"))


@contextmanager
def live_client(base_url: str) -> Iterator[LiveClient]:
    with connect(base_url.replace("http://", "ws://") + "/ws", max_size=2**24) as socket:
        yield LiveClient(socket)


class StuckClient:
    """A websocket client that subscribes and then reads nothing until told to (websockets' sans-I/O protocol
    over a plain socket with a small receive buffer), to play a client that cannot keep up."""

    def __init__(self, base_url: str, subscribe: dict[str, Any]) -> None:
        import socket

        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.protocol = ClientProtocol(parse_uri(base_url.replace("http://", "ws://") + "/ws"), max_size=None)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received() and \
                getattr(self.protocol, "response", None) is None:
            self.protocol.receive_data(self.sock.recv(65536))
        self.protocol.send_text(orjson.dumps({"op": "subscribe", **subscribe}))
        self._flush()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def read_all(self, timeout: float = 10.0) -> tuple[list[dict[str, Any]], int | None, str]:
        """Every message until the server closes: (messages, close code, close reason)."""
        from websockets.frames import Opcode

        self.sock.settimeout(timeout)
        messages: list[dict[str, Any]] = []
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                self.protocol.receive_eof()
            else:
                self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode == Opcode.TEXT:
                    parsed = orjson.loads(frame.data)
                    messages.extend(parsed if isinstance(parsed, list) else [parsed])
            close = self.protocol.close_rcvd
            if close is not None or not data:
                self.sock.close()
                return messages, close.code if close else None, close.reason if close else ""
            self._flush()
