"""OGC SensorThings API 1.1 (read) under `/sta/v1.1`: the service root, entity sets, entities, navigation and
properties, with the query options (docs/sensorthings.md)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import asyncpg
from fastapi import APIRouter, HTTPException, Request, Response

from twin.api.responses import OrjsonResponse, PartsResponse
from twin.api.routes_live import live_service
from twin.sta import hot
from twin.sta import query as sta_query
from twin.sta.documents import landing, render_parts
from twin.sta.filter import FilterError
from twin.sta.resource import NotFoundError

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, tags=["SensorThings API"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("", summary="SensorThings API service root: entity sets and conformance classes")
async def service_root(request: Request) -> OrjsonResponse:
    live_service(request)
    mqtt = getattr(request.app.state, "mqtt", None)
    return OrjsonResponse(landing(_base(request), mqtt.url if mqtt is not None else None))


def _refusal(exc: BaseException) -> HTTPException | None:
    """The 4xx answer to a request that cannot be answered, or None for an error of the server."""
    if isinstance(exc, FilterError):
        return HTTPException(400, str(exc))
    if isinstance(exc, NotFoundError):
        return HTTPException(404, str(exc))
    if isinstance(exc, asyncpg.DataError | asyncpg.InternalServerError | asyncpg.ProgramLimitExceededError):
        return HTTPException(400, f"the request could not be evaluated: {exc}")
    return None


@router.get("/{path:path}", summary="SensorThings API read request: an entity set, entity, navigation or property "
                                    "with $filter, $expand, $select, $orderby, $top, $skip, $count")
async def read(request: Request, path: str) -> Response:
    live = live_service(request)
    if not path.strip("/"):
        return await service_root(request)
    options = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k.startswith("$")]
    pool = live.pool
    conn = await pool.acquire()
    try:
        body = await sta_query.answer(conn, path, options, sta_query.Request(_base(request), live.hub.state))
        parts = render_parts(body) if not isinstance(body, tuple) else []
    except BaseException as exc:
        await pool.release(conn)
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from None
    if isinstance(body, tuple):  # a property's $value
        await pool.release(conn)
        value = body[1]
        return Response("" if value is None else str(value), media_type="text/plain")
    hot.start_fills(live.hub.state, pool, live.spawn)
    # the connection goes back to the pool (its reset is a round trip) once the answer is written
    return PartsResponse(parts, "application/json", after=lambda: pool.release(conn))
