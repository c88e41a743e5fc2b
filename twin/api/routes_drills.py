"""Emergency drills over HTTP: plans (JSON or YAML), runs started and controlled, their stored frames, report,
CZML and the comparison of two runs (docs/drills.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from scenes.drills.errors import PlanError
from scenes.drills.plan import IDENT, MAX_DURATION_S, load_plan_text
from twin.api.responses import OrjsonResponse
from twin.drills import compare, czml, store
from twin.drills.replay import stored_frames
from twin.drills.service import DrillService, IllegalControl, RunNotFound

router = APIRouter(tags=["drills"])
PlanId = Annotated[str, Path(pattern=IDENT)]
RunId = Annotated[uuid.UUID, Path()]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
PLAN_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/yaml": {"schema": {"type": "string"}}}}}


def drills(request: Request) -> DrillService:
    service = getattr(request.app.state, "drills", None)
    if service is None:
        raise HTTPException(503, "drills need the live layer, which is not running (database unreachable at start)")
    return service


def _plan_error(exc: PlanError) -> HTTPException:
    return HTTPException(422, {"reason": exc.message, "where": exc.where, "message": str(exc)})


@router.post("/plans", summary="Create or replace a drill plan (JSON or YAML, checked against the twin)",
             status_code=201, openapi_extra=PLAN_BODY)
async def put_plan(request: Request) -> OrjsonResponse:
    raw = await request.body()
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        if kind in YAML_TYPES:
            document: Any = load_plan_text(raw.decode("utf-8", errors="strict")).document()
        elif kind in ("application/json", ""):
            document = orjson.loads(raw)
        else:
            raise HTTPException(415, f"a plan is application/json or application/yaml, not {kind}")
        plan, created = await drills(request).put_plan(document)
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(400, "the body is not valid JSON (send YAML as application/yaml)") from None
    except PlanError as exc:
        raise _plan_error(exc) from None
    return OrjsonResponse(plan, status_code=201 if created else 200)


@router.get("/plans", summary="The stored drill plans")
async def list_plans(request: Request) -> OrjsonResponse:
    async with drills(request).live.pool.acquire() as conn:
        return OrjsonResponse({"plans": await store.list_plans(conn)})


@router.get("/plans/{plan_id}", summary="A drill plan with every default spelled out")
async def read_plan(request: Request, plan_id: PlanId) -> OrjsonResponse:
    async with drills(request).live.pool.acquire() as conn:
        plan = await store.read_plan(conn, plan_id)
    if plan is None:
        raise HTTPException(404, f"no plan {plan_id!r}")
    return OrjsonResponse(plan)


@router.delete("/plans/{plan_id}", summary="Delete a plan and its runs", status_code=204)
async def delete_plan(request: Request, plan_id: PlanId) -> Response:
    async with drills(request).live.pool.acquire() as conn:
        if not await store.delete_plan(conn, plan_id):
            raise HTTPException(404, f"no plan {plan_id!r}")
    return Response(status_code=204)


@router.post("/plans/{plan_id}/runs", summary="Start a drill run of one scheme", status_code=202)
async def start_run(request: Request, plan_id: PlanId, body: Annotated[Any, Body(
        examples=[{"scheme": "all-exits", "seed": 1, "speed": 10}])]) -> OrjsonResponse:
    if not isinstance(body, dict) or not isinstance(body.get("scheme"), str):
        raise HTTPException(400, "a run names its scheme: {\"scheme\": ..., \"seed\": 1, \"speed\": 1}")
    seed, speed = body.get("seed", 1), body.get("speed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise HTTPException(400, "seed is a whole number from 0 to 2^63 − 1")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed <= 1000):
        raise HTTPException(400, "speed is a number above 0 and at most 1000 (1 = real time)")
    unknown = set(body) - {"scheme", "seed", "speed"}
    if unknown:
        raise HTTPException(400, f"unknown fields: {', '.join(sorted(unknown))}")
    try:
        return OrjsonResponse(await drills(request).start(plan_id, body["scheme"], seed, speed), status_code=202)
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except PlanError as exc:
        raise _plan_error(exc) from None


@router.get("/drills/runs", summary="Drill runs, newest first")
async def list_runs(request: Request, plan: Annotated[str | None, Query(pattern=IDENT)] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> OrjsonResponse:
    async with drills(request).live.pool.acquire() as conn:
        return OrjsonResponse({"runs": await store.list_runs(conn, plan, limit)})


@router.get("/drills/runs/{run_id}", summary="A drill run's status and progress")
async def read_run(request: Request, run_id: RunId) -> OrjsonResponse:
    try:
        return OrjsonResponse(await drills(request).run(str(run_id)))
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None


async def _control(request: Request, run_id: uuid.UUID, op: str, **arguments: Any) -> OrjsonResponse:
    try:
        return OrjsonResponse(await drills(request).control(str(run_id), op, **arguments))
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except IllegalControl as exc:
        raise HTTPException(409, {"reason": str(exc), "status": exc.status}) from None


@router.post("/drills/runs/{run_id}/pause", summary="Pause a running drill")
async def pause_run(request: Request, run_id: RunId) -> OrjsonResponse:
    return await _control(request, run_id, "pause")


@router.post("/drills/runs/{run_id}/resume", summary="Resume a paused drill")
async def resume_run(request: Request, run_id: RunId) -> OrjsonResponse:
    return await _control(request, run_id, "resume")


@router.post("/drills/runs/{run_id}/stop", summary="Stop a drill (its frames so far stay stored)")
async def stop_run(request: Request, run_id: RunId) -> OrjsonResponse:
    return await _control(request, run_id, "stop")


@router.post("/drills/runs/{run_id}/seek", summary="Move a drill's playhead to a simulated second")
async def seek_run(request: Request, run_id: RunId,
                   t: Annotated[float, Query(ge=0, le=MAX_DURATION_S, description="simulated seconds")]
                   ) -> OrjsonResponse:
    return await _control(request, run_id, "seek", t=t)


@router.post("/drills/runs/{run_id}/speed", summary="Play a drill at this many times real time")
async def speed_run(request: Request, run_id: RunId, speed: Annotated[float, Query(gt=0, le=1000)]
                    ) -> OrjsonResponse:
    return await _control(request, run_id, "speed", speed=speed)


async def _run_or_404(conn: Any, run_id: uuid.UUID) -> dict[str, Any]:
    run = await store.read_run(conn, str(run_id))
    if run is None:
        raise HTTPException(404, f"no drill run {run_id}")
    return run


@router.get("/drills/runs/{run_id}/frames", summary="A run's stored frames as NDJSON (never recomputed)")
async def run_frames(request: Request, run_id: RunId,
                     start: Annotated[float, Query(alias="from", ge=0, le=MAX_DURATION_S)] = 0.0,
                     end: Annotated[float | None, Query(alias="to", ge=0, le=MAX_DURATION_S)] = None) -> Response:
    async with drills(request).live.pool.acquire() as conn:
        await _run_or_404(conn, run_id)
        frames = await store.frames(conn, str(run_id), start, end)
    return Response(b"".join(f + b"\n" for f in frames), media_type="application/x-ndjson")


@router.get("/drills/runs/{run_id}/report", summary="A run's report: RSET, exit flows, densities, FED, arrivals")
async def run_report(request: Request, run_id: RunId) -> OrjsonResponse:
    async with drills(request).live.pool.acquire() as conn:
        run = await _run_or_404(conn, run_id)
        report = await store.read_report(conn, str(run_id))
    if report is None:
        raise HTTPException(409, {"reason": f"the run is {run['status']}: its report is written when it ends",
                                  "status": run["status"]})
    return OrjsonResponse(report)


@router.get("/drills/runs/{run_id}/czml", summary="A run as CZML for Cesium's timeline")
async def run_czml(request: Request, run_id: RunId) -> Response:
    async with drills(request).live.pool.acquire() as conn:
        run = await _run_or_404(conn, run_id)
        frames = await stored_frames(conn, str(run_id))
    epoch = dt.datetime.fromisoformat(run["started_at"] or run["created_at"])
    text = czml.document(run, epoch, (orjson.loads(f) for _, f in frames))
    return Response(text, media_type="application/json",
                    headers={"Content-Disposition": f'inline; filename="drill-{run_id}.czml"'})


async def _two_reports(request: Request, a: uuid.UUID, b: uuid.UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    reports = []
    async with drills(request).live.pool.acquire() as conn:
        for run_id in (a, b):
            report = await store.read_report(conn, str(run_id))
            if report is None:
                raise HTTPException(404, f"drill run {run_id} does not exist or has not ended")
            reports.append(report)
    return reports[0], reports[1]


@router.get("/drills/compare", summary="Two runs' key figures side by side (scheme A against scheme B)")
async def compare_runs(request: Request, a: Annotated[uuid.UUID, Query()], b: Annotated[uuid.UUID, Query()]
                       ) -> OrjsonResponse:
    return OrjsonResponse(compare.compare(*await _two_reports(request, a, b)))


@router.get("/drills/compare/page", summary="Two runs compared, as a page with plots", response_class=HTMLResponse)
async def compare_page(request: Request, a: Annotated[uuid.UUID, Query()], b: Annotated[uuid.UUID, Query()]
                       ) -> HTMLResponse:
    return HTMLResponse(compare.page(*await _two_reports(request, a, b)))
