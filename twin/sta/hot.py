"""Answers from memory. The latest Observation of datastreams comes from the live state's latest values. And
`Datastreams?$filter=st_within(observedArea, geometry'…')` (or `st_intersects`, `geo.intersects`) in the
default order, expanding the latest Observation or nothing, is answered with no scan: the sensors in the area
from the live state's positions (every worker's state is fed through the bus), each datastream's document as
the SQL path writes it, kept until its sensor changes (its constant part read from the Datastreams view once),
and each one's latest Observation written once per reading. What it cannot answer exactly is left to SQL
(`in_area` gives None): other request shapes or `$select`, a database that does not order ids by code point, a
geometry other than a valid polygon, and a polygon with a sensor on or within `EDGE_DEG` of its boundary (where
PostGIS and GEOS could decide differently) unless it is an axis-aligned box, which is decided exactly.

Once a request finds documents not kept for its base URL, the rest are written ahead in the background (`fill`,
`FILL_BATCH` datastreams per statement), so that the first look at an area does not pay for them."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import asyncpg
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import wkt

from twin.live.sensors import Sensor
from twin.live.state import EPOCH, Latest, LiveState
from twin.sta import lean
from twin.sta.compile import check_wkt
from twin.sta.documents import Page
from twin.sta.encode import encode
from twin.sta.filter import Call, FilterError, Literal, Node, Path
from twin.sta.model import DATASTREAMS_SQL, STATE_KINDS, Entity
from twin.sta.options import Query
from twin.sta.resource import Resource

AREA = Path(("observedArea",))
EDGE_DEG = 1e-9
"""Within this distance of a general polygon's boundary (≈0.1 mm) a sensor is left to PostGIS to decide."""
LINK_SAFE = "$'(),/:"
ROWS_SQL = f"SELECT {lean.COLUMNS} FROM ({DATASTREAMS_SQL}) AS e WHERE e.id = ANY($1::text[])"
COLLATION_SQL = """SELECT coalesce(nullif(c.collname, 'default'), d.datcollate),
       coalesce(to_jsonb(d) ->> 'datlocprovider', 'c')
  FROM pg_attribute a JOIN pg_database d ON d.datname = current_database()
  LEFT JOIN pg_collation c ON c.oid = a.attcollation
 WHERE a.attrelid = 'sensors'::regclass AND a.attname = 'id'"""
BASES = 4
"""Base URLs whose documents are kept (one per name the server is reached by)."""
FILL_BATCH = 500
"""Datastreams whose documents one statement of `fill` writes ahead; between two, requests are answered."""


def writable(entity: Entity, query: Query) -> bool:
    """Whether `encode` writes the documents: they expand nothing, or a Datastream's latest Observation alone."""
    items = query.expand
    return not items or (len(items) == 1 and entity.name == "Datastream" and items[0].navigation == "Observations"
                         and items[0].query.is_latest())


def latest_written(state: LiveState, base: str, idents: Sequence[str], kinds: Sequence[str],
                   select: list[str] | None) -> list[bytes] | None:
    """Each datastream's latest Observation from the live state, as JSON text to end its document with
    (`,"Observations":[…]`), given the datastreams' ids and kinds; None when `encode` cannot write them."""
    values = list(map(state.latest.get, idents))
    held = [(ident, value) for ident, value in zip(idents, values, strict=True) if value is not None]
    streams = [ident for ident, _ in held]
    times = [value.time for _, value in held]
    results: list[Any] = [value.value for _, value in held]
    if not STATE_KINDS.isdisjoint(kinds):
        states = {ident for ident, kind in zip(idents, kinds, strict=True) if kind in STATE_KINDS}
        results = [bool(v) if s in states else v for s, v in zip(streams, results, strict=True)]
    deltas = [time - EPOCH for time in times]
    ids = [f"{s}~{(d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds}"
           for s, d in zip(streams, deltas, strict=True)]
    written = encode("Observations", {"id": ids, "datastream_id": streams, "phenomenon_time": times,
                                      "result": results}, len(ids), base, select)
    if written is None:
        return None
    docs = iter(written)
    return [b',"Observations":[' + next(docs) + b"]" if value is not None else b',"Observations":[]'
            for value in values]


