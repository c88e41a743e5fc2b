"""Liveness and readiness, apart: live means the process answers; ready means it can do its work — the database
answers at the schema's head revision, the live layer and its bus are up, and the server is not draining."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Engine, text

from twin.db import head_revision


@cache
def _head() -> str:
    return head_revision()  # the code's newest migration: fixed for the life of the process


def database_check(engine: Engine) -> dict[str, Any]:
    """Reachable, and stamped at the head revision this code was written for (one connection, two queries)."""
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
                return {"ok": False, "error": "the schema has no migrations applied", "head": _head()}
            stamped: list[str] = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except Exception as exc:  # any failure means not ready, told rather than raised
        return {"ok": False, "error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}
    at_head = stamped == [_head()]
    found: dict[str, Any] = {"ok": at_head, "revision": stamped[0] if len(stamped) == 1 else stamped,
                             "head": _head()}
    if not at_head:
        found["error"] = "migrations are not at head (run `citytwin db start` or any serve to migrate)"
    return found


def live_check(live: Any) -> dict[str, Any]:
    """The worker's live layer started and its bus reads (a Redis bus that lost its server is not ready)."""
    if live is None:
        return {"ok": False, "error": "the live layer did not start (see the server log)"}
    connected = getattr(live.bus, "connected", None)
    bus = "redis" if connected is not None else "in-process"
    if connected is not None and not connected.is_set():
        return {"ok": False, "bus": bus, "error": "the Redis bus is unreachable"}
    return {"ok": True, "bus": bus, "seq": live.hub.state.seq}


def readiness(engine: Engine, live: Any, draining: bool) -> tuple[bool, dict[str, Any]]:
    checks = {"database": database_check(engine), "live": live_check(live),
              "draining": {"ok": not draining, **({"error": "shutting down"} if draining else {})}}
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}
