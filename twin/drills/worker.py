"""The drill worker: a process of its own (never the API's event loop) that steps the coupled simulation, stores
every frame (`frame_store`), sends each frame it plays to its server over a pipe, and obeys pause, resume, speed,
seek and stop sent down the same pipe.

Computing and playing are apart: frames are computed when the playhead needs them (or, in accelerated mode, as
fast as the machine allows), kept, and played at `speed` × real time in real-time mode. Seeking back replays kept
frames; seeking ahead computes (and stores) up to the target without playing the frames in between."""

from __future__ import annotations

import bisect
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from scenes.drills.coupled import build_drill
from scenes.drills.errors import PlanError
from scenes.drills.frames import encode_frame
from scenes.drills.plan import parse_plan
from scenes.drills.twin_data import TwinData
from twin.drills.frame_store import FrameStore

IDLE_POLL_S = 0.25


class Player:
    def __init__(self, drill: Any, store: FrameStore, pipe: Connection, paced: bool, speed: float) -> None:
        self.drill, self.store, self.pipe = drill, store, pipe
        self.times: list[float] = []
        self.frames: list[bytes] = []
        self.playhead = 0
        self.paced, self.speed = paced, speed
        self.paused = self.stopped = self.computed_all = False
        self.anchor: tuple[float, float] | None = None  # (wall, simulated) the pacing counts from

    def compute_next(self) -> bool:
        """One more frame; False when the simulation has ended."""
        if self.computed_all:
            return False
        frame = self.drill.step()
        if frame is None:
            self.computed_all = True
            return False
        encoded = encode_frame(frame)
        self.times.append(float(frame["t"]))
        self.frames.append(encoded)
        self.store.add(float(frame["t"]), encoded)
        return True

    def control(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "pause":
            self.paused = True
            self.store.beat("paused")
        elif op == "resume":
            self.paused = False
            self.anchor = None
            self.store.beat("running")
        elif op == "speed":
            self.speed, self.paced, self.anchor = float(message["speed"]), True, None
            self.store.beat(speed=self.speed)
        elif op == "stop":
            self.stopped = True
        elif op == "seek":
            target = float(message["t"])
            while (not self.times or self.times[-1] < target) and self.compute_next():
                pass
            self.playhead = min(bisect.bisect_left(self.times, target - 1e-9), max(len(self.times) - 1, 0))
            self.anchor = None
        self.pipe.send(("state", self.state()))

    def state(self) -> dict[str, Any]:
        status = "paused" if self.paused else "running"
        return {"status": status, "speed": self.speed, "paced": self.paced,
                "playhead_s": self.times[self.playhead] if self.playhead < len(self.times) else
                (self.times[-1] if self.times else 0.0), "computed_s": self.times[-1] if self.times else 0.0}

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, handling control messages that arrive meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if self.pipe.poll(max(0.0, remaining)):
                self.control(self.pipe.recv())
                return
            if remaining <= 0:
                return

    def run(self) -> None:
        while not self.stopped:
            while self.pipe.poll(0):
                self.control(self.pipe.recv())
            if self.stopped:
                break
            if self.paused:
                self.store.beat()
                self.wait(IDLE_POLL_S)
                continue
            if self.playhead >= len(self.times) and not self.compute_next():
                return
            t = self.times[self.playhead]
            if self.paced:
                now = time.monotonic()
                if self.anchor is None:
                    self.anchor = (now, t)
                due = self.anchor[0] + (t - self.anchor[1]) / self.speed
                if due > now:
                    self.store.beat()
                    self.wait(min(due - now, IDLE_POLL_S))
                    continue
            self.pipe.send(("frame", t, self.frames[self.playhead]))
            self.playhead += 1
            self.store.beat()


def main(dsn: str, run_id: str, plan_document: dict[str, Any], scheme: str, seed: int, data: TwinData,
         speed: float, paced: bool, pipe: Connection) -> None:
    """The worker process' entry: run to the end (or a stop), then store the report and the final status."""
    store = FrameStore(dsn, run_id)
    try:
        store.start(os.getpid())
        plan = parse_plan(plan_document)
        drill = build_drill(plan, scheme, seed, data)
        player = Player(drill, store, pipe, paced, speed)
        pipe.send(("state", player.state()))
        player.run()
        status = "stopped" if player.stopped else "finished"
        store.finish(status, drill.report())
        pipe.send(("end", status, None))
    except PlanError as exc:
        store.finish("failed", None, str(exc))
        pipe.send(("end", "failed", str(exc)))
    except Exception as exc:  # the run fails, the worker's stored frames stay
        store.finish("failed", None, f"{type(exc).__name__}: {exc}")
        pipe.send(("end", "failed", "".join(traceback.format_exception_only(exc)).strip()))
        raise
    finally:
        store.close()
        pipe.close()