@dataclass
class Positions:
    """The positioned sensors of a live state in id order, as arrays, made again when its sensors change; and
    by base URL the documents kept, one slot per sensor."""

    version: int
    sensors: list[Sensor]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    documents: dict[str, list[Document | None]] = field(default_factory=dict)
    wanted: set[str] = field(default_factory=set)
    """Base URLs a request found documents missing for, whose fill has not begun."""
    filling: set[str] = field(default_factory=set)

    def slots(self, base: str) -> list[Document | None]:
        if base not in self.documents and len(self.documents) >= BASES:
            del self.documents[next(iter(self.documents))]
        return self.documents.setdefault(base, [None] * len(self.sensors))


@dataclass(slots=True, eq=False)
class Document:
    """A datastream's document as the SQL path writes it, without its closing brace, for the sensor it was read
    for; and its latest Observation member (`,"Observations":[…]`) for the latest value it was written from."""

    sensor: Sensor
    kind: str
    text: bytes
    latest: Latest | None = None
    member: bytes | None = None


_kept: weakref.WeakKeyDictionary[LiveState, Positions] = weakref.WeakKeyDictionary()
_codepoint_order: bool | None = None
"""Whether the database orders sensor ids as Python orders strings (C collation); asked once."""


def positions_of(state: LiveState) -> Positions:
    """The state's positions, made again (keeping the documents of the sensors that did not change) when its
    sensors changed."""
    kept = _kept.get(state)
    if kept is not None and kept.version == state.sensors_version:
        return kept
    placed = sorted((s for s in state.sensors.values() if s.lon is not None and s.lat is not None),
                    key=lambda s: s.id)
    positions = _kept[state] = Positions(state.sensors_version, placed,
                                         np.array([s.lon for s in placed], dtype=np.float64),
                                         np.array([s.lat for s in placed], dtype=np.float64))
    for base, slots in (kept.documents if kept is not None else {}).items():
        same = {d.sensor.id: d for d in slots if d is not None and state.sensors.get(d.sensor.id) is d.sensor}
        positions.documents[base] = [same.get(s.id) for s in placed]
    return positions


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


def matches(positions: Positions, test: str, geometry: shapely.Geometry) -> list[int] | None:
    """The sensors the test holds for (their indexes, in id order); None when one lies too near a general
    polygon's boundary to be sure."""
    lon, lat = positions.lon, positions.lat
    w, s, e, n = shapely.bounds(geometry).tolist()
    near = np.flatnonzero((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n))
    x, y = lon[near], lat[near]
    if _box(geometry) is not None:  # comparisons alone: exact, as PostGIS decides them
        inside = (x > w) & (x < e) & (y > s) & (y < n) if test == "within" else np.ones(len(near), dtype=bool)
    else:
        shapely.prepare(geometry)
        if near.size and shapely.dwithin(shapely.boundary(geometry), shapely.points(x, y), EDGE_DEG).any():
            return None
        inside = (shapely.contains_xy if test == "within" else shapely.intersects_xy)(geometry, x, y)
    indexes: list[int] = near[inside].tolist()
    return indexes


async def codepoint_order(conn: asyncpg.Connection) -> bool:
    global _codepoint_order
    if _codepoint_order is None:
        row = await conn.fetchrow(COLLATION_SQL)
        _codepoint_order = row is not None and row[0] in ("C", "POSIX") and row[1] == "c"
    return _codepoint_order


async def documents_of(conn: asyncpg.Connection, positions: Positions, base: str, indexes: Sequence[int]
                       ) -> list[Document] | None:
    """The documents of these sensors in their order, those not kept read in one statement and written as the
    SQL path writes them; a sensor no longer stored is left out, as SQL would. None when `encode` cannot write
    them."""
    slots = positions.slots(base)
    found = [slots[i] for i in indexes]
    missing = [i for i, d in zip(indexes, found, strict=True) if d is None]
    if not missing:
        return found  # type: ignore[return-value]  # none is None
    if base not in positions.filling:
        positions.wanted.add(base)
    sensors = positions.sensors
    asked = {sensors[i].id: i for i in missing}
    records = await conn.fetch(ROWS_SQL, list(asked))
    page = await lean.datastream_columns(conn, records)
    written = encode("Datastreams", page, len(records), base, None, [b""] * len(records))
    if written is None:
        return None
    for record, text in zip(records, written, strict=True):
        index = asked[record[0]]
        slots[index] = Document(sensors[index], record[2], text[:-1])
    return [d for i in indexes if (d := slots[i]) is not None]


