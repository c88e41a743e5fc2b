"""The `events` collection: the open events (drills left out) as point features, answered from the live state in
memory (OGC API – Features Core with property filters; no CQL2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import URL

from twin.events.lifecycle import STATUSES
from twin.events.reports import KINDS, SEVERITIES, SOURCES
from twin.live import views
from twin.live.state import LiveState
from twin.ogc.catalog import Collection
from twin.ogc.documents import GEOJSON, JSON, link
from twin.ogc.errors import QueryError

EVENTS = "events"
MAX_LIMIT = 10_000
PROPERTIES: dict[str, Any] = {
    "kind": {"type": "string", "enum": list(KINDS), "x-ogc-role": "type"},
    "severity": {"type": "string", "enum": list(SEVERITIES)},
    "status": {"type": "string", "enum": list(STATUSES)},
    "source": {"type": "string", "enum": list(SOURCES)},
    "title": {"type": "string"},
    "object_id": {"type": "string", "description": "the twin object the event is pinned on"},
    "assignee": {"type": "string"},
    "reported_at": {"type": "string", "format": "date-time"},
    "deadline": {"type": "string", "format": "date-time"},
}
FILTERS = ("kind", "severity", "status", "source", "object_id", "assignee")
PARAMETERS = {"limit", "bbox", "after", "crs", "f", *FILTERS}


def _open(state: LiveState) -> list[dict[str, Any]]:
    events = [e for e in list(state.events.values()) if e.get("source") != "drill"]
    return sorted(events, key=lambda e: int(e["id"]))


def collection(state: LiveState) -> Collection:
    points = [e["location"][:2] for e in _open(state) if e.get("location")]
    bbox = (min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points),
            max(p[1] for p in points)) if points else None
    return Collection(id=EVENTS, title="Events", dataset_id=None, bbox=bbox, created=None, versions=(),
                      description=f"{len(points)} open events with a location (kind, severity, status, assignee)")


def feature(event: dict[str, Any], links: list[dict[str, str]] | None = None) -> dict[str, Any]:
    properties = {name: event.get(name) for name in PROPERTIES}
    body: dict[str, Any] = {"type": "Feature", "id": str(event["id"]), "properties": properties,
                            "geometry": {"type": "Point", "coordinates": event["location"]}
                            if event.get("location") else None}
    if links:
        body["links"] = links
    return body


def one(state: LiveState, feature_id: str) -> dict[str, Any] | None:
    event = state.events.get(feature_id)
    return event if event is not None and event.get("source") != "drill" else None


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(f"give {name} once")
    return values[0]


def items(state: LiveState, params: Mapping[str, Sequence[str]], page_url: URL, collection_url: str
          ) -> dict[str, Any]:
    """One page of open events by id, filtered by bbox (CRS84) and the property filters."""
    unknown = set(params) - PARAMETERS
    if unknown:
        raise QueryError(f"unknown query parameter {sorted(unknown)[0]!r} (events take "
                         f"{', '.join(sorted(PARAMETERS))}; no CQL2)")
    if _one(params, "crs") not in (None, "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise QueryError("events are offered in CRS84 only")
    raw_limit = _one(params, "limit") or "10"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT:,}")
    limit = int(raw_limit)
    try:
        bbox = views.parse_bbox(_one(params, "bbox"))
    except views.ViewError as exc:
        raise QueryError(str(exc)) from None
    wanted = {name: value for name in FILTERS if (value := _one(params, name)) is not None}
    after = _one(params, "after")
    if after is not None and not after.isdigit():
        raise QueryError("after is an event id")
    found = []
    for event in _open(state):
        if after is not None and int(event["id"]) <= int(after):
            continue
        if any(str(event.get(name)) != value for name, value in wanted.items()):
            continue
        where = event.get("location")
        if bbox is not None and (not where or not (bbox[0] <= where[0] <= bbox[2] and bbox[1] <= where[1] <= bbox[3])):
            continue
        found.append(event)
        if len(found) > limit:
            break
    links = [link(str(page_url), "self", GEOJSON, "this page"), link(collection_url, "collection", JSON, "Events")]
    if len(found) > limit:
        links.append(link(str(page_url.include_query_params(after=found[limit - 1]["id"])), "next", GEOJSON,
                          "next page"))
    return {"type": "FeatureCollection", "features": [feature(e) for e in found[:limit]], "links": links,
            "numberReturned": min(len(found), limit)}


def schema(url: str, queryables: bool) -> dict[str, Any]:
    """The queryables (property filters) or the feature schema of the events collection."""
    if queryables:
        return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
                "title": "Events", "additionalProperties": False,
                "properties": {name: PROPERTIES[name] for name in FILTERS}}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": "Events", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
                           "geometry": {"type": ["object", "null"], "description": "GeoJSON Point (lon, lat, h)"},
                           "properties": {"type": "object", "properties": PROPERTIES}}}
