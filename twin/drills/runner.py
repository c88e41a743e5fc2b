"""Drill workers seen from their server: each run is a process of its own (`twin.drills.worker`, spawned, never
on the event loop); a thread per run reads its pipe and publishes what it plays on the live bus
(`drill_frame`, `drill_run`), so that every worker's websocket clients on the `drills` channel see it. Controls
travel on the bus too (`drill_control`), and the server owning the run's process forwards them down its pipe.
A process that exits without saying how it ended (killed, crashed) leaves its run marked failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from scenes.drills.twin_data import TwinData
from twin.drills import worker

log = logging.getLogger(__name__)
CONTEXT = multiprocessing.get_context("spawn")
Publish = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
Ended = Callable[[str, str, str | None], Coroutine[Any, Any, None]]


@dataclass
class OwnedRun:
    run_id: str
    process: BaseProcess
    pipe: Connection
    reader: threading.Thread
    state: dict[str, Any]


class DrillRunner:
    def __init__(self, loop: asyncio.AbstractEventLoop, publish: Publish, ended: Ended) -> None:
        self.loop, self.publish, self.ended = loop, publish, ended
        self.runs: dict[str, OwnedRun] = {}
        self.lock = threading.Lock()

    def start(self, dsn: str, run_id: str, plan_document: dict[str, Any], scheme: str, seed: int, data: TwinData,
              speed: float, paced: bool) -> None:
        ours, theirs = CONTEXT.Pipe(duplex=True)
        process = CONTEXT.Process(target=worker.main, name=f"citytwin-drill-{run_id[:8]}", daemon=True,
                                  args=(dsn, run_id, plan_document, scheme, seed, data, speed, paced, theirs))
        process.start()
        theirs.close()
        reader = threading.Thread(target=self._read, args=(run_id,), name=f"citytwin-drill-pipe-{run_id[:8]}",
                                  daemon=True)
        with self.lock:
            self.runs[run_id] = OwnedRun(run_id, process, ours, reader, {"status": "queued"})
        reader.start()

    def owns(self, run_id: str) -> bool:
        return run_id in self.runs

    def forward(self, entry: dict[str, Any]) -> None:
        """A `drill_control` bus entry: sent down the pipe when this server owns the run."""
        owned = self.runs.get(str(entry.get("run")))
        if owned is None:
            return
        with contextlib.suppress(OSError, ValueError):  # the worker has just ended
            owned.pipe.send(entry["control"])

    def _emit(self, entry: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self.publish(entry), self.loop)

    def _read(self, run_id: str) -> None:
        owned = self.runs[run_id]
        how: tuple[str, str | None] | None = None
        try:
            while True:
                message = owned.pipe.recv()
                if message[0] == "frame":
                    _, t, frame = message
                    self._emit({"k": "drill_frame", "run": run_id, "t": t, "frame": orjson.Fragment(frame)})
                elif message[0] == "state":
                    owned.state = message[1]
                    self._emit({"k": "drill_run", "run": {"id": run_id, **message[1]}})
                elif message[0] == "end":
                    how = (message[1], message[2])
        except (EOFError, OSError):
            pass
        owned.process.join(timeout=30)
        if how is None:
            code = owned.process.exitcode
            how = ("failed", f"the drill worker ended without finishing (exit code {code})")
        status, error = how
        with self.lock:
            self.runs.pop(run_id, None)
        self._emit({"k": "drill_run", "run": {"id": run_id, "status": status, "error": error}})
        asyncio.run_coroutine_threadsafe(self.ended(run_id, status, error), self.loop)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every run this server owns (their frames so far stay stored) and wait for the processes."""
        with self.lock:
            owned = list(self.runs.values())
        for run in owned:
            with contextlib.suppress(OSError, ValueError):
                run.pipe.send({"op": "stop"})
        for run in owned:
            run.process.join(timeout)
            if run.process.is_alive():
                run.process.kill()
            run.reader.join(timeout)
