"""The twin object table as SQL expressions, GeoJSON feature rows and metre-based spatial conditions.

Every query in this package selects the same three columns per object — id, GeoJSON geometry text and
properties JSON text — so PostgreSQL writes the JSON and Python only joins it (orjson `Fragment`s, no re-parse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    Text,
    and_,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import JSONB

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


class FeatureRow(NamedTuple):
    """A feature as every query here selects it. Database rows of the same three columns (SQLAlchemy's, asyncpg's)
    serve as they are wherever a feature row is read: by position."""

    id: str
    geometry: str
    properties: str


PROPERTY_COLUMNS = ("dataset_id", "kind", "name", "parent_id", "zmin", "zmax")
"""Object columns every feature carries as properties (the id is the feature's own `id`)."""
RESERVED = ("id", *PROPERTY_COLUMNS)
"""Names an attribute cannot keep in a feature's properties: such an attribute is named `attributes.<name>`."""


def _sql_list(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


_PROPERTIES = (
    f"CASE WHEN twin_objects.attributes ?| ARRAY[{_sql_list(RESERVED)}] "
    "THEN (SELECT jsonb_object_agg(CASE WHEN e.key IN ("
    f"{_sql_list(RESERVED)}) THEN 'attributes.' || e.key ELSE e.key END, e.value) "
    "FROM jsonb_each(twin_objects.attributes) AS e) ELSE twin_objects.attributes END "
    "|| jsonb_build_object(" + ", ".join(f"'{n}', twin_objects.{n}" for n in PROPERTY_COLUMNS) + ")"
)
"""Constant SQL (only this module's own names in it): built once, so no request pays for building it."""


def properties_sql(extra: Mapping[str, ColumnElement[Any]] | None = None) -> ColumnElement[str]:
    """All attributes plus the object's own columns, as JSON text.

    Attributes named like a column (OpenStreetMap's `id`, say) are renamed `attributes.<name>`, the name filters
    use for them; the check for such names is cheap, the renaming runs only on objects that have one.
    """
    if not extra:
        return literal_column(f"CAST({_PROPERTIES} AS text)", Text)
    pairs: list[Any] = []
    for name, value in extra.items():
        pairs += [literal_column(f"'{_checked_name(name)}'"), value]
    return cast(literal_column(f"({_PROPERTIES})").op("||")(func.jsonb_build_object(*pairs)), Text)


def _checked_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"property name {name!r} must be letters, digits and _")
    return name


@lru_cache(maxsize=32)
def _plain_columns(crs: Crs) -> tuple[ColumnElement[Any], ...]:
    return (OBJECTS.c.id, geojson_sql(OBJECTS.c.footprint, crs).label("geometry"),
            properties_sql().label("properties"))


def feature_columns(crs: Crs = CRS84, extra: Mapping[str, ColumnElement[Any]] | None = None
                    ) -> list[ColumnElement[Any]]:
    if not extra:
        return list(_plain_columns(crs))
    return [OBJECTS.c.id, geojson_sql(OBJECTS.c.footprint, crs).label("geometry"),
            properties_sql(extra).label("properties")]


def feature_select(crs: Crs = CRS84, extra: Mapping[str, ColumnElement[Any]] | None = None) -> Select[Any]:
    return select(*feature_columns(crs, extra)).select_from(OBJECTS)


def read_connection(engine: Engine) -> Connection:
    """A pooled connection in autocommit mode: a read needs no BEGIN and no ROLLBACK round trip."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@dataclass(frozen=True)
class SqlQuery:
    """A statement shape (built once, cached) and this request's values for its `bindparam`s."""

    statement: Select[Any]
    params: Mapping[str, Any]

    def compiled(self, engine: Engine) -> tuple[str, dict[str, Any]]:
        """The SQL text and parameters exactly as the driver receives them (for EXPLAIN and benchmarks)."""
        compiled = self.statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        return str(compiled), dict(compiled.construct_params(dict(self.params)))


def fetch_features(conn: Connection, query: Select[Any] | SqlQuery) -> list[FeatureRow]:
    if isinstance(query, SqlQuery):
        return [FeatureRow(r[0], r[1], r[2]) for r in conn.execute(query.statement, dict(query.params))]
    return [FeatureRow(r[0], r[1], r[2]) for r in conn.execute(query)]


def feature(row: Sequence[Any], links: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "Feature", "id": row[0], "geometry": orjson.Fragment(row[1]),
                            "properties": orjson.Fragment(row[2])}
    if links:
        body["links"] = list(links)
    return body


def feature_collection(rows: Iterable[Sequence[Any]], **members: Any) -> dict[str, Any]:
    fragment = orjson.Fragment
    features = [{"type": "Feature", "id": r[0], "geometry": fragment(r[1]), "properties": fragment(r[2])}
                for r in rows]
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
