"""OGC SensorThings API 1.1 (read) under `/sta/v1.1`: the service root, entity sets, entities, navigation and
properties, with the query options (docs/sensorthings.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from fastapi import APIRouter, HTTPException, Request, Response

from twin.api.responses import OrjsonResponse
from twin.api.routes_live import live_service
from twin.sta import query as sta_query
from twin.sta.documents import landing, render
from twin.sta.filter import FilterError
from twin.sta.options import parse_query
from twin.sta.resource import NotFoundError, parse_path

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, tags=["SensorThings API"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("", summary="SensorThings API service root: entity sets and conformance classes")
async def service_root(request: Request) -> OrjsonResponse:
    live_service(request)
    mqtt = getattr(request.app.state, "mqtt", None)
    return OrjsonResponse(landing(_base(request), mqtt.url if mqtt is not None else None))


@router.get("/{path:path}", summary="SensorThings API read request: an entity set, entity, navigation or property "
                                    "with $filter, $expand, $select, $orderby, $top, $skip, $count")
async def read(request: Request, path: str) -> Response:
    live = live_service(request)
    if not path.strip("/"):
        return await service_root(request)
    options = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k.startswith("$")]
    try:
        resource = parse_path(path)
        query = parse_query(options, resource.last.entity)
        if resource.ref and (query.select is not None or query.expand or query.data_array):
            raise FilterError("$ref gives links alone: it takes no $select, $expand or $resultFormat")
        context = sta_query.Request(_base(request), live.hub.state)
        async with live.pool.acquire() as conn:
            if resource.is_collection:
                body: Any = await sta_query.collection(conn, resource, query, context,
                                                       f"{_base(request)}/{path.strip('/')}", options)
            elif query.data_array:
                raise FilterError("$resultFormat=dataArray applies to a collection of Observations only")
            else:
                body = await sta_query.single(conn, resource, query, context)
    except FilterError as exc:
        raise HTTPException(400, str(exc)) from None
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (asyncpg.DataError, asyncpg.InternalServerError, asyncpg.ProgramLimitExceededError) as exc:
        raise HTTPException(400, f"the request could not be evaluated: {exc}") from None
    if isinstance(body, tuple):  # a property's $value
        value = body[1]
        return Response("" if value is None else str(value), media_type="text/plain")
    return Response(render(body), media_type="application/json")
