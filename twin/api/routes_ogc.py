"""OGC API – Features under `/ogc`: landing page, conformance, API definition, collections, items."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Engine
from sqlalchemy.exc import DataError

from twin.api.deps import InlineEngineDep as EngineDep
from twin.api.pages import OGC_PREFIX, geojson_response, items_page, ogc_root
from twin.api.responses import OrjsonResponse
from twin.live.state import LiveState
from twin.live.views import sensor_view
from twin.ogc import documents
from twin.ogc import events as ogc_events
from twin.ogc import sensors as ogc_sensors
from twin.ogc.catalog import (
    ALL_OBJECTS,
    Collection,
    collection_queryables,
    dataset_stub,
    feature_schema_document,
    get_collection,
    list_collections,
    property_schemas,
    queryables_document,
)
from twin.ogc.crs import CRS84, parse_crs
from twin.ogc.documents import GEOJSON, JSON, OPENAPI_30, SCHEMA_JSON, link
from twin.ogc.errors import QueryError
from twin.ogc.filters import Queryables
from twin.ogc.items import MAX_LIMIT, items_statement, needs_queryables, parse_items_request
from twin.ogc.openapi import ogc_document, to_openapi30
from twin.ogc.sql import OBJECTS, feature, feature_select, fetch_features, read_connection
from twin.repository import NotFound

router = APIRouter(prefix=OGC_PREFIX, tags=["OGC API – Features"])  # NUL characters are refused app-wide

CollectionId = Annotated[str, Path(alias="collectionId", description="`objects` for every object, else a dataset id")]
FeatureId = Annotated[str, Path(alias="featureId", description="object id")]
CrsParam = Annotated[str | None, Query(description="CRS of the returned geometries (URI); default CRS84")]


def _root(request: Request) -> str:
    return ogc_root(request.base_url)


@router.get("", summary="Landing page")
def landing(request: Request) -> OrjsonResponse:
    return OrjsonResponse(documents.landing_page(_root(request), str(request.base_url).rstrip("/")))


@router.get("/conformance", summary="Conformance classes")
def conformance() -> OrjsonResponse:
    return OrjsonResponse(documents.conformance())


@router.get("/api", summary="API definition (OpenAPI 3.0)")
def api_definition(request: Request, engine: EngineDep) -> OrjsonResponse:
    """The whole API, rooted at this landing page, with each collection's property filters as parameters."""
    with read_connection(engine) as conn:
        found = list_collections(conn)
        properties = {c.id: property_schemas(collection_queryables(conn, c)) for c in found}
    if _live_state(request) is not None:
        properties[ogc_sensors.SENSORS] = {name: ogc_sensors.PROPERTIES[name] for name in ogc_sensors.FILTERS}
        properties[ogc_events.EVENTS] = {name: ogc_events.PROPERTIES[name] for name in ogc_events.FILTERS}
    document = ogc_document(to_openapi30(request.app.openapi()), OGC_PREFIX, _root(request),
                            str(request.base_url).rstrip("/"), properties)
    return OrjsonResponse(document, media_type=OPENAPI_30)


@router.get("/collections", summary="Feature collections")
def collections(request: Request, engine: EngineDep) -> OrjsonResponse:
    with read_connection(engine) as conn:
        found = list_collections(conn)
    return OrjsonResponse(documents.collections_document(found + _sensor_collections(request), _root(request)))


def _live_state(request: Request) -> LiveState | None:
    live = getattr(request.app.state, "live", None)
    return live.hub.state if live is not None else None


def _sensor_collections(request: Request) -> list[Collection]:
    state = _live_state(request)
    return [ogc_sensors.collection(state), ogc_events.collection(state)] if state is not None else []


def _sensor_state(collection_id: str, request: Request) -> LiveState | None:
    """The live state when `collection_id` is the sensors collection (and the live layer runs)."""
    return _live_state(request) if collection_id == ogc_sensors.SENSORS else None


def _event_state(collection_id: str, request: Request) -> LiveState | None:
    """The live state when `collection_id` is the events collection (and the live layer runs)."""
    return _live_state(request) if collection_id == ogc_events.EVENTS else None


@router.get("/collections/{collectionId}", summary="One feature collection")
def collection(collection_id: CollectionId, request: Request, engine: EngineDep) -> OrjsonResponse:
    if (state := _sensor_state(collection_id, request)) is not None:
        return OrjsonResponse(documents.collection_document(ogc_sensors.collection(state), _root(request)))
    if (state := _event_state(collection_id, request)) is not None:
        return OrjsonResponse(documents.collection_document(ogc_events.collection(state), _root(request)))
    with read_connection(engine) as conn:
        found = get_collection(conn, collection_id)
    return OrjsonResponse(documents.collection_document(found, _root(request)))


def _described(collection_id: str, request: Request, engine: Engine) -> tuple[Collection, Queryables, str]:
    """A collection, its queryables and this document's URL without query parameters (its `$id`)."""
    with read_connection(engine) as conn:
        found = get_collection(conn, collection_id)
        known = collection_queryables(conn, found)
    return found, known, str(request.url.remove_query_params(list(request.query_params)))


@router.get("/collections/{collectionId}/queryables", summary="Properties that filters may name")
def queryables(collection_id: CollectionId, request: Request, engine: EngineDep) -> OrjsonResponse:
    if _sensor_state(collection_id, request) is not None:
        return OrjsonResponse(ogc_sensors.schema(str(request.url), queryables=True), media_type=SCHEMA_JSON)
    if _event_state(collection_id, request) is not None:
        return OrjsonResponse(ogc_events.schema(str(request.url), queryables=True), media_type=SCHEMA_JSON)
    return OrjsonResponse(queryables_document(*_described(collection_id, request, engine)), media_type=SCHEMA_JSON)


