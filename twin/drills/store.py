"""The drill tables through asyncpg: plans, runs and their frame chunks. Statements only; the worker writes frames
through `twin.drills.frame_store`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from scenes.drills.frames import decode_chunk
from scenes.drills.plan import Plan

RUN_COLUMNS = """id::text, plan_id, scheme, seed, status, speed, frame_interval, frame_count, simulated_s,
    error, report IS NOT NULL AS has_report, created_at, started_at, ended_at, heartbeat_at"""
LIVE_STATUSES = ("queued", "running", "paused")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "plan": row["plan_id"], "scheme": row["scheme"], "seed": row["seed"],
            "status": row["status"], "speed": row["speed"], "frame_interval_s": row["frame_interval"],
            "frames": row["frame_count"], "simulated_s": row["simulated_s"], "error": row["error"],
            "report": row["has_report"], "created_at": _iso(row["created_at"]),
            "started_at": _iso(row["started_at"]), "ended_at": _iso(row["ended_at"])}


async def put_plan(conn: asyncpg.Connection, plan: Plan) -> bool:
    """Insert or replace a plan; True when it is new."""
    row = await conn.fetchrow(
        """INSERT INTO drill_plans (id, name, hazard, document) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, hazard = EXCLUDED.hazard,
               document = EXCLUDED.document, updated_at = now()
           RETURNING (xmax = 0) AS inserted""", plan.id, plan.name, plan.hazard, plan.document())
    return bool(row["inserted"])


async def read_plan(conn: asyncpg.Connection, plan_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT document, created_at, updated_at FROM drill_plans WHERE id = $1", plan_id)
    if row is None:
        return None
    return {**row["document"], "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


async def list_plans(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT id, name, hazard, document -> 'incident' AS incident, "
                            "(SELECT json_agg(s -> 'id') FROM jsonb_array_elements(document -> 'schemes') s) "
                            "AS schemes, updated_at FROM drill_plans ORDER BY id")
    return [{"id": r["id"], "name": r["name"], "hazard": r["hazard"], "incident": r["incident"],
             "schemes": r["schemes"], "updated_at": _iso(r["updated_at"])} for r in rows]


async def delete_plan(conn: asyncpg.Connection, plan_id: str) -> bool:
    return await conn.fetchval("DELETE FROM drill_plans WHERE id = $1 RETURNING true", plan_id) is not None


async def create_run(conn: asyncpg.Connection, plan: Plan, scheme: str, seed: int, speed: float) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""INSERT INTO drill_runs (id, plan_id, scheme, seed, status, speed, plan_document, frame_interval)
            VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7) RETURNING {RUN_COLUMNS}""",
        uuid.uuid4(), plan.id, scheme, seed, speed, plan.document(), plan.time.frame_interval_s)
    return run_json(row)


async def read_run(conn: asyncpg.Connection, run_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {RUN_COLUMNS} FROM drill_runs WHERE id = $1::uuid", run_id)
    return run_json(row) if row else None


async def run_plan_document(conn: asyncpg.Connection, run_id: str) -> dict[str, Any] | None:
    """The plan exactly as the run used it (a plan edited later does not change its runs)."""
    return await conn.fetchval("SELECT plan_document FROM drill_runs WHERE id = $1::uuid", run_id)


async def list_runs(conn: asyncpg.Connection, plan_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {RUN_COLUMNS} FROM drill_runs WHERE ($1::text IS NULL OR plan_id = $1) "
                            "ORDER BY created_at DESC LIMIT $2", plan_id, limit)
    return [run_json(r) for r in rows]


async def read_report(conn: asyncpg.Connection, run_id: str) -> dict[str, Any] | None:
    return await conn.fetchval("SELECT report FROM drill_runs WHERE id = $1::uuid", run_id)


async def mark(conn: asyncpg.Connection, run_id: str, status: str, error: str | None = None) -> dict[str, Any] | None:
    """Set a run's status (ending it when it is final) unless it has ended already."""
    row = await conn.fetchrow(
        f"""UPDATE drill_runs SET status = $2, error = coalesce($3, error),
                ended_at = CASE WHEN $2 IN ('finished', 'stopped', 'failed') THEN now() ELSE ended_at END
            WHERE id = $1::uuid AND status IN ('queued', 'running', 'paused') RETURNING {RUN_COLUMNS}""",
        run_id, status, error)
    return run_json(row) if row else None


async def fail_orphans(conn: asyncpg.Connection, stale_s: float) -> list[str]:
    """Runs whose worker stopped beating for `stale_s` (its process died with its server): marked failed."""
    rows = await conn.fetch(
        """UPDATE drill_runs SET status = 'failed', ended_at = now(),
                error = 'the drill worker stopped (its server ended or it was killed); stored frames remain'
            WHERE status IN ('queued', 'running', 'paused')
              AND coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1) RETURNING id::text""",
        stale_s)
    return [r["id"] for r in rows]


async def frames(conn: asyncpg.Connection, run_id: str, start_s: float = 0.0, end_s: float | None = None
                 ) -> list[bytes]:
    """The stored frames (encoded JSON) with start_s <= t <= end_s, in time order."""
    rows = await conn.fetch("SELECT data FROM drill_frames WHERE run_id = $1::uuid AND t_end >= $2 "
                            "AND ($3::float8 IS NULL OR t_start <= $3) ORDER BY chunk", run_id, start_s, end_s)
    out = []
    for row in rows:
        for t, encoded in decode_chunk(row["data"]):
            if t >= start_s and (end_s is None or t <= end_s):
                out.append(encoded)
    return out


async def store_plans(dsn: str, plans: list[Plan]) -> list[bool]:
    """Store checked plans from outside a server (`citytwin plans import`, the demo); True for each new one."""
    from twin.live.store import init_connection

    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        return [await put_plan(conn, plan) for plan in plans]
    finally:
        await conn.close()
