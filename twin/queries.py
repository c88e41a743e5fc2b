"""Twin queries by location: near a point, containing a 3D point, nearest k, within a polygon, an object's family.

Each builds SQL over the twin object table that the footprint GiST index answers; distances are geodesic metres
on the WGS84 spheroid (geography), computed after the index has cut the candidates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import shapely
from shapely.errors import ShapelyError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Numeric,
    Select,
    Text,
    bindparam,
    cast,
    func,
    literal,
    select,
    union_all,
)

from twin.ogc.crs import CRS84, Crs, to_storage
from twin.ogc.errors import QueryError
from twin.ogc.numbers import check_coordinates, check_height, check_lon_lat, checked
from twin.ogc.sql import (
    METRES_PER_DEGREE_LAT,
    METRES_PER_DEGREE_LON,
    OBJECTS,
    FeatureRow,
    SqlQuery,
    distance_metres,
    feature_columns,
    feature_select,
    fetch_features,
    within_metres,
)
from twin.repository import NotFound

MAX_RADIUS = 50_000.0
MAX_K = 1_000
KNN_SAFETY = 0.99
"""The lower bound of metres per degree is shrunk by 1 % for the spheroid and great-circle edges."""


def check_point(lon: float, lat: float) -> None:
    """A finite, normal longitude/latitude in degrees, else QueryError (see `twin.ogc.numbers`)."""
    check_lon_lat(lon, lat)


def _metres_property(point: ColumnElement[Any]) -> ColumnElement[Any]:
    """Geodesic distance rounded to millimetres, for the `distance_m` property."""
    return func.round(cast(distance_metres(point), Numeric), 3)


def _point_parameters() -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)), 4326)


@lru_cache(maxsize=64)
def _near_shape(crs: Crs, with_kind: bool) -> Select[Any]:
    point = _point_parameters()
    radius = bindparam("radius", type_=Float)
    statement = feature_select(crs, {"distance_m": _metres_property(point)}).where(within_metres(point, radius))
    if with_kind:
        statement = statement.where(OBJECTS.c.kind == bindparam("kind", type_=Text))
    return statement.order_by(distance_metres(point), OBJECTS.c.id).limit(bindparam("rows", type_=Integer))


def near_query(lon: float, lat: float, radius: float, kind: str | None, limit: int, crs: Crs = CRS84) -> SqlQuery:
    """Objects within `radius` metres of a point, nearest first; one more than `limit` to tell of more."""
    check_point(lon, lat)
    checked("radius", radius, 0, MAX_RADIUS, "metres")
    values = {"lon": lon, "lat": lat, "radius": float(radius), "rows": limit + 1}
    return SqlQuery(_near_shape(crs, bool(kind)), {**values, "kind": kind} if kind else values)


@lru_cache(maxsize=64)
def _containing_shape(crs: Crs, with_height: bool, with_kind: bool) -> Select[Any]:
    statement = feature_select(crs).where(func.ST_Intersects(OBJECTS.c.footprint, _point_parameters()))
    if with_height:
        height = bindparam("h", type_=Float)
        statement = statement.where(OBJECTS.c.zmin <= height, OBJECTS.c.zmax >= height)
    if with_kind:
        statement = statement.where(OBJECTS.c.kind == bindparam("kind", type_=Text))
    return statement.order_by(OBJECTS.c.zmax - OBJECTS.c.zmin, func.ST_Area(OBJECTS.c.footprint), OBJECTS.c.id)


def containing_query(lon: float, lat: float, height: float | None, kind: str | None, crs: Crs = CRS84) -> SqlQuery:
    """Objects whose footprint holds the point and whose height range holds `height`: innermost (thinnest) first."""
    check_point(lon, lat)
    if height is not None:
        check_height("h", height)
    values: dict[str, Any] = {"lon": lon, "lat": lat}
    if height is not None:
        values["h"] = float(height)
    if kind:
        values["kind"] = kind
    return SqlQuery(_containing_shape(crs, height is not None, bool(kind)), values)


def initial_candidates(k: int, lat: float) -> int:
    """Candidates of the first round. The bound below holds once the candidates reach k / cos(latitude) times the
    area of the k nearest (a metre circle is that much wider in degrees of longitude); a quarter more and a few
    extra make one round the rule, while every further candidate costs index walking on rare kinds."""
    return math.ceil(1.25 * k / max(math.cos(math.radians(min(abs(lat), 89.0))), 0.02)) + 8


@lru_cache(maxsize=64)
def _knn_shape(crs: Crs, with_kind: bool) -> Select[Any]:
    point = _point_parameters()
    order = OBJECTS.c.footprint.op("<->")(point)
    inner = select(OBJECTS.c.id.label("cid"), order.label("degrees"), distance_metres(point).label("metres"))
    if with_kind:
        inner = inner.where(OBJECTS.c.kind == bindparam("kind", type_=Text))
    found = inner.order_by(order).limit(bindparam("candidates", type_=Integer)).cte("candidates")
    reach = select(func.max(found.c.degrees), func.count()).select_from(found).subquery("reach")
    metres = func.round(cast(found.c.metres, Numeric), 3)
    return (select(*feature_columns(crs, {"distance_m": metres}), found.c.metres, reach.c[0].label("last_degrees"),
                   reach.c[1].label("candidates"))
            .select_from(found.join(OBJECTS, OBJECTS.c.id == found.c.cid)).join(reach, literal(True))
            .order_by(found.c.metres, OBJECTS.c.id).limit(bindparam("k", type_=Integer)))


KNN_METRES, KNN_LAST_DEGREES, KNN_CANDIDATES = 3, 4, 5
"""Columns of a `knn_query` row after the feature's three: its metres, the last candidate's degrees, how many."""


def knn_query(lon: float, lat: float, kind: str | None, k: int, candidates: int, crs: Crs = CRS84) -> SqlQuery:
    """One round of exact nearest-k: the `candidates` nearest by the GiST index (`<->`, degrees), re-ranked by
    geodesic metres; features for the best `k` only, each row also telling how many candidates there were and
    how far (degrees) the last one was."""
    values: dict[str, Any] = {"lon": lon, "lat": lat, "candidates": candidates, "k": k}
    if kind:
        values["kind"] = kind
    return SqlQuery(_knn_shape(crs, bool(kind)), values)


def _metres_per_degree_floor(lat: float, degrees: float) -> float:
    """Fewest metres a degree of lon/lat distance can span within `degrees` of latitude `lat`."""
    reach = min(abs(lat) + degrees, 90.0)
    return KNN_SAFETY * min(METRES_PER_DEGREE_LAT, METRES_PER_DEGREE_LON * math.cos(math.radians(reach)))


@dataclass(frozen=True)
class Nearest:
    rows: list[FeatureRow]
    rounds: int


def next_round(rows: Sequence[Any], candidates: int, k: int, lat: float) -> int | None:
    """After a `knn_query` round: None when its rows are the exact answer, else the candidates to ask for next.

    The index orders by distance in degrees, which differs from metres. So take m ≥ k candidates by the index;
    every object outside them is at least as far in degrees as the m-th, hence at least that far times the
    fewest metres per degree nearby. If the k-th best candidate in metres is no further than that bound, no
    outsider can beat it; otherwise widen m fourfold and ask again.
    """
    if not rows or rows[0][KNN_CANDIDATES] < candidates:
        return None  # every object of the kind was a candidate
    last_degrees = rows[0][KNN_LAST_DEGREES]
    bound = last_degrees * _metres_per_degree_floor(lat, last_degrees)
    if len(rows) == k and rows[-1][KNN_METRES] <= bound:
        return None
    return candidates * 4


def nearest(conn: Connection, lon: float, lat: float, k: int, kind: str | None, crs: Crs = CRS84) -> Nearest:
    """The `k` nearest objects in geodesic metres, exactly (rounds of `knn_query` until `next_round` is None)."""
    check_point(lon, lat)
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k={k} must be from 1 to {MAX_K}")
    candidates: int | None = initial_candidates(k, lat)
    rounds = 0
    while candidates is not None:
        rounds += 1
        query = knn_query(lon, lat, kind, k, candidates, crs)
        rows = conn.execute(query.statement, dict(query.params)).all()
        candidates = next_round(rows, candidates, k, lat)
    return Nearest([FeatureRow(r[0], r[1], r[2]) for r in rows], rounds)


def parse_geometry(value: str | dict[str, Any]) -> shapely.Geometry:
    """A polygon or multipolygon from WKT, GeoJSON text or a GeoJSON geometry/Feature object."""
    try:
        if isinstance(value, dict):
            data = value.get("geometry", value) if value.get("type") == "Feature" else value
            geometry = shapely.from_geojson(orjson.dumps(data))
        elif value.lstrip().startswith("{"):
            return parse_geometry(orjson.loads(value))
        else:
            geometry = shapely.from_wkt(value)
    except (ShapelyError, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise QueryError(f"geometry is neither WKT nor GeoJSON: {' '.join(str(exc).split())[:200]}") from None
    if geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
        raise QueryError("geometry must be a non-empty Polygon or MultiPolygon")
    if not geometry.is_valid:
        raise QueryError(f"geometry is not valid: {shapely.is_valid_reason(geometry)}")
    return geometry


def within_statement(geometry: shapely.Geometry, relation: str, kind: str | None, limit: int, after: str | None,
                     geometry_crs: Crs = CRS84, crs: Crs = CRS84) -> Select[Any]:
    """Objects within (or intersecting) a polygon, by id with keyset paging."""
    if relation not in ("within", "intersects"):
        raise QueryError(f"relation={relation!r} must be within or intersects")
    points = shapely.get_coordinates(geometry)
    check_coordinates("geometry", points[:, ::-1] if geometry_crs.lat_first else points, geometry_crs.bounds)
    area = to_storage(func.ST_GeomFromText(literal(shapely.to_wkt(shapely.force_2d(geometry)), Text)), geometry_crs)
    test = func.ST_Within if relation == "within" else func.ST_Intersects
    statement = feature_select(crs).where(test(OBJECTS.c.footprint, area))
    if kind:
        statement = statement.where(OBJECTS.c.kind == kind)
    if after is not None:
        statement = statement.where(OBJECTS.c.id > after)
    return statement.order_by(OBJECTS.c.id).limit(limit + 1)


def children_statement(object_id: str, kind: str | None, limit: int, after: str | None,
                       crs: Crs = CRS84) -> Select[Any]:
    """Objects whose parent is `object_id` (a building's storeys, a storey's spaces), by id with keyset paging."""
    statement = feature_select(crs).where(OBJECTS.c.parent_id == object_id)
    if kind:
        statement = statement.where(OBJECTS.c.kind == kind)
    if after is not None:
        statement = statement.where(OBJECTS.c.id > after)
    return statement.order_by(OBJECTS.c.id).limit(limit + 1)


def family(conn: Connection, object_id: str, children: int, crs: Crs = CRS84) -> dict[str, Any]:
    """An object, its parent and its first `children` children, in one query."""
    me = OBJECTS.alias("me")
    role = literal("object", Text).label("role")
    own = feature_select(crs).add_columns(role).where(OBJECTS.c.id == object_id)
    parent = (feature_select(crs).add_columns(literal("parent", Text).label("role"))
              .where(OBJECTS.c.id == select(me.c.parent_id).where(me.c.id == object_id).scalar_subquery()))
    kids = (feature_select(crs).add_columns(literal("child", Text).label("role"))
            .where(OBJECTS.c.parent_id == object_id).order_by(OBJECTS.c.id).limit(children + 1))
    statement = union_all(own, parent, select(kids.subquery()))
    rows = conn.execute(statement).all()
    found: dict[str, list[FeatureRow]] = {"object": [], "parent": [], "child": []}
    for row in rows:
        found[row.role].append(FeatureRow(row[0], row[1], row[2]))
    if not found["object"]:
        raise NotFound(f"no object {object_id!r}")
    return {"object": found["object"][0], "parent": found["parent"][0] if found["parent"] else None,
            "children": found["child"][:children], "more_children": len(found["child"]) > children}


def run(conn: Connection, query: Select[Any] | SqlQuery) -> list[FeatureRow]:
    return fetch_features(conn, query)
