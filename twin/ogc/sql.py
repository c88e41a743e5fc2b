"""The twin object table as SQL expressions, GeoJSON feature rows and metre-based spatial conditions.

Every query in this package selects the same three columns per object — id, GeoJSON geometry text and
properties JSON text — so PostgreSQL writes the JSON and Python only joins it (orjson `Fragment`s, no re-parse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    Select,
    Text,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from twin.ogc.crs import CRS84, Crs, geojson_sql

OBJECTS = table(
    "twin_objects",
    column("id", Text), column("dataset_id", Text), column("kind", Text), column("name", Text),
    column("parent_id", Text), column("footprint"), column("zmin", Float), column("zmax", Float),
    column("attributes", JSONB),
)
DATASETS = table("datasets", column("id", Text), column("created_at"))

CORE_TEXT = ("id", "dataset_id", "kind", "name", "parent_id")
"""Object columns of text type that filters may name directly."""
CORE_NUMBER = ("zmin", "zmax")
GEOMETRY_NAMES = ("geometry", "footprint")
METRES_PER_DEGREE_LAT = 110_574.0
"""Fewest metres in a degree of latitude (at the equator), so envelopes built from it are never too small."""
METRES_PER_DEGREE_LON = 111_320.0


@dataclass(frozen=True)
class FeatureRow:
    id: str
    geometry: str
    properties: str


PROPERTY_COLUMNS = ("dataset_id", "kind", "name", "parent_id", "zmin", "zmax")
"""Object columns every feature carries as properties (the id is the feature's own `id`)."""
RESERVED = ("id", *PROPERTY_COLUMNS)
"""Names an attribute cannot keep in a feature's properties: such an attribute is named `attributes.<name>`."""


def properties_sql(extra: Mapping[str, ColumnElement[Any]] | None = None) -> ColumnElement[str]:
    """All attributes plus the object's own columns, as JSON text.

    Attributes named like a column (OpenStreetMap's `id`, say) are renamed `attributes.<name>`, the name filters
    use for them; the check for such names is cheap, the renaming runs only on objects that have one.
    """
    pairs: list[Any] = []
    for name in PROPERTY_COLUMNS:
        pairs += [literal(name), OBJECTS.c[name]]
    for name, value in (extra or {}).items():
        pairs += [literal(name), value]
    attributes = OBJECTS.c.attributes
    entry = func.jsonb_each(attributes).table_valued("key", "value")
    renamed = (select(func.jsonb_object_agg(
        case((entry.c.key.in_(RESERVED), literal("attributes.") + entry.c.key), else_=entry.c.key),
        entry.c.value)).select_from(entry).scalar_subquery())
    clashing = attributes.op("?|")(literal(list(RESERVED), ARRAY(Text)))
    own = case((clashing, renamed), else_=attributes)
    return cast(own.op("||")(func.jsonb_build_object(*pairs)), Text)


def feature_columns(crs: Crs = CRS84, extra: Mapping[str, ColumnElement[Any]] | None = None
                    ) -> list[ColumnElement[Any]]:
    return [OBJECTS.c.id, geojson_sql(OBJECTS.c.footprint, crs).label("geometry"),
            properties_sql(extra).label("properties")]


def feature_select(crs: Crs = CRS84, extra: Mapping[str, ColumnElement[Any]] | None = None) -> Select[Any]:
    return select(*feature_columns(crs, extra)).select_from(OBJECTS)


def fetch_features(engine: Engine, statement: Select[Any]) -> list[FeatureRow]:
    with engine.connect() as conn:
        return [FeatureRow(r[0], r[1], r[2]) for r in conn.execute(statement)]


def feature(row: FeatureRow, links: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "Feature", "id": row.id, "geometry": orjson.Fragment(row.geometry),
                            "properties": orjson.Fragment(row.properties)}
    if links:
        body["links"] = list(links)
    return body


def feature_collection(rows: Iterable[FeatureRow], **members: Any) -> dict[str, Any]:
    features = [feature(row) for row in rows]
    return {"type": "FeatureCollection", "features": features, "numberReturned": len(features), **members}


def point_sql(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def metre_envelope(geometry: ColumnElement[Any], metres: ColumnElement[Any] | float) -> ColumnElement[Any]:
    """A lon/lat box holding every point within `metres` of `geometry`, for the GiST index to cut candidates.

    Widening in longitude uses the cosine of the latitude furthest from the equator the box can reach, so the
    box is never too small; near the poles it covers all longitudes.
    """
    metres = literal(metres) if isinstance(metres, float | int) else metres
    dlat = metres / METRES_PER_DEGREE_LAT
    reach = func.least(func.greatest(func.abs(func.ST_YMin(geometry)), func.abs(func.ST_YMax(geometry))) + dlat,
                       literal(89.0))
    dlon = func.least(metres / (METRES_PER_DEGREE_LON * func.cos(func.radians(reach))), literal(360.0))
    return func.ST_Expand(geometry, dlon, dlat)


def within_metres(geometry: ColumnElement[Any], metres: ColumnElement[Any] | float) -> ColumnElement[bool]:
    """Footprint within `metres` (geodesic, on the WGS84 spheroid) of `geometry`, using the footprint GiST index."""
    footprint = OBJECTS.c.footprint
    return and_(footprint.op("&&")(metre_envelope(geometry, metres)),
                func.ST_DWithin(func.geography(footprint), func.geography(geometry), metres))


def distance_metres(geometry: ColumnElement[Any]) -> ColumnElement[float]:
    return func.ST_Distance(func.geography(OBJECTS.c.footprint), func.geography(geometry))
