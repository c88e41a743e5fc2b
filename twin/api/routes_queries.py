"""Twin queries by location under `/query`, and an object's children and context under `/objects/{id}`.

All answer GeoJSON FeatureCollections (the context: a Feature with its parent and children) shaped like the OGC
items; input points are longitude/latitude (CRS84), output geometries in `crs`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Body, Query, Request
from sqlalchemy import Engine, Select

from twin.api.deps import InlineEngineDep as EngineDep
from twin.api.live_context import live_context
from twin.api.pages import geojson_response, listing, near_listing, page
from twin.api.responses import OrjsonResponse
from twin.ogc.crs import Crs, parse_crs
from twin.ogc.documents import GEOJSON, link
from twin.ogc.items import MAX_LIMIT
from twin.ogc.numbers import MAX_HEIGHT
from twin.ogc.sql import FeatureRow, SqlQuery, feature, feature_collection, read_connection
from twin.queries import (
    MAX_K,
    MAX_RADIUS,
    children_statement,
    containing_query,
    family,
    near_query,
    nearest,
    parse_geometry,
    run,
    within_statement,
)

router = APIRouter(tags=["twin queries"])  # NUL characters are refused app-wide (guards.py)

Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees (WGS84)")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees (WGS84)")]
Kind = Annotated[str | None, Query(description="only objects of this kind (building, storey, space, hydrant, …)")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most objects returned")]
After = Annotated[str | None, Query(description="page after this object id (from the `next` link)")]
CrsParam = Annotated[str | None, Query(description="CRS of the returned geometries (URI); default CRS84")]
Height = Annotated[float | None, Query(ge=-MAX_HEIGHT, le=MAX_HEIGHT, allow_inf_nan=False,
                                      description="height in metres above the WGS84 ellipsoid; omit for every height")]


def _run(engine: Engine, query: Select[Any] | SqlQuery) -> list[FeatureRow]:
    with read_connection(engine) as conn:
        return run(conn, query)


def _paged(rows: list[FeatureRow], limit: int, request: Request, crs: Crs) -> OrjsonResponse:
    return geojson_response(page(rows, limit, request.url), crs)


@router.get("/query/near", summary="Objects within a radius of a point",
            response_description="FeatureCollection nearest first; each feature has `distance_m` (geodesic metres)")
def query_near(request: Request, engine: EngineDep, lon: Lon, lat: Lat,
               radius: Annotated[float, Query(ge=0, le=MAX_RADIUS, allow_inf_nan=False, description="metres")],
               kind: Kind = None, limit: Limit = 100, crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs)
    rows = _run(engine, near_query(lon, lat, radius, kind, limit, output))
    return geojson_response(near_listing(rows, limit, request.url), output)


@router.get("/query/at", summary="Objects containing a point at a height (which building, storey, space)",
            response_description="FeatureCollection, innermost object (thinnest height range) first")
def query_at(request: Request, engine: EngineDep, lon: Lon, lat: Lat,
             h: Height = None,
             kind: Kind = None, crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs)
    rows = _run(engine, containing_query(lon, lat, h, kind, output))
    return geojson_response(listing(rows, request.url), output)


@router.get("/query/nearest", summary="The k nearest objects (of a kind) to a point",
            response_description="FeatureCollection nearest first; each feature has `distance_m` (geodesic metres)")
def query_nearest(request: Request, engine: EngineDep, lon: Lon, lat: Lat,
                  k: Annotated[int, Query(ge=1, le=MAX_K, description="how many")] = 1,
                  kind: Kind = None, crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs)
    with read_connection(engine) as conn:
        found = nearest(conn, lon, lat, k, kind, output)
    return geojson_response(listing(found.rows, request.url), output)


_WITHIN_DOC = "Objects within (or intersecting) a polygon, by id with `next` paging"


def _within(request: Request, engine: EngineDep, geometry: str | dict[str, Any], geometry_crs: str | None,
            relation: str, kind: str | None, limit: int, after: str | None, crs: str | None) -> OrjsonResponse:
    output = parse_crs(crs)
    area = parse_geometry(geometry)
    rows = _run(engine, within_statement(area, relation, kind, limit, after, parse_crs(geometry_crs, "geometry-crs"),
                                        output))
    return _paged(rows, limit, request, output)


Relation = Annotated[str, Query(pattern="^(within|intersects)$", description="within (default) or intersects")]
GeometryCrs = Annotated[str | None, Query(alias="geometry-crs", description="CRS of the polygon; default CRS84")]


@router.get("/query/within", summary=_WITHIN_DOC)
def query_within(request: Request, engine: EngineDep,
                 geometry: Annotated[str, Query(description="Polygon or MultiPolygon as WKT or GeoJSON")],
                 geometry_crs: GeometryCrs = None, relation: Relation = "within", kind: Kind = None,
                 limit: Limit = 100, after: After = None, crs: CrsParam = None) -> OrjsonResponse:
    return _within(request, engine, geometry, geometry_crs, relation, kind, limit, after, crs)


@router.post("/query/within", summary=_WITHIN_DOC + " (polygon as a GeoJSON body)")
def query_within_body(request: Request, engine: EngineDep,
                      geometry: Annotated[dict[str, Any], Body(description="GeoJSON Polygon, MultiPolygon or a "
                                                                           "Feature of one")],
                      geometry_crs: GeometryCrs = None, relation: Relation = "within", kind: Kind = None,
                      limit: Limit = 100, after: After = None, crs: CrsParam = None) -> OrjsonResponse:
    return _within(request, engine, geometry, geometry_crs, relation, kind, limit, after, crs)


@router.get("/objects/{object_id}/children", summary="Objects whose parent is this one (storeys, spaces)")
def object_children(object_id: str, request: Request, engine: EngineDep, kind: Kind = None,
                    limit: Limit = 100, after: After = None, crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs)
    return _paged(_run(engine, children_statement(object_id, kind, limit, after, output)), limit, request, output)


@router.get("/objects/{object_id}/context", summary="An object as a Feature with its parent and children",
            response_description="Feature with `parent` (Feature or null) and `children` (FeatureCollection)")
def object_context(object_id: str, request: Request, engine: EngineDep,
                   children: Annotated[int, Query(ge=0, le=MAX_LIMIT, description="most children inlined")] = 100,
                   crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs)
    with read_connection(engine) as conn:
        found = family(conn, object_id, children, output)
    base = str(request.base_url).rstrip("/")
    kids_links = []
    if found["more_children"]:
        last = found["children"][-1].id if found["children"] else None
        query = f"?{urlencode({'after': last})}" if last else ""
        href = f"{base}/objects/{quote(object_id, safe='')}/children{query}"
        kids_links.append(link(href, "next", GEOJSON, "more children"))
    body = feature(found["object"], [link(str(request.url), "self", "application/json"),
                                     link(f"{base}/objects/{quote(object_id, safe='')}/children", "children", GEOJSON)])
    body["parent"] = feature(found["parent"]) if found["parent"] else None
    body["children"] = feature_collection(found["children"], links=kids_links)
    body["live"] = live_context(request, engine, object_id)
    return geojson_response(body, output)
