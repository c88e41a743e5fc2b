"""Drills over the live layer's pool and bus: plans checked against the twin and stored, runs started in worker
processes and controlled through the bus, their ends recorded. A run raises its incident as an event with
`source=drill` (drill events stay out of real lists, counts and pushes unless asked)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Engine

from scenes.drills.coupled import check_scheme
from scenes.drills.plan import Plan, parse_plan
from twin.drills import inputs, store
from twin.drills.runner import DrillRunner
from twin.events import service as events
from twin.live.service import LiveService
from twin.ops import metrics

log = logging.getLogger(__name__)
ORPHAN_AFTER_S = 30.0
CONTROLS = {"pause": ("running",), "resume": ("paused",), "stop": ("queued", "running", "paused"),
            "seek": ("running", "paused"), "speed": ("running", "paused")}
EVENT_KINDS = {"fire": "fire", "gas_leak": "gas_leak", "water_logging": "water_logging"}


class RunNotFound(LookupError):
    pass


class IllegalControl(ValueError):
    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class DrillService:
    def __init__(self, live: LiveService, engine: Engine, dsn: str) -> None:
        self.live, self.engine, self.dsn = live, engine, dsn
        self.runner = DrillRunner(asyncio.get_running_loop(), live.bus.publish, self._ended)
        live.controls.append(self.runner.forward)

    @classmethod
    async def open(cls, live: LiveService, engine: Engine, dsn: str) -> DrillService:
        async with live.pool.acquire() as conn:
            failed = await store.fail_orphans(conn, ORPHAN_AFTER_S)
        if failed:
            log.warning("drill runs left by an ended server marked failed: %s", ", ".join(failed))
        return cls(live, engine, dsn)

    def close(self) -> None:
        self.runner.shutdown()

    # -- plans ---------------------------------------------------------------------------------------------
    async def put_plan(self, raw: Any) -> tuple[dict[str, Any], bool]:
        plan = parse_plan(raw)
        await asyncio.to_thread(inputs.check_plan, self.engine, plan)
        async with self.live.pool.acquire() as conn:
            created = await store.put_plan(conn, plan)
            document = await store.read_plan(conn, plan.id)
        assert document is not None
        return document, created

    async def plan(self, plan_id: str) -> Plan:
        async with self.live.pool.acquire() as conn:
            document = await store.read_plan(conn, plan_id)
        if document is None:
            raise RunNotFound(f"no plan {plan_id!r}")
        document.pop("created_at"), document.pop("updated_at")
        return parse_plan(document)

    # -- runs ----------------------------------------------------------------------------------------------
    async def start(self, plan_id: str, scheme_id: str, seed: int, speed: float | None) -> dict[str, Any]:
        plan = await self.plan(plan_id)
        scheme = plan.scheme(scheme_id)
        data = await asyncio.to_thread(inputs.gather, self.engine, plan, scheme)
        await asyncio.to_thread(check_scheme, plan, scheme.id, data)
        async with self.live.pool.acquire() as conn:
            run = await store.create_run(conn, plan, scheme.id, seed, speed or plan.time.speed)
        paced = plan.time.mode == "real_time" or speed is not None  # a speed asked for is a pace to keep
        self.runner.start(self.dsn, run["id"], plan.document(), scheme.id, seed, data, run["speed"], paced)
        metrics.count_drill_run("started")
        await self._raise_event(plan, scheme_id, run["id"], data)
        return run

    async def _raise_event(self, plan: Plan, scheme_id: str, run_id: str, data: Any) -> None:
        location = list(plan.incident.location) if plan.incident.location else None
        if location is not None and len(location) == 2:
            location.append(0.0)
        body = {"kind": EVENT_KINDS[plan.hazard], "severity": "red", "source": "drill",
                "title": f"Drill: {plan.name} ({scheme_id})", "object_id": plan.incident.building,
                "location": location, "description": plan.description,
                "attributes": {"drill_run": run_id, "plan": plan.id, "scheme": scheme_id}}
        try:
            await events.report(self.live, {k: v for k, v in body.items() if v is not None})
        except Exception:  # a run does not fail for its marker
            log.exception("the drill's event could not be raised")

    async def run(self, run_id: str) -> dict[str, Any]:
        async with self.live.pool.acquire() as conn:
            run = await store.read_run(conn, run_id)
        if run is None:
            raise RunNotFound(f"no drill run {run_id!r}")
        return run

    async def control(self, run_id: str, op: str, **arguments: Any) -> dict[str, Any]:
        run = await self.run(run_id)
        allowed = CONTROLS[op]
        if run["status"] not in allowed:
            raise IllegalControl(f"cannot {op} a run that is {run['status']} (allowed when "
                                 f"{' or '.join(allowed)})", run["status"])
        if op in ("pause", "resume"):
            async with self.live.pool.acquire() as conn:
                await store.mark(conn, run_id, "paused" if op == "pause" else "running")
        await self.live.bus.publish({"k": "drill_control", "run": run_id, "control": {"op": op, **arguments}})
        return await self.run(run_id)

    async def _ended(self, run_id: str, status: str, error: str | None) -> None:
        metrics.count_drill_run(status)
        async with self.live.pool.acquire() as conn:
            await store.mark(conn, run_id, status, error)
