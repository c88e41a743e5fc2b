"""Feature collections: one per dataset plus `objects` (every twin object), their extents and queryables.

Queryables are the object columns plus the attribute keys found in a collection's objects. Finding the keys
reads every object once, so they are cached per dataset version (a re-ingested dataset has a new `created_at`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from twin.ogc.filters import Queryables
from twin.ogc.sql import RESERVED
from twin.repository import NotFound

ALL_OBJECTS = "objects"
"""Collection id of every object of every dataset."""


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    dataset_id: str | None
    bbox: tuple[float, float, float, float] | None
    created: tuple[datetime, datetime] | None
    versions: tuple[tuple[str, datetime], ...]
    """(dataset id, created_at) of every dataset in the collection: the cache key of its queryables."""


_DATASETS_SQL = ("SELECT id, name, kind, source, object_count, created_at, ST_XMin(extent) AS x1, "
                 "ST_YMin(extent) AS y1, ST_XMax(extent) AS x2, ST_YMax(extent) AS y2 FROM datasets")


def _dataset_collection(row: Any) -> Collection:
    bbox = (row.x1, row.y1, row.x2, row.y2) if row.x1 is not None else None
    return Collection(
        id=row.id, title=row.name, dataset_id=row.id, bbox=bbox, created=(row.created_at, row.created_at),
        description=f"{row.object_count} {row.kind} objects ingested from {row.source}",
        versions=((row.id, row.created_at),),
    )


def _all_collection(datasets: list[Collection]) -> Collection:
    boxes = [c.bbox for c in datasets if c.bbox]
    times = [c.created for c in datasets if c.created]
    return Collection(
        id=ALL_OBJECTS, title="All twin objects", dataset_id=None,
        description="Every twin object of every dataset: buildings, storeys, spaces and city furniture",
        bbox=(min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        if boxes else None,
        created=(min(t[0] for t in times), max(t[1] for t in times)) if times else None,
        versions=tuple(v for c in datasets for v in c.versions),
    )


def list_collections(conn: Connection) -> list[Collection]:
    datasets = [_dataset_collection(r) for r in conn.execute(text(_DATASETS_SQL + " ORDER BY name"))]
    return [_all_collection(datasets), *datasets]


def dataset_stub(collection_id: str) -> Collection:
    """What an items page needs of a dataset collection before knowing it exists (checked when a page is empty)."""
    return Collection(id=collection_id, title=collection_id, description="", dataset_id=collection_id, bbox=None,
                      created=None, versions=())


def get_collection(conn: Connection, collection_id: str) -> Collection:
    if collection_id == ALL_OBJECTS:
        return list_collections(conn)[0]
    row = conn.execute(text(_DATASETS_SQL + " WHERE id = :id"), {"id": collection_id}).first()
    if row is None:
        raise NotFound(f"no collection {collection_id!r}")
    return _dataset_collection(row)


_cache: dict[tuple[str, str, datetime], dict[str, str | None]] = {}
_cache_lock = threading.Lock()


def _attribute_types(conn: Connection, dataset_id: str, created: datetime) -> dict[str, str | None]:
    key = (conn.engine.url.render_as_string(hide_password=True), dataset_id, created)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    rows = conn.execute(text(
        "SELECT e.key, array_agg(DISTINCT jsonb_typeof(e.value)) AS types "
        "FROM twin_objects o, jsonb_each(o.attributes) e WHERE o.dataset_id = :d GROUP BY e.key"
    ), {"d": dataset_id}).all()
    types: dict[str, str | None] = {}
    for row in rows:
        found = {str(k) for k in row.types} - {"null"}
        types[str(row.key)] = found.pop() if len(found) == 1 else None
    with _cache_lock:
        for stale in [k for k in _cache if k[:2] == key[:2]]:
            del _cache[stale]
        _cache[key] = types
    return types


def collection_queryables(conn: Connection, collection: Collection) -> Queryables:
    merged: dict[str, str | None] = {}
    for dataset_id, created in collection.versions:
        for name, kind in _attribute_types(conn, dataset_id, created).items():
            merged[name] = kind if merged.get(name, kind) == kind else None
    return Queryables(merged)


JSON_SCHEMA_TYPES = {"string": "string", "number": "number", "boolean": "boolean", "array": "array",
                     "object": "object"}


ID_SCHEMA = {"type": "string", "description": "stable object id <dataset>.<source id>", "x-ogc-role": "id"}


def property_schemas(queryables: Queryables) -> dict[str, Any]:
    """JSON Schemas of a feature's properties: the object columns, then attributes (renamed if they clash)."""
    properties: dict[str, Any] = {
        "dataset_id": {"type": "string", "description": "dataset the object was ingested with"},
        "kind": {"type": "string", "description": "building, storey, space, hydrant, camera, …",
                 "x-ogc-role": "type"},
        "name": {"type": "string"},
        "parent_id": {"type": "string", "description": "id of the containing object (a storey's building)"},
        "zmin": {"type": "number", "description": "lowest height, metres above the WGS84 ellipsoid"},
        "zmax": {"type": "number", "description": "highest height, metres above the WGS84 ellipsoid"},
    }
    for name, kind in sorted(queryables.attributes.items()):
        if name in RESERVED:
            name = f"attributes.{name}"
        schema: dict[str, Any] = {"description": "attribute from the source data"}
        if kind in JSON_SCHEMA_TYPES:
            schema["type"] = JSON_SCHEMA_TYPES[kind]
        properties[name] = schema
    return properties


def queryables_document(collection: Collection, queryables: Queryables, url: str) -> dict[str, Any]:
    """The collection's queryables as a JSON Schema (OGC API – Features Part 3)."""
    geometry = {"format": "geometry-any", "description": "the object's footprint (EPSG:4326)",
                "x-ogc-role": "primary-geometry"}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": collection.title,
            "properties": {"geometry": geometry, "id": ID_SCHEMA, **property_schemas(queryables)},
            "additionalProperties": False}


def feature_schema_document(collection: Collection, queryables: Queryables, url: str) -> dict[str, Any]:
    """A JSON Schema of the collection's GeoJSON features, so clients know property types before reading."""
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
        "title": collection.title, "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": ID_SCHEMA,
            "geometry": {"type": "object", "description": "GeoJSON geometry of the footprint"},
            "properties": {"type": "object", "properties": property_schemas(queryables)},
        },
    }
