"""The live twin over HTTP: sensors, readings in and out, alarms, thresholds, and the state at an instant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, WebSocket

from twin.access.asgi import principal_of
from twin.api.responses import OrjsonResponse
from twin.live import history, views
from twin.live.alarms import RuleError
from twin.live.kinds import KINDS
from twin.live.readings import BodyError, parse_body, parse_time
from twin.live.service import LiveService
from twin.live.store import readings_between
from twin.live.writer import StorageError
from twin.live.ws import ClientLimits, Session

router = APIRouter(tags=["live twin"])

BBox = Annotated[str | None, Query(description="w,s,e,n in degrees (WGS84)")]
KindParam = Annotated[str | None, Query(description="sensor kind")]
ObjectParam = Annotated[str | None, Query(alias="object", description="twin object id (its children included)")]


def live_service(request: Request) -> LiveService:
    live = getattr(request.app.state, "live", None)
    if live is None:
        raise HTTPException(503, "the live layer is not running (database unreachable at start)")
    return live


def _bbox(text: str | None) -> views.Bounds | None:
    try:
        return views.parse_bbox(text)
    except views.ViewError as exc:
        raise HTTPException(400, str(exc)) from None


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise HTTPException(400, f"unknown sensor kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    return kind


async def _objects(live: LiveService, object_id: str | None) -> set[str] | None:
    return await live.family((object_id,)) if object_id is not None else None


@router.post("/sensors", summary="Create or replace sensors (one object or a list)", status_code=201)
async def create_sensors(request: Request, body: Annotated[Any, Body()]) -> OrjsonResponse:
    live = live_service(request)
    many = isinstance(body, list)
    stored, refused = await live.put_sensors(body if many else [body])
    if not many:
        if refused:
            raise HTTPException(400, refused[0]["reason"])
        return OrjsonResponse(stored[0], status_code=201)
    return OrjsonResponse({"stored": stored, "refused": refused}, status_code=201 if not refused else 200)


@router.get("/sensors", summary="Sensors with their latest value, status and alarm")
async def list_sensors(request: Request, bbox: BBox = None, kind: KindParam = None, object_id: ObjectParam = None,
                       limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> OrjsonResponse:
    live = live_service(request)
    state = live.hub.state
    ids = views.select(state, _bbox(bbox), _kind(kind), await _objects(live, object_id))
    return OrjsonResponse({"sensors": [views.sensor_view(state, s) for s in ids[:limit]], "matched": len(ids)})


@router.get("/sensors/latest", summary="The latest value of every sensor in a box, of a kind or on an object")
async def latest_values(request: Request, bbox: BBox = None, kind: KindParam = None,
                        object_id: ObjectParam = None) -> OrjsonResponse:
    live = live_service(request)
    state = live.hub.state
    rows = []
    for sensor_id in views.select(state, _bbox(bbox), _kind(kind), await _objects(live, object_id)):
        view = views.sensor_view(state, sensor_id)
        rows.append({"sensor": sensor_id, "kind": view["kind"], "object": view["object_id"],
                     "position": view["position"], "unit": view["unit"], **(view["latest"] or {"time": None,
                     "value": None}), "online": view["online"],
                     "alarm": view["alarm"]["level"] if view["alarm"] else None})
    return OrjsonResponse({"latest": rows})


@router.get("/sensors/{sensor_id}", summary="One sensor with its latest value, status and alarm")
async def read_sensor(request: Request, sensor_id: str) -> OrjsonResponse:
    state = live_service(request).hub.state
    if sensor_id not in state.sensors:
        raise HTTPException(404, f"no sensor {sensor_id!r}")
    return OrjsonResponse(views.sensor_view(state, sensor_id))


@router.put("/sensors/{sensor_id}", summary="Create or replace one sensor")
async def replace_sensor(request: Request, sensor_id: str, body: Annotated[dict[str, Any], Body()]) -> OrjsonResponse:
    if body.get("id", sensor_id) != sensor_id:
        raise HTTPException(400, f"the body's id {body.get('id')!r} is not the path's {sensor_id!r}")
    stored, refused = await live_service(request).put_sensors([{**body, "id": sensor_id}])
    if refused:
        raise HTTPException(400, refused[0]["reason"])
    return OrjsonResponse(stored[0])


@router.delete("/sensors/{sensor_id}", summary="Delete a sensor (its stored readings stay until retention)",
               status_code=204)
async def delete_sensor(request: Request, sensor_id: str) -> Response:
    if not await live_service(request).delete_sensor(sensor_id):
        raise HTTPException(404, f"no sensor {sensor_id!r}")
    return Response(status_code=204)


@router.get("/sensors/{sensor_id}/readings", summary="A sensor's readings in a time range, raw or in buckets")
async def sensor_readings(request: Request, sensor_id: str,
                          start: Annotated[str | None, Query(alias="from", description="ISO 8601; default 24 h ago")]
                          = None,
                          end: Annotated[str | None, Query(alias="to", description="ISO 8601; default now")] = None,
                          bucket: Annotated[str | None, Query(description="bucket width: 30s, 5m, 1h, 1d")] = None,
                          limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> OrjsonResponse:
    live = live_service(request)
    if sensor_id not in live.hub.state.sensors:
        raise HTTPException(404, f"no sensor {sensor_id!r}")
    now = datetime.now(UTC)
    try:
        t1 = parse_time(end, now) if end else now
        t0 = parse_time(start, now) if start else t1 - history.DAY
        seconds = history.parse_bucket(bucket) if bucket else None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if t1 < t0:
        raise HTTPException(400, "to must not come before from")
    async with live.pool.acquire() as conn:
        rows = await readings_between(conn, sensor_id, t0, t1, seconds, limit)
    return OrjsonResponse({"sensor": sensor_id, "from": history.iso(t0), "to": history.iso(t1),
                           "bucket_s": seconds, "readings": rows})


@router.post("/readings", summary="Readings in: a JSON array (or object) or NDJSON; per-item results")
async def post_readings(request: Request) -> OrjsonResponse:
    live = live_service(request)
    body = await request.body()
    try:
        items = parse_body(body, request.headers.get("content-type", ""), live.options.max_batch)
    except OverflowError:
        raise HTTPException(413, f"at most {live.options.max_batch:,} readings per batch") from None
    except BodyError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        result = await live.post_readings(items, principal_of(request.scope).sensor_limit)  # a device: its own
    except StorageError as exc:
        raise HTTPException(503, f"readings not stored (database: {exc}); nothing was acknowledged, "
                                 "send them again") from None
    return OrjsonResponse(result.as_json())


@router.get("/alarms", summary="Active alarms (worst first)")
async def active_alarms(request: Request, bbox: BBox = None, object_id: ObjectParam = None,
                        level: Annotated[str | None, Query(pattern="^(blue|yellow|orange|red)$")] = None
                        ) -> OrjsonResponse:
    live = live_service(request)
    state = live.hub.state
    sensors = set(views.select(state, _bbox(bbox), None, await _objects(live, object_id)))
    alarms = [a for a in state.alarms.values() if a["sensor"] in sensors and (level is None or a["level"] == level)]
    order = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
    alarms.sort(key=lambda a: (order[a["level"]], a["raised_at"]))
    return OrjsonResponse({"alarms": alarms})


@router.post("/alarms/{alarm_id}/acknowledge", summary="Acknowledge an active alarm (who, recorded with the time)")
async def acknowledge_alarm(request: Request, alarm_id: str,
                            body: Annotated[dict[str, Any], Body(examples=[{"by": "duty officer Li"}])]
                            ) -> OrjsonResponse:
    actor = body.get("by")
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200 or "\x00" in actor:
        raise HTTPException(400, "by must name who acknowledges (1–200 characters)")
    alarm = await live_service(request).acknowledge(alarm_id, actor.strip())
    if alarm is None:
        raise HTTPException(404, f"no active alarm {alarm_id!r}")
    return OrjsonResponse(alarm)


@router.get("/thresholds", summary="Alarm thresholds per sensor kind (configured or default)")
async def thresholds(request: Request) -> OrjsonResponse:
    state = live_service(request).hub.state
    return OrjsonResponse({kind: {"rule": (state.kind_rules[kind].as_json() if kind in state.kind_rules
                                           else KINDS[kind].thresholds), "configured": kind in state.kind_rules}
                           for kind in sorted(KINDS)})


@router.put("/thresholds/{kind}", summary="Set a kind's thresholds (null restores the default)")
async def set_thresholds(request: Request, kind: str, rule: Annotated[Any, Body()]) -> OrjsonResponse:
    _kind(kind)
    try:
        stored = await live_service(request).set_kind_rule(kind, rule)
    except RuleError as exc:
        raise HTTPException(400, str(exc)) from None
    return OrjsonResponse({"kind": kind, "rule": stored or KINDS[kind].thresholds})


@router.get("/state", summary="Latest value of every sensor, active alarms and open events, now or at an instant")
async def state_at(request: Request, at: Annotated[str | None, Query(description="ISO 8601; default now")] = None,
                   bbox: BBox = None, kind: KindParam = None, object_id: ObjectParam = None) -> OrjsonResponse:
    live = live_service(request)
    box = _bbox(bbox)
    narrowed = box is not None or kind is not None or object_id is not None
    sensors = views.select(live.hub.state, box, _kind(kind), await _objects(live, object_id)) if narrowed else None
    try:
        instant = parse_time(at, datetime.now(UTC)) if at else datetime.now(UTC)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    async with live.pool.acquire() as conn:
        return OrjsonResponse(await history.state_at(conn, instant, sensors, box))


@router.websocket("/ws")
async def live_socket(socket: WebSocket) -> None:
    """The live protocol (docs/live-protocol.md): subscribe, snapshot, deltas, resume, replay."""
    live = getattr(socket.app.state, "live", None)
    await socket.accept()
    if live is None:
        await socket.send_text(orjson.dumps({"type": "error", "reason": "the live layer is not running"}).decode())
        await socket.close(1011)
        return
    settings = socket.app.state.settings
    limits = ClientLimits(settings.ws_max_message_kb * 1024, settings.ws_messages_per_s, settings.ws_message_burst)
    await Session(socket, live, limits).run()
