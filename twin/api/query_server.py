"""The commonest location queries answered on asyncpg before FastAPI: in bare ASGI, and through `answer` by the
lean HTTP protocol (`twin.api.lean_http`).

Objects near a point, the objects holding a 3D point, the nearest k of a kind, and a page of a dataset's objects
in a lon/lat box are what dashboards ask over and over. Here they run the very statement shapes the FastAPI
routes run, compiled once for asyncpg and executed on the event loop: no routing, no validation layer, no thread
hop, no ORM rows. Whatever this path does not fully understand — an unknown or repeated parameter, a value out of
range, an `Origin` the CORS rules would have to judge, an empty items page (does the collection exist?), any
database error — it declines before sending anything, and FastAPI answers (with its errors). Both paths build
their bodies with `twin.api.pages`, and a test holds them to the same answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from sqlalchemy import Engine, Select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from starlette.datastructures import URL
from starlette.requests import Request

from twin.api.lean_pool import LeanPool
from twin.api.pages import OGC_PREFIX, content_crs, items_page, listing, near_listing, ogc_root
from twin.api.responses import render_json
from twin.api.tile_server import Scope, Send
from twin.ogc.catalog import ALL_OBJECTS
from twin.ogc.crs import CRS84, Crs, parse_crs, parse_numbers
from twin.ogc.documents import GEOJSON
from twin.ogc.errors import QueryError
from twin.ogc.items import MAX_LIMIT, bbox_page_query, parse_limit
from twin.ogc.sql import SqlQuery
from twin.queries import (
    MAX_K,
    check_point,
    containing_query,
    initial_candidates,
    knn_query,
    near_query,
    next_round,
)

log = logging.getLogger(__name__)
NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
INTEGER = re.compile(r"^[+-]?\d+$")
ITEMS_PATH = re.compile(rf"^{OGC_PREFIX}/collections/([^/]+)/items$")
ITEMS_TEMPLATE = OGC_PREFIX + "/collections/{collectionId}/items"
_DIALECT = asyncpg_dialect()
CORS_EXPOSED = ("ETag", "Content-Length")
"""Headers a cross-origin script may read; the app's CORS middleware is configured with the same."""
_EXPOSED = ", ".join(CORS_EXPOSED).encode()


class Decline(Exception):
    """This request is left to FastAPI."""


@lru_cache(maxsize=256)
def _compiled(statement: Select[Any]) -> tuple[str, Any]:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return str(compiled), compiled


def asyncpg_arguments(query: SqlQuery) -> tuple[str, list[Any]]:
    """The statement's SQL with `$n` placeholders, and its values in their order."""
    sql, compiled = _compiled(query.statement)
    values = compiled.construct_params(dict(query.params))
    return sql, [values[name] for name in compiled.positiontup]


class QueryServer:
    """Lean asyncpg connections for this worker's event loop, and the CORS rule the app applies to simple
    requests."""

    def __init__(self, pool: LeanPool, cors_origins: Sequence[str]) -> None:
        self.pool = pool
        self.any_origin = "*" in cors_origins
        self.answered = 0

    @classmethod
    async def open(cls, engine: Engine, cors_origins: Sequence[str], size: int = 5) -> QueryServer | None:
        """A pool on the engine's database, or None (and every query goes through FastAPI) when it cannot connect."""
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            pool = await LeanPool.connect(dsn, size)
        except (OSError, asyncpg.PostgresError, ValueError) as exc:
            log.warning("query fast path off, asyncpg cannot connect: %s", exc)
            return None
        return cls(pool, cors_origins)

    async def close(self) -> None:
        await self.pool.close()

    async def rows(self, query: SqlQuery) -> list[Any]:
        sql, arguments = asyncpg_arguments(query)
        return await self.pool.fetch(sql, arguments)


