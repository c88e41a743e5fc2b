"""The `events` collection: the open events (drills left out) as point features, answered from the live state in
memory (OGC API – Features Core with property filters; no CQL2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import URL

from twin.events.lifecycle import STATUSES
from twin.events.reports import KINDS, SEVERITIES, SOURCES
from twin.live.state import LiveState
from twin.ogc import memory_pages as pages
from twin.ogc.catalog import Collection
from twin.ogc.errors import QueryError

EVENTS = "events"
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


def _open(state: LiveState) -> list[dict[str, Any]]:
    events = [e for e in list(state.events.values()) if e.get("source") != "drill"]
    return sorted(events, key=lambda e: int(e["id"]))


def collection(state: LiveState) -> Collection:
    points = [e["location"][:2] for e in _open(state) if e.get("location")]
    return Collection(id=EVENTS, title="Events", dataset_id=None, bbox=pages.extent(points), created=None,
                      versions=(),
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


def items(state: LiveState, params: Mapping[str, Sequence[str]], page_url: URL, collection_url: str
          ) -> dict[str, Any]:
    """One page of open events by id, filtered by bbox (CRS84) and the property filters."""
    request = pages.page_request(params, FILTERS, "events")
    if request.after is not None and not request.after.isdigit():
        raise QueryError("after is an event id")
    bbox = request.bbox
    found = []
    for event in _open(state):
        if request.after is not None and int(event["id"]) <= int(request.after):
            continue
        if any(str(event.get(name)) != value for name, value in request.filters.items()):
            continue
        where = event.get("location")
        if bbox is not None and (not where or not (bbox[0] <= where[0] <= bbox[2] and bbox[1] <= where[1] <= bbox[3])):
            continue
        found.append(feature(event))
        if len(found) > request.limit:
            break
    return pages.page(found, request.limit, page_url, collection_url, "Events")


def schema(url: str, queryables: bool) -> dict[str, Any]:
    """The queryables (property filters) or the feature schema of the events collection."""
    return pages.schema(url, "Events", PROPERTIES, FILTERS, queryables)
