"""What every replay on the websocket shares: a task that plays at `speed` × real time, paused and resumed with an
event, interrupted (to seek or change speed) with another."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class PacedReplay:
    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.playing = asyncio.Event()
        self.playing.set()
        self.restart = asyncio.Event()

    def begin(self, body: Coroutine[Any, Any, None]) -> None:
        self.task = asyncio.create_task(body)

    def pause(self) -> None:
        self.playing.clear()

    def play(self) -> None:
        self.playing.set()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self.restart.set()
