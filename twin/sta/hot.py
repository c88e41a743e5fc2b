"""Datastreams in an area answered from memory: `Datastreams?$filter=st_within(observedArea, geometry'…')` (or
`st_intersects`, `geo.intersects`) in the default order, with `$expand` of the latest Observation or nothing. The
sensors in the area come from the live state's positions (every worker's state is fed through the bus), each
one's row of the Datastreams view is read from PostgreSQL once and kept until its sensor changes, and the latest
Observations come from the live state as on the SQL path. Anything it cannot answer exactly is left to SQL
(`in_area` gives None): other request shapes, a database that does not order ids by code point, a geometry other
than a valid polygon, and a polygon with a sensor on or within `EDGE_DEG` of its boundary (where PostGIS and GEOS
could decide a point differently), unless the polygon is an axis-aligned box, which is decided exactly."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import wkt

from twin.live.sensors import Sensor
from twin.live.state import LiveState
from twin.sta import lean
from twin.sta.compile import check_wkt
from twin.sta.filter import Call, FilterError, Literal, Node, Path
from twin.sta.model import DATASTREAMS_SQL
from twin.sta.options import Query
from twin.sta.resource import Resource

AREA = Path(("observedArea",))
EDGE_DEG = 1e-9
"""Within this distance of a general polygon's boundary (≈0.1 mm) a sensor is left to PostGIS to decide."""
ROWS_SQL = f"SELECT {lean.COLUMNS} FROM ({DATASTREAMS_SQL}) AS e WHERE e.id = ANY($1::text[])"
COLLATION_SQL = """SELECT coalesce(nullif(c.collname, 'default'), d.datcollate),
       coalesce(to_jsonb(d) ->> 'datlocprovider', 'c')
  FROM pg_attribute a JOIN pg_database d ON d.datname = current_database()
  LEFT JOIN pg_collation c ON c.oid = a.attcollation
 WHERE a.attrelid = 'sensors'::regclass AND a.attname = 'id'"""


@dataclass
class Positions:
    """The positioned sensors of a live state as arrays, made again when its sensors change."""

    version: int
    ids: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]


@dataclass
class Hot:
    """What is kept per live state: the positions, and the Datastreams view's row per sensor with the sensor it
    was read for (a row whose sensor is no longer the state's is read again)."""

    positions: Positions | None = None
    rows: dict[str, tuple[Sensor, asyncpg.Record]] = field(default_factory=dict)


_kept: weakref.WeakKeyDictionary[LiveState, Hot] = weakref.WeakKeyDictionary()
_codepoint_order: bool | None = None
"""Whether the database orders sensor ids as Python orders strings (C collation); asked once."""


def positions_of(state: LiveState, hot: Hot) -> Positions:
    if hot.positions is not None and hot.positions.version == state.sensors_version:
        return hot.positions
    placed = [s for s in state.sensors.values() if s.lon is not None and s.lat is not None]
    hot.positions = Positions(state.sensors_version, [s.id for s in placed],
                              np.array([s.lon for s in placed], dtype=np.float64),
                              np.array([s.lat for s in placed], dtype=np.float64))
    hot.rows = {k: v for k, v in hot.rows.items() if state.sensors.get(k) is v[0]}  # forget replaced sensors
    return hot.positions


def area_of(node: Node | None) -> tuple[str, shapely.Geometry] | None:
    """("within" | "intersects", the polygon) when the filter is one spatial test of `observedArea` against a
    valid polygon; None otherwise (a bad literal included: SQL then gives the reason)."""
    if not isinstance(node, Call) or len(node.args) != 2:
        return None
    if node.name == "st_within" and node.args[0] == AREA:
        literal, test = node.args[1], "within"
    elif node.name in ("st_intersects", "geo.intersects") and AREA in node.args:
        literal, test = node.args[1] if node.args[0] == AREA else node.args[0], "intersects"
    else:
        return None
    if not isinstance(literal, Literal) or literal.type != "geometry":
        return None
    try:
        geometry = wkt.loads(check_wkt(literal.value))  # the very text PostGIS is given
    except FilterError:
        return None
    if shapely.get_type_id(geometry) not in (3, 6) or not shapely.is_valid(geometry):  # Polygon, MultiPolygon
        return None
    return test, geometry


