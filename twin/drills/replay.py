"""A stored drill run replayed on a websocket: its frames read back from PostGIS (never recomputed) and sent at
`speed` × real time from any point, with pause, play, seek and speed — the controls of the live replay."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

from scenes.drills.frames import decode_chunk
from twin.live.pacing import PacedReplay

Send = Callable[[Any], Awaitable[None]]
POLL_S = 0.1


class DrillReplayError(ValueError):
    pass


async def stored_frames(conn: asyncpg.Connection, run_id: str) -> list[tuple[float, bytes]]:
    rows = await conn.fetch("SELECT data FROM drill_frames WHERE run_id = $1::uuid ORDER BY chunk", run_id)
    return [item for row in rows for item in decode_chunk(row["data"])]


class DrillReplay(PacedReplay):
    def __init__(self, send: Send, run_id: str, frames: list[tuple[float, bytes]], start_s: float,
                 speed: float) -> None:
        if not frames:
            raise DrillReplayError(f"drill run {run_id} has no stored frames yet")
        super().__init__(speed)
        self.send, self.run_id = send, run_id
        self.times = [t for t, _ in frames]
        self.frames = [f for _, f in frames]
        self.index = self._index_of(start_s)
        self.begin(self._run())

    def _index_of(self, t: float) -> int:
        return min(bisect.bisect_left(self.times, t - 1e-9), len(self.times) - 1)

    async def seek_seconds(self, t: float) -> None:
        if not self.times[0] - 1e-9 <= t <= self.times[-1] + 1e-9:
            raise DrillReplayError(f"seek within {self.times[0]:g}–{self.times[-1]:g} s of the run")
        self.index = self._index_of(t)
        self.restart.set()

    def _message(self, index: int) -> dict[str, Any]:
        return {"type": "drill_frame", "run": self.run_id, "t": self.times[index], "replay": True,
                "frame": orjson.Fragment(self.frames[index])}

    async def _run(self) -> None:
        await self.send({"type": "drill_replay", "run": self.run_id, "from": self.times[0], "to": self.times[-1],
                         "frames": len(self.times), "speed": self.speed})
        while True:
            self.restart.clear()
            if await self._play():
                await self.send({"type": "drill_replay_end", "run": self.run_id, "t": self.times[-1]})
                await self.restart.wait()

    async def _play(self) -> bool:
        """Send frames from the current index; False when a seek or speed change interrupts."""
        await self.send(self._message(self.index))  # where the replay stands, at once (also after a seek)
        wall0, sim0 = time.monotonic(), self.times[self.index]
        while self.index + 1 < len(self.times):
            if self.restart.is_set():
                return False
            if not self.playing.is_set():
                paused_at = time.monotonic()
                await self.playing.wait()
                wall0 += time.monotonic() - paused_at
                continue
            due = wall0 + (self.times[self.index + 1] - sim0) / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.restart.wait(), min(delay, POLL_S))
                continue
            self.index += 1
            await self.send(self._message(self.index))
        return True