class Params:
    """A query string with every name given once and only known names."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    @classmethod
    def parse(cls, query_string: bytes, allowed: frozenset[str]) -> Params:
        text = query_string.decode("latin-1")
        if "%00" in text:  # a NUL character: PostgreSQL text cannot hold it, FastAPI refuses it
            raise Decline
        if "%" in text or "+" in text:
            pairs = parse_qsl(text, keep_blank_values=True)
        else:  # what parse_qsl gives when there is nothing to unquote, without its per-pair work
            pairs = [(name, value) for name, _, value in (piece.partition("=") for piece in text.split("&") if piece)]
        values = dict(pairs)
        if len(values) != len(pairs) or not values.keys() <= allowed:
            raise Decline
        return cls(values)

    def number(self, name: str, default: float | None = None) -> float | None:
        text = self.values.get(name)
        if text is None:
            return default
        if not NUMBER.match(text):
            raise Decline
        return float(text)

    def required(self, name: str) -> float:
        value = self.number(name)
        if value is None:
            raise Decline
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.values.get(name)
        if text is None:
            return default
        if not INTEGER.match(text) or not low <= int(text) <= high:
            raise Decline
        return int(text)

    def crs(self) -> Crs:
        return parse_crs(self.values.get("crs"))


Answer = tuple[dict[str, Any], Crs]
Handler = Callable[[QueryServer, Params, URL], Awaitable[Answer]]


async def _near(server: QueryServer, params: Params, url: URL) -> Answer:
    limit = params.integer("limit", 100, 1, MAX_LIMIT)
    crs = params.crs()
    query = near_query(params.required("lon"), params.required("lat"), params.required("radius"),
                       params.values.get("kind"), limit, crs)
    return near_listing(await server.rows(query), limit, url), crs


async def _at(server: QueryServer, params: Params, url: URL) -> Answer:
    crs = params.crs()
    query = containing_query(params.required("lon"), params.required("lat"), params.number("h"),
                             params.values.get("kind"), crs)
    return listing(await server.rows(query), url), crs


async def _nearest(server: QueryServer, params: Params, url: URL) -> Answer:
    lon, lat, k, crs = params.required("lon"), params.required("lat"), params.integer("k", 1, 1, MAX_K), params.crs()
    check_point(lon, lat)
    kind = params.values.get("kind")
    candidates: int | None = initial_candidates(k, lat)
    rows: list[Any] = []
    while candidates is not None:
        rows = await server.rows(knn_query(lon, lat, kind, k, candidates, crs))
        candidates = next_round(rows, candidates, k, lat)
    return listing(rows, url), crs


async def _items(server: QueryServer, params: Params, url: URL, base_url: str, collection_id: str) -> Answer:
    limit = parse_limit(params.values.get("limit"))
    bbox = params.values.get("bbox")
    query = bbox_page_query(collection_id, parse_numbers(bbox, "bbox"), limit, params.values.get("after")
                            ) if bbox is not None else None
    if query is None:
        raise Decline
    rows = await server.rows(query)
    if not rows:
        raise Decline  # FastAPI tells an empty page from a missing collection
    root = ogc_root(base_url)
    return items_page(rows, limit, url, f"{root}/collections/{collection_id}", collection_id), CRS84


_POINT = frozenset({"lon", "lat", "kind", "crs"})
ROUTES: dict[str, tuple[frozenset[str], Handler]] = {
    "/query/near": (_POINT | {"radius", "limit"}, _near),
    "/query/at": (_POINT | {"h"}, _at),
    "/query/nearest": (_POINT | {"k"}, _nearest),
}
ITEMS_PARAMETERS = frozenset({"bbox", "limit", "after"})


def _cross_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])


Reply = tuple[list[tuple[bytes, bytes]], bytes]
"""A 200 answer's headers (Content-Length, Content-Type, Content-Crs and CORS) and body."""
_GEOJSON = GEOJSON.encode()
_CORS = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", _EXPOSED)]


async def answer(server: QueryServer, path: str, query_string: bytes, url: str, base_url: str,
                 cross_origin: bool) -> Reply | None:
    """The answer to a GET of one of the routes above (`url` and `base_url` as Starlette's request gives them),
    or None when the request is left to FastAPI."""
    if cross_origin and not server.any_origin:
        return None
    try:
        if path in ROUTES:
            allowed, handler = ROUTES[path]
            body, crs = await handler(server, Params.parse(query_string, allowed), URL(url))
        elif (match := ITEMS_PATH.match(path)) and match.group(1) != ALL_OBJECTS:
            params = Params.parse(query_string, ITEMS_PARAMETERS)
            body, crs = await _items(server, params, URL(url), base_url, match.group(1))
        else:
            return None
    except (Decline, QueryError):
        return None
    except Exception as exc:  # a lost connection, a driver state error…: FastAPI answers on its own connection
        log.warning("query fast path declined %s after %s: %s", path, type(exc).__name__, exc)
        return None
    content = render_json(body)
    server.answered += 1
    headers = [(b"content-length", b"%d" % len(content)), (b"content-type", _GEOJSON),
               (b"content-crs", _crs_header(crs))]
    return (headers + _CORS if cross_origin else headers), content


@lru_cache(maxsize=64)
def _crs_header(crs: Crs) -> bytes:
    return content_crs(crs).encode()


def route_template(path: str) -> str:
    """The route a fast-path request answers, as metrics and logs name it (the items page's FastAPI template)."""
    return path if path in ROUTES else ITEMS_TEMPLATE


def is_query_path(path: str) -> bool:
    """Whether `answer` may take a request for this path (it may still decline it)."""
    return path in ROUTES or ITEMS_PATH.match(path) is not None


async def serve_query(server: QueryServer, scope: Scope, send: Send) -> bool:
    """Answer a GET of one of the routes above straight from ASGI; False when the request is left to FastAPI."""
    if scope["method"] != "GET" or not is_query_path(scope["path"]):
        return False
    request = Request(scope)
    reply = await answer(server, scope["path"], scope["query_string"], str(request.url), str(request.base_url),
                         _cross_origin(scope))
    if reply is None:
        return False
    headers, content = reply
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})
    return True
