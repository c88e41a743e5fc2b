"""The worker's side of the drill tables: frames written in chunks as the run goes, the run's progress and
heartbeat, and its end (status, report). Each chunk commits on its own, so a worker killed mid-run leaves every
chunk before it replayable."""

from __future__ import annotations

import time
from typing import Any

import orjson
import psycopg

from scenes.drills.frames import encode_chunk

CHUNK_FRAMES = 60
CHUNK_WALL_S = 2.0
HEARTBEAT_S = 2.0


class FrameStore:
    def __init__(self, dsn: str, run_id: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.run_id = run_id
        self.pending: list[tuple[float, bytes]] = []
        self.chunk = 0
        self.count = 0
        self.flushed_at = self.beat_at = time.monotonic()

    def start(self, worker_pid: int) -> None:
        self.conn.execute("UPDATE drill_runs SET status = 'running', started_at = now(), heartbeat_at = now(), "
                          "worker_pid = %s WHERE id = %s", (worker_pid, self.run_id))

    def add(self, t: float, frame: bytes) -> None:
        self.pending.append((t, frame))
        if len(self.pending) >= CHUNK_FRAMES or time.monotonic() - self.flushed_at >= CHUNK_WALL_S:
            self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.pending:
            self.beat()
            return
        frames, self.pending = self.pending, []
        with self.conn.transaction():
            self.conn.execute("INSERT INTO drill_frames (run_id, chunk, t_start, t_end, frame_count, data) "
                              "VALUES (%s, %s, %s, %s, %s, %s)",
                              (self.run_id, self.chunk, frames[0][0], frames[-1][0], len(frames),
                               encode_chunk(frames)))
            self.count += len(frames)
            self.conn.execute("UPDATE drill_runs SET frame_count = %s, simulated_s = %s, heartbeat_at = now() "
                              "WHERE id = %s", (self.count, frames[-1][0], self.run_id))
        self.chunk += 1
        self.beat_at = time.monotonic()

    def beat(self, status: str | None = None, speed: float | None = None) -> None:
        """The heartbeat (a run without one is failed by the server that finds it), and a status change."""
        if status is None and speed is None and time.monotonic() - self.beat_at < HEARTBEAT_S:
            return
        self.conn.execute("UPDATE drill_runs SET heartbeat_at = now(), status = coalesce(%s, status), "
                          "speed = coalesce(%s, speed) WHERE id = %s AND status IN ('queued', 'running', 'paused')",
                          (status, speed, self.run_id))
        self.beat_at = time.monotonic()

    def finish(self, status: str, report: dict[str, Any] | None, error: str | None = None) -> None:
        self.flush()
        self.conn.execute("UPDATE drill_runs SET status = %s, report = %s::jsonb, error = %s, ended_at = now(), "
                          "heartbeat_at = now() WHERE id = %s",
                          (status, orjson.dumps(report).decode() if report is not None else None, error,
                           self.run_id))

    def close(self) -> None:
        self.conn.close()
