"""The `sensors` collection: every sensor as a point feature with its latest value, online state and alarm
level, answered from the live state in memory (OGC API – Features Core with property filters; no CQL2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import URL

from twin.live import views
from twin.live.kinds import KINDS
from twin.live.state import LiveState
from twin.ogc.catalog import Collection
from twin.ogc.documents import GEOJSON, JSON, link
from twin.ogc.errors import QueryError

SENSORS = "sensors"
MAX_LIMIT = 10_000
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
PARAMETERS = {"limit", "bbox", "after", "crs", "f", *FILTERS}


def collection(state: LiveState) -> Collection:
    points = [(s.lon, s.lat) for s in state.sensors.values() if s.lon is not None and s.lat is not None]
    bbox = (min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points),
            max(p[1] for p in points)) if points else None
    return Collection(id=SENSORS, title="Sensors", dataset_id=None, bbox=bbox, created=None, versions=(),
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


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(f"give {name} once")
    return values[0]


def items(state: LiveState, params: Mapping[str, Sequence[str]], page_url: URL, collection_url: str
          ) -> dict[str, Any]:
    """One page of sensors by id, filtered by bbox (CRS84) and the property filters."""
    unknown = set(params) - PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        hint = "; CQL2 filters are not offered on sensors" if name.startswith("filter") else ""
        raise QueryError(f"unknown query parameter {name!r} (sensors take {', '.join(sorted(PARAMETERS))}){hint}")
    crs = _one(params, "crs")
    if crs not in (None, "http://www.opengis.net/def/crs/OGC/1.3/CRS84"):
        raise QueryError("sensors are offered in CRS84 only")
    raw_limit = _one(params, "limit") or "10"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT:,}")
    limit = int(raw_limit)
    try:
        bbox = views.parse_bbox(_one(params, "bbox"))
    except views.ViewError as exc:
        raise QueryError(str(exc)) from None
    kind = _one(params, "kind")
    object_id = _one(params, "object_id")
    online = _one(params, "online")
    if online not in (None, "true", "false"):
        raise QueryError("online is true or false")
    level = _one(params, "alarm_level")
    after = _one(params, "after")
    ids = views.select(state, bbox, kind, [object_id] if object_id is not None else None)
    found = []
    for sensor_id in ids:
        if after is not None and sensor_id <= after:
            continue
        view = views.sensor_view(state, sensor_id)
        if online is not None and view["online"] != (online == "true"):
            continue
        if level is not None and (view["alarm"] or {}).get("level") != level:
            continue
        found.append(view)
        if len(found) > limit:
            break
    links = [link(str(page_url), "self", GEOJSON, "this page"),
             link(collection_url, "collection", JSON, "Sensors")]
    if len(found) > limit:
        following = page_url.include_query_params(after=found[limit - 1]["id"])
        links.append(link(str(following), "next", GEOJSON, "next page"))
    return {"type": "FeatureCollection", "features": [feature(v) for v in found[:limit]], "links": links,
            "numberReturned": min(len(found), limit)}


def schema(url: str, queryables: bool) -> dict[str, Any]:
    """The queryables (property filters) or the feature schema of the sensors collection."""
    if queryables:
        return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
                "title": "Sensors", "additionalProperties": False,
                "properties": {name: PROPERTIES[name] for name in FILTERS}}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": "Sensors", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
                           "geometry": {"type": "object", "description": "GeoJSON Point (lon, lat, h)"},
                           "properties": {"type": "object", "properties": PROPERTIES}}}
