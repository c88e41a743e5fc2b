"""GeoJSON answers of the query routes, built alike by the FastAPI routes and the bare-ASGI query fast path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import URL

from twin.api.responses import OrjsonResponse
from twin.ogc.crs import Crs
from twin.ogc.documents import GEOJSON, JSON, link
from twin.ogc.sql import feature_collection

OGC_PREFIX = "/ogc"


def ogc_root(base_url: URL | str) -> str:
    return str(base_url).rstrip("/") + OGC_PREFIX


def listing(rows: Sequence[Sequence[Any]], url: URL, **members: Any) -> dict[str, Any]:
    """A FeatureCollection of every row, linked to itself."""
    return feature_collection(rows, links=[link(str(url), "self", GEOJSON)], **members)


def near_listing(rows: Sequence[Sequence[Any]], limit: int, url: URL) -> dict[str, Any]:
    """The first `limit` rows (of `limit` + 1 asked for), telling whether more were within reach."""
    return listing(rows[:limit], url, moreAvailable=len(rows) > limit)


def _page_links(rows: Sequence[Sequence[Any]], limit: int, url: URL) -> list[dict[str, str]]:
    links = [link(str(url), "self", GEOJSON, "this page")]
    if len(rows) > limit:
        links.append(link(str(url.include_query_params(after=rows[limit - 1][0])), "next", GEOJSON, "next page"))
    return links


def page(rows: Sequence[Sequence[Any]], limit: int, url: URL) -> dict[str, Any]:
    """One keyset page (`limit` + 1 rows asked for): `next` continues after the last id shown."""
    return feature_collection(rows[:limit], links=_page_links(rows, limit, url))


def items_page(rows: Sequence[Sequence[Any]], limit: int, url: URL, collection_url: str, title: str
               ) -> dict[str, Any]:
    """An OGC items page: self, collection and next links and the time of the answer."""
    links = _page_links(rows, limit, url)
    links.insert(1, link(collection_url, "collection", JSON, title))
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return feature_collection(rows[:limit], links=links, timeStamp=stamp)


def content_crs(crs: Crs) -> str:
    """The `Content-Crs` header value (OGC API – Features Part 2)."""
    return f"<{crs.uri}>"


def geojson_response(body: dict[str, Any], crs: Crs) -> OrjsonResponse:
    return OrjsonResponse(body, media_type=GEOJSON, headers={"Content-Crs": content_crs(crs)})
