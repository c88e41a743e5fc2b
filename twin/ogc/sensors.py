"""The `sensors` collection: every sensor as a point feature with its latest value, online state and alarm
level, answered from the live state in memory (OGC API – Features Core with property filters; no CQL2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import URL

from twin.live import views
from twin.live.kinds import KINDS
from twin.live.state import LiveState
from twin.ogc import memory_pages as pages
from twin.ogc.catalog import Collection
from twin.ogc.errors import QueryError

SENSORS = "sensors"
PROPERTIES: dict[str, Any] = {
    "kind": {"type": "string", "enum": sorted(KINDS), "x-ogc-role": "type"},
    "name": {"type": "string"},
    "unit": {"type": "string"},
    "object_id": {"type": "string", "description": "the twin object the sensor is bound to"},
    "value": {"type": "number", "description": "latest reading"},
    "time": {"type": "string", "format": "date-time", "description": "time of the latest reading"},
    "online": {"type": "boolean"},
    "alarm_level": {"type": "string", "enum": ["blue", "yellow", "orange", "red"]},
}
FILTERS = ("kind", "object_id", "online", "alarm_level")


def collection(state: LiveState) -> Collection:
    points = [(s.lon, s.lat) for s in list(state.sensors.values()) if s.lon is not None and s.lat is not None]
    return Collection(id=SENSORS, title="Sensors", dataset_id=None, bbox=pages.extent(points), created=None,
                      versions=(),
                      description=f"{len(state.sensors)} live sensors with their latest value, online state and "
                                  "alarm level")


def feature(view: dict[str, Any], links: list[dict[str, str]] | None = None) -> dict[str, Any]:
    latest = view["latest"] or {}
    properties = {"kind": view["kind"], "name": view["name"], "unit": view["unit"], "object_id": view["object_id"],
                  "value": latest.get("value"), "time": latest.get("time"), "online": view["online"],
                  "alarm_level": view["alarm"]["level"] if view["alarm"] else None, **view["attributes"]}
    body = {"type": "Feature", "id": view["id"], "properties": properties,
            "geometry": {"type": "Point", "coordinates": view["position"]} if view["position"] else None}
    if links:
        body["links"] = links
    return body


def items(state: LiveState, params: Mapping[str, Sequence[str]], page_url: URL, collection_url: str
          ) -> dict[str, Any]:
    """One page of sensors by id, filtered by bbox (CRS84) and the property filters."""
    request = pages.page_request(params, FILTERS, "sensors")
    online, level = request.filters.get("online"), request.filters.get("alarm_level")
    if online not in (None, "true", "false"):
        raise QueryError("online is true or false")
    object_id = request.filters.get("object_id")
    ids = views.select(state, request.bbox, request.filters.get("kind"),
                       [object_id] if object_id is not None else None)
    found = []
    for sensor_id in ids:
        if request.after is not None and sensor_id <= request.after:
            continue
        view = views.sensor_view(state, sensor_id)
        if online is not None and view["online"] != (online == "true"):
            continue
        if level is not None and (view["alarm"] or {}).get("level") != level:
            continue
        found.append(feature(view))
        if len(found) > request.limit:
            break
    return pages.page(found, request.limit, page_url, collection_url, "Sensors")


def schema(url: str, queryables: bool) -> dict[str, Any]:
    """The queryables (property filters) or the feature schema of the sensors collection."""
    return pages.schema(url, "Sensors", PROPERTIES, FILTERS, queryables)
