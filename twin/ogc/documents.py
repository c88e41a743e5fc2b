"""The JSON documents of OGC API – Features: landing page, conformance, collections and their links."""

from __future__ import annotations

from typing import Any

from twin.ogc.catalog import Collection
from twin.ogc.crs import CRS84_URI, crs_uris

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
]


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    body = {"href": href, "rel": rel, "type": media_type}
    if title:
        body["title"] = title
    return body


def landing_page(root: str, base: str) -> dict[str, Any]:
    """`root` is the OGC API's URL (…/ogc), `base` the server's."""
    return {
        "title": "CityTwin",
        "description": "Twin objects (buildings, storeys, spaces, city furniture) as OGC API – Features with CQL2 "
                       "filters and CRS choice; location queries at /query/…",
        "links": [
            link(root, "self", JSON, "this document"),
            link(f"{root}/api", "service-desc", OPENAPI_30, "the API definition (OpenAPI 3.0)"),
            link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{root}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{root}/collections", "data", JSON, "feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def collection_document(collection: Collection, root: str) -> dict[str, Any]:
    url = f"{root}/collections/{collection.id}"
    extent: dict[str, Any] = {}
    if collection.bbox:
        extent["spatial"] = {"bbox": [list(collection.bbox)], "crs": CRS84_URI}
    if collection.created:
        extent["temporal"] = {"interval": [[t.isoformat().replace("+00:00", "Z") for t in collection.created]],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description + "; datetime filters on the time the dataset was ingested",
        "itemType": "feature",
        "extent": extent,
        "crs": crs_uris(),
        "storageCrs": CRS84_URI,
        "links": [
            link(url, "self", JSON, "this collection"),
            link(f"{url}/items", "items", GEOJSON, "its objects"),
            link(f"{url}/schema", "describedby", SCHEMA_JSON, "JSON Schema of its features"),
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_JSON,
                 "properties that filters may name"),
            # the same two links under the relation names GDAL's OAPIF driver looks for
            link(f"{url}/schema", "describedBy", SCHEMA_JSON, "JSON Schema of its features"),
            link(f"{url}/queryables", "queryables", SCHEMA_JSON, "properties that filters may name"),
        ],
    }


def collections_document(collections: list[Collection], root: str) -> dict[str, Any]:
    return {
        "links": [link(f"{root}/collections", "self", JSON, "this document")],
        "collections": [collection_document(c, root) for c in collections],
        "crs": crs_uris(),
    }