def _box(geometry: shapely.Geometry) -> tuple[float, float, float, float] | None:
    """The bounds of an axis-aligned rectangle (a polygon of its four corners, no holes); None for other shapes."""
    if shapely.get_type_id(geometry) != 3 or shapely.get_num_interior_rings(geometry):
        return None
    w, s, e, n = shapely.bounds(geometry).tolist()
    ring = shapely.get_coordinates(geometry.exterior)
    corners = {(x, y) for x, y in ring.tolist()}
    if len(ring) != 5 or corners != {(w, s), (e, s), (e, n), (w, n)}:
        return None
    return w, s, e, n


def matches(positions: Positions, test: str, geometry: shapely.Geometry) -> list[str] | None:
    """The ids of the sensors the test holds for, in code point order; None when one lies too near a general
    polygon's boundary to be sure."""
    lon, lat = positions.lon, positions.lat
    w, s, e, n = shapely.bounds(geometry).tolist()
    near = np.flatnonzero((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n))
    x, y = lon[near], lat[near]
    box = _box(geometry)
    if box is not None:  # comparisons alone: exact, as PostGIS decides them
        inside = (x > w) & (x < e) & (y > s) & (y < n) if test == "within" else np.ones(len(near), dtype=bool)
    else:
        shapely.prepare(geometry)
        if near.size and shapely.dwithin(shapely.boundary(geometry), shapely.points(x, y), EDGE_DEG).any():
            return None
        inside = (shapely.contains_xy if test == "within" else shapely.intersects_xy)(geometry, x, y)
    ids = positions.ids
    return sorted(ids[i] for i in near[inside].tolist())


async def codepoint_order(conn: asyncpg.Connection) -> bool:
    global _codepoint_order
    if _codepoint_order is None:
        row = await conn.fetchrow(COLLATION_SQL)
        _codepoint_order = row is not None and row[0] in ("C", "POSIX") and row[1] == "c"
    return _codepoint_order


async def rows_of(conn: asyncpg.Connection, state: LiveState, hot: Hot, ids: Sequence[str]
                  ) -> list[asyncpg.Record]:
    """The Datastreams view's rows (`lean.COLUMNS`) of these sensors in their order, those not kept read in one
    statement; a sensor no longer stored is left out, as SQL would."""
    sensors = state.sensors
    kept = hot.rows
    missing = [i for i in ids if (entry := kept.get(i)) is None or entry[0] is not sensors.get(i)]
    if missing:
        asked = {i: sensors[i] for i in missing if i in sensors}  # the sensors as they are before the read
        for i in missing:
            kept.pop(i, None)
        for record in await conn.fetch(ROWS_SQL, missing):
            if record[0] in asked:
                kept[record[0]] = (asked[record[0]], record)
    return [entry[1] for i in ids if (entry := kept.get(i)) is not None]


async def in_area(conn: asyncpg.Connection, resource: Resource, query: Query, state: LiveState
                  ) -> list[asyncpg.Record] | None:
    """Every Datastream row the request's area filter selects, in id order (the caller pages them), for a
    Datastreams collection written column by column; None when SQL must answer it."""
    step = resource.last
    if len(resource.steps) != 1 or step.entity.name != "Datastream" or step.id is not None or query.orderby:
        return None
    area = area_of(query.filter)
    if area is None or not await codepoint_order(conn):
        return None
    hot = _kept.get(state)
    if hot is None:
        hot = _kept[state] = Hot()
    ids = matches(positions_of(state, hot), *area)
    if ids is None:
        return None
    return await rows_of(conn, state, hot, ids)
