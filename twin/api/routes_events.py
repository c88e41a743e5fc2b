"""Events and command over HTTP: report, list, read, lifecycle transitions, merge, actors, nearby resources and
cameras, the cockpit."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from sqlalchemy import text

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.api.routes_live import live_service
from twin.events import cockpit, nearby, service, store
from twin.events.lifecycle import STATUSES, IllegalTransition, TransitionError
from twin.events.reports import KINDS, SEVERITIES, SOURCES, ReportError
from twin.live import views
from twin.live.readings import parse_time
from twin.queries import MAX_K

router = APIRouter(tags=["events"])
EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _list(text: str | None, choices: tuple[str, ...], name: str) -> list[str] | None:
    if text is None:
        return None
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in choices]
    if unknown or not values:
        raise HTTPException(400, f"unknown {name} {', '.join(unknown) or text!r}; one of: {', '.join(choices)}")
    return values


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, IllegalTransition):
        return HTTPException(409, {"reason": str(exc), "status": exc.status, "allowed": list(exc.allowed)})
    if isinstance(exc, service.EventNotFound):
        return HTTPException(404, str(exc))
    return HTTPException(400, str(exc))


HANDLED = (IllegalTransition, TransitionError, ReportError, service.EventNotFound)


@router.put("/actors/{actor_id}", summary="Register or change an actor (a person or unit events are assigned to)")
async def put_actor(request: Request, actor_id: Annotated[str, Path(max_length=200)],
                    body: Annotated[Any, Body(examples=[{"name": "Fire brigade 3", "kind": "unit"}])]
                    ) -> OrjsonResponse:
    try:
        return OrjsonResponse(await service.put_actor(live_service(request), actor_id, body))
    except HANDLED as exc:
        raise _errors(exc) from None


@router.get("/actors", summary="The known actors")
async def list_actors(request: Request) -> OrjsonResponse:
    async with live_service(request).pool.acquire() as conn:
        return OrjsonResponse({"actors": await store.actors(conn)})


@router.post("/events", summary="Report an event; answers it with the open events it may duplicate",
             status_code=201)
async def report_event(request: Request, body: Annotated[Any, Body(examples=[{
        "kind": "fire", "severity": "red", "location": [13.43, 52.53, 0], "title": "smoke from a roof",
        "source": "manual", "attachments": ["https://example.org/photo.jpg"]}])]) -> OrjsonResponse:
    try:
        event, duplicates = await service.report(live_service(request), body)
    except HANDLED as exc:
        raise _errors(exc) from None
    return OrjsonResponse({"event": event, "duplicates": duplicates}, status_code=201)


@router.get("/events", summary="Events newest first (drill events only with source=drill)")
async def list_events(request: Request,
                      bbox: Annotated[str | None, Query(description="w,s,e,n in degrees (WGS84)")] = None,
                      status: Annotated[str | None, Query(description="statuses, comma-separated")] = None,
                      kind: Annotated[str | None, Query(description="kinds, comma-separated")] = None,
                      severity: Annotated[str | None, Query(description="severities, comma-separated")] = None,
                      source: Annotated[str | None, Query(description="sources, comma-separated")] = None,
                      since: Annotated[str | None, Query(description="changed at or after (ISO 8601)")] = None,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> OrjsonResponse:
    live = live_service(request)
    now = datetime.now(UTC)
    try:
        box = views.parse_bbox(bbox)
        after = parse_time(since, now) if since else None
    except (views.ViewError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None
    async with live.pool.acquire() as conn:
        events = await store.list_events(
            conn, bbox=box, statuses=_list(status, STATUSES, "status"), kinds=_list(kind, KINDS, "kind"),
            severities=_list(severity, SEVERITIES, "severity"), sources=_list(source, SOURCES, "source"),
            since=after, limit=limit)
    return OrjsonResponse({"events": events, "count": len(events)})


@router.get("/events/{event_id}", summary="An event with its history")
async def read_event(request: Request, event_id: EventId) -> OrjsonResponse:
    try:
        return OrjsonResponse(await service.read(live_service(request), event_id))
    except HANDLED as exc:
        raise _errors(exc) from None


@router.post("/events/{event_id}/transitions",
             summary="Move an event along its lifecycle (409 with the allowed statuses when illegal)")
async def transition_event(request: Request, event_id: EventId, body: Annotated[Any, Body(examples=[
        {"to": "assigned", "actor": "duty-officer", "assignee": "brigade-3", "note": "nearest unit"}])]
        ) -> OrjsonResponse:
    try:
        return OrjsonResponse(await service.transition(live_service(request), event_id, body))
    except HANDLED as exc:
        raise _errors(exc) from None


@router.post("/events/{event_id}/merge", summary="Merge a duplicate into another open event of its kind")
async def merge_event(request: Request, event_id: EventId,
                      body: Annotated[Any, Body(examples=[{"into": 1, "actor": "duty-officer"}])]) -> OrjsonResponse:
    try:
        return OrjsonResponse(await service.merge(live_service(request), event_id, body))
    except HANDLED as exc:
        raise _errors(exc) from None


_WHERE = text("""SELECT coalesce(ST_X(e.location), ST_X(ST_PointOnSurface(o.footprint))),
    coalesce(ST_Y(e.location), ST_Y(ST_PointOnSurface(o.footprint)))
    FROM events e LEFT JOIN twin_objects o ON o.id = e.object_id WHERE e.id = :id""")
_KIND = re.compile(r"^[a-z0-9_]{1,64}$")


@router.get("/events/{event_id}/nearby",
            summary="Nearest resources of each kind (straight line and by road, with routes) and the cameras "
                    "that see the event")
def nearby_event(request: Request, engine: EngineDep, event_id: EventId,
                 kinds: Annotated[str, Query(description="object kinds, comma-separated")] = "fire_station,hydrant",
                 k: Annotated[int, Query(ge=1, le=MAX_K // nearby.ROAD_CANDIDATES)] = 3) -> OrjsonResponse:
    wanted = [kind.strip() for kind in kinds.split(",") if kind.strip()]
    if not wanted or len(wanted) > 20 or not all(_KIND.match(kind) for kind in wanted):
        raise HTTPException(400, "kinds must be 1–20 object kinds (lower-case letters, digits, _), comma-separated")
    live = getattr(request.app.state, "live", None)
    sensors = [s.as_json() for s in live.hub.state.sensors.values() if s.kind == "camera"] if live else []
    with engine.connect() as conn:
        where = conn.execute(_WHERE, {"id": event_id}).first()
        if where is None:
            raise HTTPException(404, f"no event {event_id}")
        if where[0] is None:
            raise HTTPException(409, f"event {event_id} has neither a location nor an object with a footprint")
        lon, lat = float(where[0]), float(where[1])
        found = {kind: nearby.resources(conn, lon, lat, kind, k) for kind in wanted}
        seen = nearby.cameras(conn, lon, lat, sensors)
    return OrjsonResponse({"event": event_id, "at": [lon, lat], "resources": found, "cameras": seen})


@router.get("/cockpit", summary="The cockpit summary of an area: events, overdue, time to close, alarms, sensors, "
                                "today by hour")
async def cockpit_summary(request: Request,
                          bbox: Annotated[str | None, Query(description="w,s,e,n in degrees (WGS84)")] = None
                          ) -> OrjsonResponse:
    live = live_service(request)
    try:
        box = views.parse_bbox(bbox)
    except views.ViewError as exc:
        raise HTTPException(400, str(exc)) from None
    async with live.pool.acquire() as conn:
        return OrjsonResponse(await cockpit.summary(conn, live.hub.state, box, datetime.now(UTC)))