def members_of(state: LiveState, base: str, documents: list[Document], select: list[str] | None
               ) -> list[bytes] | None:
    """Each datastream's latest Observation member; written again only for a datastream with a newer reading
    (kept for the default `$select`)."""
    latest = state.latest
    if select is not None:
        return latest_written(state, base, [d.sensor.id for d in documents], [d.kind for d in documents], select)
    get = latest.get
    stale = [d for d in documents if d.latest is not get(d.sensor.id) or d.member is None]
    if stale:
        values = [latest.get(d.sensor.id) for d in stale]
        written = latest_written(state, base, [d.sensor.id for d in stale], [d.kind for d in stale], None)
        if written is None:
            return None
        for document, value, member in zip(stale, values, written, strict=True):
            document.latest, document.member = value, member
    return [d.member for d in documents]  # type: ignore[misc]  # every one written above


def joined(documents: list[Document], members: list[bytes] | None) -> Page:
    """The documents (with their members) as one JSON array, joined once."""
    count = len(documents)
    if not count:
        return Page(b"[]")
    parts: list[bytes] = [b""] * (3 * count)
    parts[0::3] = [d.text for d in documents]
    if members is not None:
        parts[1::3] = members
    parts[2::3] = [b"},"] * count
    parts[0] = b"[" + parts[0]
    parts[-1] = b"}]"
    return Page(b"".join(parts))


async def in_area(conn: asyncpg.Connection, resource: Resource, query: Query, state: LiveState, base: str,
                  url: str, options: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The answer to a request for the Datastreams in an area, from memory; None when SQL must answer it."""
    step = resource.last
    if (len(resource.steps) != 1 or step.entity.name != "Datastream" or step.id is not None or query.orderby
            or query.select is not None or query.data_array or not writable(step.entity, query)):
        return None
    area = area_of(query.filter)
    if area is None or not await codepoint_order(conn):
        return None
    positions = positions_of(state)
    indexes = matches(positions, *area)
    if indexes is None:
        return None
    out: dict[str, Any] = {}
    if query.count:
        out["@iot.count"] = len(indexes)
    page = indexes[query.skip:query.skip + query.top + 1]
    if len(page) > query.top:
        page = page[:query.top]
        following = [(k, v) for k, v in options if k != "$skip"] + [("$skip", str(query.skip + query.top))]
        out["@iot.nextLink"] = f"{url}?{urlencode(following, safe=LINK_SAFE)}"
    documents = await documents_of(conn, positions, base, page)
    if documents is None:
        return None
    members = members_of(state, base, documents, query.expand[0].query.select) if query.expand else None
    if query.expand and members is None:
        return None
    out["value"] = joined(documents, members)
    return out


def start_fills(state: LiveState, pool: asyncpg.Pool,
                spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
    """Hand `spawn` a `fill` for every base URL a request found documents missing for (once each)."""
    positions = _kept.get(state)
    if positions is None or not positions.wanted:
        return
    for base in positions.wanted - positions.filling:
        positions.filling.add(base)
        spawn(fill(pool, state, positions, base))
    positions.wanted.clear()


async def fill(pool: asyncpg.Pool, state: LiveState, positions: Positions, base: str) -> None:
    """Write the documents of every datastream not yet kept for `base`, `FILL_BATCH` per statement, on a
    connection of its own for each; ends early when the sensors change (a request then starts it again for
    what is missing) or when `encode` cannot write them."""
    try:
        slots = positions.slots(base)
        missing = [i for i, document in enumerate(slots) if document is None]
        for start in range(0, len(missing), FILL_BATCH):
            if _kept.get(state) is not positions or positions.documents.get(base) is not slots:
                return
            batch = [i for i in missing[start:start + FILL_BATCH] if slots[i] is None]
            if batch:
                async with pool.acquire() as conn:
                    if await documents_of(conn, positions, base, batch) is None:
                        return
            await asyncio.sleep(0)
    finally:
        positions.filling.discard(base)
