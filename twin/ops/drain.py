"""Graceful shutdown: on SIGTERM (or SIGINT) a worker stops accepting connections, tells each websocket client
to reconnect with its resume point and closes it (1012, service restart), then hands over to uvicorn's own
shutdown, which waits for requests under way (their readings commit before they are acknowledged) and runs the
app's lifespan end (MQTT bridge, alarm transitions, writers, bus, pools), all within `CITYTWIN_DRAIN_TIMEOUT_S`.

uvicorn installs its signal handlers (`Server.handle_exit`) before the app starts; `Drain.install`, called from
the lifespan on the main thread, wraps them. The drain ends by setting the server's `should_exit` itself rather
than calling `handle_exit`, which would have uvicorn raise the signal again at exit: a drained worker exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Collection
from types import FrameType
from typing import Any, Protocol

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Drainable(Protocol):
    async def drain(self) -> None: ...


Handler = Callable[[int, FrameType | None], Any] | int | None


class Drain:
    def __init__(self, timeout_s: float, sessions: Callable[[], Collection[Drainable]]) -> None:
        self.timeout_s = timeout_s
        self.sessions = sessions
        self.draining = False
        self.task: asyncio.Task[None] | None = None
        self.previous: dict[int, Handler] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> bool:
        """Wrap the process's SIGTERM/SIGINT handlers; False (nothing done) off the main thread (a test server)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self.loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return True

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.draining or self.loop is None or self.loop.is_closed():  # a second signal: no more waiting
            self._hand_over(sig, frame)
            return
        self.draining = True
        self.loop.call_soon_threadsafe(self._start, sig)

    def _start(self, sig: int) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(sig), name="citytwin-drain")

    async def run(self, sig: int = signal.SIGTERM) -> None:
        """Stop accepting, drain the websocket sessions (bounded), then let the server shut down."""
        self.draining = True
        started = time.monotonic()
        server = self._server(sig)
        for listener in getattr(server, "servers", ()):  # uvicorn's listening sockets in this process
            listener.close()
        sessions = list(self.sessions())
        if sessions:
            tasks = [asyncio.create_task(session.drain()) for session in sessions]
            _, late = await asyncio.wait(tasks, timeout=self.timeout_s)
            for task in late:
                task.cancel()
        log.info("drained %d websocket clients in %.3f s; shutting down", len(sessions), time.monotonic() - started,
                 extra={"websocket_clients": len(sessions), "signal": signal.Signals(sig).name})
        if server is not None and hasattr(server, "should_exit"):
            server.should_exit = True
        else:
            self._hand_over(sig, None)

    def _server(self, sig: int) -> Any:
        """The uvicorn `Server` whose `handle_exit` we wrapped, if that is what was installed."""
        previous = self.previous.get(sig)
        server = getattr(previous, "__self__", None)
        return server if getattr(previous, "__name__", "") == "handle_exit" else None

    def _hand_over(self, sig: int, frame: FrameType | None) -> None:
        previous = self.previous.get(sig)
        if callable(previous):
            previous(sig, frame)
        else:
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
            signal.raise_signal(sig)