@router.get("/collections/{collectionId}/schema", summary="JSON Schema of the collection's features")
def schema(collection_id: CollectionId, request: Request, engine: EngineDep) -> OrjsonResponse:
    if _sensor_state(collection_id, request) is not None:
        return OrjsonResponse(ogc_sensors.schema(str(request.url), queryables=False), media_type=SCHEMA_JSON)
    if _event_state(collection_id, request) is not None:
        return OrjsonResponse(ogc_events.schema(str(request.url), queryables=False), media_type=SCHEMA_JSON)
    return OrjsonResponse(feature_schema_document(*_described(collection_id, request, engine)),
                          media_type=SCHEMA_JSON)


@router.get("/collections/{collectionId}/items", summary="Objects of a collection",
            response_description="a GeoJSON FeatureCollection, ordered by id; `next` link while more remain")
def items(
    collection_id: CollectionId,
    request: Request,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="objects per page")] = 10,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy or minx,miny,minz,maxx,maxy,maxz (heights "
                                                  "in metres on zmin/zmax), axis order of bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of bbox (URI); default CRS84")] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", description="instant or interval (RFC 3339, `..` for "
                                           "open); matches the time the object's dataset was ingested")] = None,
    crs: CrsParam = None,
    filter_: Annotated[str | None, Query(alias="filter", description="CQL2 filter; see /queryables")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang", description="cql2-text (default) or "
                                             "cql2-json")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", description="CRS of filter geometries")] = None,
    after: Annotated[str | None, Query(description="page after this object id (from the `next` link)")] = None,
) -> OrjsonResponse:
    """Every query parameter that is not one of the above must name a queryable: `?kind=building&type=school`."""
    params: dict[str, list[str]] = defaultdict(list)
    for name, value in request.query_params.multi_items():
        params[name].append(value)
    if (state := _sensor_state(collection_id, request)) is not None:
        page = ogc_sensors.items(state, params, request.url, f"{_root(request)}/collections/sensors")
        return geojson_response(page, CRS84)
    if (state := _event_state(collection_id, request)) is not None:
        page = ogc_events.items(state, params, request.url, f"{_root(request)}/collections/events")
        return geojson_response(page, CRS84)
    with read_connection(engine) as conn:
        # a plain page of a dataset needs no lookup first: its existence is checked only when the page is empty
        plain = not needs_queryables(params) and collection_id != ALL_OBJECTS
        found = dataset_stub(collection_id) if plain else get_collection(conn, collection_id)
        known = collection_queryables(conn, found) if needs_queryables(params) else None
        parsed = parse_items_request(params, found, known)
        try:
            rows = fetch_features(conn, items_statement(parsed))
        except DataError as exc:  # the filter's own arithmetic: division by zero, overflow, underflow
            if filter_ is None:
                raise
            raise QueryError(f"the filter cannot be evaluated: {_primary(exc)}") from None
        if not rows and plain:
            get_collection(conn, collection_id)
    body = items_page(rows, parsed.limit, request.url, f"{_root(request)}/collections/{found.id}", found.title)
    return geojson_response(body, parsed.crs)


def _primary(error: DataError) -> str:
    """PostgreSQL's one-line message of a data error (no SQL, no parameters)."""
    diag = getattr(error.orig, "diag", None)
    return str(getattr(diag, "message_primary", None) or "invalid value")


@router.get("/collections/{collectionId}/items/{featureId}", summary="One object as a GeoJSON Feature")
def item(collection_id: CollectionId, feature_id: FeatureId, request: Request, engine: EngineDep,
         crs: CrsParam = None) -> OrjsonResponse:
    output = parse_crs(crs) if crs else CRS84
    unknown = set(request.query_params) - {"crs", "f"}
    if unknown:
        raise QueryError(f"unknown query parameter {sorted(unknown)[0]!r}")
    if (state := _sensor_state(collection_id, request)) is not None:
        if feature_id not in state.sensors:
            raise NotFound(f"no sensor {feature_id!r}")
        url = f"{_root(request)}/collections/sensors"
        return geojson_response(ogc_sensors.feature(sensor_view(state, feature_id), [
            link(str(request.url), "self", GEOJSON, "this sensor"), link(url, "collection", JSON, "Sensors")]), CRS84)
    if (state := _event_state(collection_id, request)) is not None:
        if (event := ogc_events.one(state, feature_id)) is None:
            raise NotFound(f"no open event {feature_id!r}")
        url = f"{_root(request)}/collections/events"
        return geojson_response(ogc_events.feature(event, [
            link(str(request.url), "self", GEOJSON, "this event"), link(url, "collection", JSON, "Events")]), CRS84)
    statement = feature_select(output).where(OBJECTS.c.id == feature_id)
    with read_connection(engine) as conn:
        found = get_collection(conn, collection_id)
        if found.dataset_id is not None:
            statement = statement.where(OBJECTS.c.dataset_id == found.dataset_id)
        rows = fetch_features(conn, statement)
    if not rows:
        raise NotFound(f"no object {feature_id!r} in collection {found.id!r}")
    url = f"{_root(request)}/collections/{found.id}"
    links = [link(str(request.url), "self", GEOJSON, "this object"), link(url, "collection", JSON, found.title)]
    return geojson_response(feature(rows[0], links), output)
