"""What the collections answered from the live state in memory (`sensors`, `events`) share: their page request
(bbox in CRS84, limit, after, property filters — no CQL2), their pages with `next` links, and their schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL

from twin.live import views
from twin.ogc.documents import GEOJSON, JSON, link
from twin.ogc.errors import QueryError

MAX_LIMIT = 10_000
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SCHEMA_URI = "https://json-schema.org/draft/2019-09/schema"


@dataclass(frozen=True)
class PageRequest:
    limit: int
    bbox: views.Bounds | None
    after: str | None
    filters: dict[str, str]


def one_value(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(f"give {name} once")
    return values[0]


def page_request(params: Mapping[str, Sequence[str]], filters: Sequence[str], what: str) -> PageRequest:
    """The checked page parameters of a `what` collection whose property filters are `filters`."""
    allowed = {"limit", "bbox", "after", "crs", "f", *filters}
    unknown = set(params) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise QueryError(f"unknown query parameter {name!r} ({what} take {', '.join(sorted(allowed))}; CQL2 "
                         "filters are not offered here)")
    if one_value(params, "crs") not in (None, CRS84_URI):
        raise QueryError(f"{what} are offered in CRS84 only")
    raw_limit = one_value(params, "limit") or "10"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT:,}")
    try:
        bbox = views.parse_bbox(one_value(params, "bbox"))
    except views.ViewError as exc:
        raise QueryError(str(exc)) from None
    wanted = {name: value for name in filters if (value := one_value(params, name)) is not None}
    return PageRequest(int(raw_limit), bbox, one_value(params, "after"), wanted)


def page(features: list[dict[str, Any]], limit: int, page_url: URL, collection_url: str, title: str
         ) -> dict[str, Any]:
    """A FeatureCollection of the first `limit` features (one more was looked for: then a `next` link)."""
    links = [link(str(page_url), "self", GEOJSON, "this page"), link(collection_url, "collection", JSON, title)]
    if len(features) > limit:
        following = page_url.include_query_params(after=features[limit - 1]["id"])
        links.append(link(str(following), "next", GEOJSON, "next page"))
    return {"type": "FeatureCollection", "features": features[:limit], "links": links,
            "numberReturned": min(len(features), limit)}


def schema(url: str, title: str, properties: dict[str, Any], filters: Sequence[str], queryables: bool
           ) -> dict[str, Any]:
    """The queryables (the property filters) or the JSON Schema of the collection's point features."""
    if queryables:
        return {"$schema": SCHEMA_URI, "$id": url, "type": "object", "title": title, "additionalProperties": False,
                "properties": {name: properties[name] for name in filters}}
    return {"$schema": SCHEMA_URI, "$id": url, "type": "object", "title": title,
            "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
                           "geometry": {"type": ["object", "null"], "description": "GeoJSON Point (lon, lat, h)"},
                           "properties": {"type": "object", "properties": properties}}}


def extent(points: list[tuple[float, float]]) -> tuple[float, float, float, float] | None:
    if not points:
        return None
    return (min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points),
            max(p[1] for p in points))
