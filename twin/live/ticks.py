"""One timer for every websocket's batching: a client with something to send is woken at the next tick, at most
one tick per `tick_s` and every due client at once, instead of each sender sleeping out a tick of its own (a timer
and a timeout per client per frame)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

TICK_S = 0.02
log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self.due: dict[Callable[[], None], None] = {}  # an ordered set: called in the order they became due
        self.handle: asyncio.TimerHandle | None = None
        self.last = float("-inf")  # loop time of the last tick

    def wake(self, callback: Callable[[], None]) -> None:
        """Call `callback` at the next tick (now if none was due within the last `tick_s`), once however often
        it was asked for before then."""
        self.due[callback] = None
        if self.handle is None:
            loop = asyncio.get_running_loop()
            self.handle = loop.call_at(max(loop.time(), self.last + self.tick_s), self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.handle = None
        self.last = loop.time()
        due, self.due = self.due, {}
        for callback in due:
            try:
                callback()
            except Exception:  # one client's failure must not keep the others' frames back
                log.exception("live tick: a client's frame failed")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
