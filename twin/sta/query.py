"""Read requests answered on asyncpg: one statement per entity set asked for (the path's conditions, `$filter`,
`$orderby` and paging), one more per `$expand` level (all parents at once: a LATERAL join per parent, so each
takes its own `$top` through the index); the latest observations of datastreams, and the Datastreams in an
area, from memory (`twin.sta.hot`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson

from twin.live.state import LiveState
from twin.sta import lean
from twin.sta.binary import NUMBERS, SELECTED, observation_columns
from twin.sta.compile import Compiler
from twin.sta.documents import data_arrays, documents_of, plan, self_link, value_of
from twin.sta.encode import Columns, columns_of, data_arrays_of, encode, encode_array
from twin.sta.filter import FilterError
from twin.sta.history import READINGS_SQL, of_numbers, one_datastream, page_writer, readings_only
from twin.sta.hot import LINK_SAFE, in_area, latest_written, writable
from twin.sta.lean import Row, datastream_columns, read_columns, read_rows
from twin.sta.model import (
    ENTITIES,
    STATE_KINDS,
    THING_OF_SENSOR,
    THINGS_ORDER,
    Entity,
    micros,
    observation_id,
    sensor_of,
    split_observation_id,
)
from twin.sta.options import Expand, Query, parse_query
from twin.sta.resource import NotFoundError, Resource, Step, parse_path


@dataclass
class Request:
    """What a request needs besides its path and options: where links point, and the live state."""

    base: str
    state: LiveState
    fast: bool = True
    """Documents written as JSON bytes column by column (`twin.sta.encode`); False for the plain path, which
    builds a dict per entity (the tests hold the two to the same bytes)."""


def columns(entity: Entity, alias: str) -> str:
    """The view's columns as rows carry them: geometries as GeoJSON text, JSON as its text (sent on unparsed)."""
    kinds = {c.column: c.type for c in entity.properties.values()}

    def column(c: str) -> str:
        if kinds.get(c) == "geometry":
            return f"ST_AsGeoJSON({alias}.{c}) AS {c}"
        return f"{alias}.{c}::text AS {c}" if kinds.get(c) == "json" else f"{alias}.{c}"
    return ", ".join(column(c) for c in entity.columns)


def key_condition(compiler: Compiler, entity: Entity, ident: str, alias: str) -> str:
    if entity.name == "Observation":
        parts = split_observation_id(ident)
        if parts is None or not -2**53 < parts[1] < 2**53:  # ±285 years around 1970
            return "false"
        sensor, us = parts
        return (f"{alias}.datastream_id = {compiler.param(sensor, 'text')} AND {alias}.phenomenon_time = "
                f"(timestamptz 'epoch' + {compiler.param(us, 'bigint')} * interval '1 microsecond')")
    if entity.order == THINGS_ORDER:  # the table key too, for an index probe in each branch of the view
        own = ident[len(THING_OF_SENSOR):] if ident.startswith(THING_OF_SENSOR) else ident
        return f"{alias}.id = {compiler.param(ident, 'text')} AND {alias}.key = {compiler.param(own, 'text')}"
    return f"{alias}.id = {compiler.param(ident, 'text')}"


def chain_condition(compiler: Compiler, steps: tuple[Step, ...], alias: str) -> list[str]:
    """The conditions the path puts on its last entity set: its id, and its link to the step before."""
    step = steps[-1]
    conditions = [key_condition(compiler, step.entity, step.id, alias)] if step.id is not None else []
    if step.via is not None:
        parent = steps[-2]
        navigation = parent.entity.navigations[step.via]
        inner = compiler.alias()
        where = " AND ".join(chain_condition(compiler, steps[:-1], inner)) or "true"
        conditions.append(f"{alias}.{navigation.target_column} IN (SELECT {inner}.{navigation.source_column} "
                          f"FROM ({parent.entity.sql}) AS {inner} WHERE {where})")
        if parent.id is not None and navigation.source_column == "id":  # the link itself, for the indexes
            key = compiler.param(parent.id, "text")
            conditions.append(f"{alias}.{navigation.target_column} = {key}")
            if navigation.hint is not None:
                conditions.append(navigation.hint.format(t=alias, key=key, sensor=sensor_of(key)))
    return conditions


async def _parent_exists(conn: asyncpg.Connection, steps: tuple[Step, ...]) -> bool:
    compiler = Compiler()
    where = " AND ".join(chain_condition(compiler, steps, "p")) or "true"
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM ({steps[-1].entity.sql}) AS p WHERE {where})",
                                    *compiler.params))


@dataclass
class Statement:
    """A page's statement after `SELECT …`: `table` is `FROM (source) AS e WHERE condition ORDER BY … LIMIT …`;
    `counted` of the compiler's parameters belong to the condition."""

    compiler: Compiler
    source: str
    condition: str
    counted: int
    table: str


def statement(resource: Resource, query: Query, entity: Entity, numbers: str | None) -> Statement:
    """The page's statement; one datastream's (`numbers`, a datastream of a number kind) read from `readings`
    alone, unless the options name a column only the view has (`twin.sta.history`)."""
    compiler = Compiler()
    where = [f"e.datastream_id = {compiler.param(numbers, 'text')}"] if numbers is not None else \
        chain_condition(compiler, resource.steps, "e")
    if query.filter is not None:
        where.append(compiler.condition(query.filter, entity, "e"))
    condition = " AND ".join(where) or "true"
    counted = len(compiler.params)
    order = ", ".join([*compiler.order(query.orderby, entity, "e"), *(f"e.{c}" for c in entity.order)])
    if numbers is not None and not readings_only(f"{condition} {order}"):
        return statement(resource, query, entity, None)
    source = READINGS_SQL if numbers is not None else entity.sql
    table = f"FROM ({source}) AS e WHERE {condition} ORDER BY {order} LIMIT {query.top + 1} OFFSET {query.skip}"
    return Statement(compiler, source, condition, counted, table)


async def collection(conn: asyncpg.Connection, resource: Resource, query: Query, request: Request,
                     url: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    if request.fast and not resource.ref:
        held = await in_area(conn, resource, query, request.state, request.base, url, options)
        if held is not None:
            return held
    entity = resource.last.entity
    # Observations and Datastreams read lean, written column by column
    by_columns = request.fast and not resource.ref and (
        (entity.read is not None and not query.expand) or (entity.name == "Datastream" and writable(entity, query)))
    rows: list[Row] = []
    page: Columns = {}
    one = one_datastream(resource) if by_columns and entity.read is not None else None
    page_sql = statement(resource, query, entity, one if one is not None and of_numbers(request.state, one) else None)
    compiler, condition, table = page_sql.compiler, page_sql.condition, page_sql.table
    written = writer = None
    if one is not None and (writer := page_writer(request.state, one, query, request.base)) is not None:
        selected = NUMBERS if page_sql.source is READINGS_SQL else SELECTED
        written = await observation_columns(conn, table, compiler.params, one, selected, writer)
    if written is not None:  # one datastream's Observations, read in binary (`twin.sta.binary`)
        page = written
    elif by_columns and entity.read is not None:  # a datastream named by the path needs no column
        read = "e.phenomenon_time, e.result" if one is not None else columns(entity, "e")
        page = await read_columns(conn, await conn.fetch(f"SELECT {read} {table}", *compiler.params), one)
    elif by_columns:
        page = await datastream_columns(conn, await conn.fetch(f"SELECT {lean.COLUMNS} {table}", *compiler.params))
    else:
        rows = await read_rows(conn, entity, await conn.fetch(f"SELECT {columns(entity, 'e')} {table}",
                                                              *compiler.params))
    found = len(page["id"]) if by_columns else len(rows)
    if not found and len(resource.steps) > 1 and not await _parent_exists(conn, resource.steps[:-1]):
        raise NotFoundError(f"no {resource.steps[-2].entity.name} {resource.steps[-2].id!r}")
    out: dict[str, Any] = {}
    if query.count:
        out["@iot.count"] = await conn.fetchval(
            f"SELECT count(*) FROM ({page_sql.source}) AS e WHERE {condition}", *compiler.params[:page_sql.counted])
    if found > query.top:
        found = query.top
        rows = rows[:query.top]
        page = {name: values[:query.top] for name, values in page.items()}
        following = [(k, v) for k, v in options if k != "$skip"] + [("$skip", str(query.skip + query.top))]
        out["@iot.nextLink"] = f"{url}?{urlencode(following, safe=LINK_SAFE)}"
    if written is not None and writer is not None and one is not None:  # written as it was read
        out["value"] = writer.page(request.base, one, found)
        return out
    if by_columns:
        out["value"] = page_value(entity, page, found, query, request)
        if out["value"] is not None:
            return out
        rows = [{name: values[i] for name, values in page.items()} for i in range(found)]
    if resource.ref:
        out["value"] = [{"@iot.selfLink": self_link(request.base, entity, row["id"])} for row in rows]
    elif query.data_array:
        out["value"] = data_arrays(entity, rows, request.base, query.select)
    else:
        out["value"] = await documents(conn, entity, rows, query, request)
    return out


def page_value(entity: Entity, page: Columns, count: int, query: Query, request: Request) -> Any:
    """A page of Observations given as columns, as the collection's `value`; None when it must be written the
    plain way."""
    if query.data_array:
        return data_arrays_of(page, count, request.base, query.select)
    extra = None
    if query.expand:  # a Datastream's latest Observation (`writable`)
        extra = latest_written(request.state, request.base, page["id"], page["kind"],
                               query.expand[0].query.select)
        if extra is None:
            return None
    return encode_array(entity.set_name, page, count, request.base, query.select, extra)


async def answer(conn: asyncpg.Connection, path: str, options: list[tuple[str, str]], request: Request) -> Any:
    """The body of a read request below the service root (`path`, its `$` options as given): a document, or
    ("raw", value) for a property's `$value`. FilterError (400) or NotFoundError (404) with the reason."""
    resource = parse_path(path)
    query = parse_query(options, resource.last.entity)
    if resource.ref and (query.select is not None or query.expand or query.data_array):
        raise FilterError("$ref gives links alone: it takes no $select, $expand or $resultFormat")
    if resource.is_collection:
        return await collection(conn, resource, query, request, f"{request.base}/{path.strip('/')}", options)
    if query.data_array:
        raise FilterError("$resultFormat=dataArray applies to a collection of Observations only")
    return await single(conn, resource, query, request)


async def single(conn: asyncpg.Connection, resource: Resource, query: Query, request: Request) -> Any:
    """One entity (or one of its properties); NotFoundError when there is none."""
    entity = resource.last.entity
    compiler = Compiler()
    where = " AND ".join(chain_condition(compiler, resource.steps, "e")) or "true"
    row = await conn.fetchrow(f"SELECT {columns(entity, 'e')} FROM ({entity.sql}) AS e WHERE {where} LIMIT 1",
                              *compiler.params)
    if row is None:
        step = resource.last
        raise NotFoundError(f"no {entity.name} {step.id!r}" if step.id is not None
                            else f"no {entity.name} for that {resource.steps[-2].entity.name}")
    record = (await read_rows(conn, entity, [row]))[0]
    if resource.ref:
        return {"@iot.selfLink": self_link(request.base, entity, record["id"])}
    if resource.member is not None:
        value = value_of(entity, resource.member, record)
        return ("raw", value) if resource.raw_value else {resource.member: value}
    return (await documents(conn, entity, [record], query, request))[0]


async def documents(conn: asyncpg.Connection, entity: Entity, rows: list[Row], query: Query,
                    request: Request) -> list[Any]:
    """Rows as entity documents (dicts, or JSON text as orjson Fragments), with what `$expand` asks for fetched
    for all of them at once."""
    if request.fast and rows:
        written = _written(entity, rows, query, request)
        if written is not None:
            return [orjson.Fragment(doc) for doc in written]
    docs = documents_of(entity, rows, request.base, query.select)
    for item in query.expand:
        for doc, member in zip(docs, await _expand(conn, entity, rows, item, request), strict=True):
            doc.update(member)
    return docs


def _written(entity: Entity, rows: list[Row], query: Query, request: Request) -> list[bytes] | None:
    """The documents as JSON bytes (`twin.sta.encode`) when they expand nothing, or a Datastream's latest
    Observation alone; None for the plain path."""
    if not writable(entity, query):
        return None
    items = query.expand
    extra = latest_written(request.state, request.base, [r["id"] for r in rows], [r["kind"] for r in rows],
                           items[0].query.select) if items else None
    if items and extra is None:
        return None
    shown = plan(entity.set_name, tuple(query.select) if query.select is not None else None)
    names = list(dict.fromkeys(["id", *(column for _, column, _ in shown.fields)]))
    return encode(entity.set_name, columns_of(rows, names), len(rows), request.base, query.select, extra)


async def _expand(conn: asyncpg.Connection, entity: Entity, rows: list[Row], item: Expand,
                  request: Request) -> list[dict[str, Any]]:
    navigation = entity.navigations[item.navigation]
    target = ENTITIES[navigation.target]
    query = item.query
    counts: dict[str, int] = {}
    if entity.name == "Datastream" and item.navigation == "Observations" and query.is_latest():
        return latest_members(request, rows, query.select)
    keys = sorted({r[navigation.source_column] for r in rows if r[navigation.source_column] is not None})
    if navigation.many:
        children, counts = await _many(conn, target, navigation.target_column, navigation.hint, keys,
                                      query)
    else:
        found = await conn.fetch(f"SELECT {columns(target, 'e')} FROM ({target.sql}) AS e "
                                 f"WHERE e.{navigation.target_column} = ANY($1::text[])", keys)
        children = {r[navigation.target_column]: [r] for r in await read_rows(conn, target, found)}
    flat = [child for group in children.values() for child in group]
    page = Query(select=query.select, expand=query.expand)
    docs = iter(await documents(conn, target, flat, page, request))
    grouped = {key: [next(docs) for _ in group] for key, group in children.items()}
    out: list[dict[str, Any]] = []
    for row in rows:
        found_docs = grouped.get(row[navigation.source_column], [])
        if not navigation.many:
            out.append({item.navigation: found_docs[0] if found_docs else None})
            continue
        member: dict[str, Any] = {item.navigation: found_docs[:query.top]}
        if query.count and not query.is_latest():
            member[f"{item.navigation}@iot.count"] = counts.get(row[navigation.source_column], 0)
        if len(found_docs) > query.top:
            link = self_link(request.base, entity, row["id"])
            following = [(k, v) for k, v in query.options if k not in ("$top", "$skip")]
            following += [("$top", str(query.top)), ("$skip", str(query.skip + query.top))]
            query_text = urlencode(following, safe=LINK_SAFE)
            member[f"{item.navigation}@iot.nextLink"] = f"{link}/{item.navigation}?{query_text}"
        out.append(member)
    return out


async def _many(conn: asyncpg.Connection, target: Entity, column: str, hint: str | None, keys: list[str],
                query: Query) -> tuple[dict[str, list[Row]], dict[str, int]]:
    """Each parent's page of a to-many member: LATERAL, so every parent's `$top` is one index walk."""
    compiler = Compiler([keys])
    where = [compiler.condition(query.filter, target, "e")] if query.filter is not None else []
    counted = len(compiler.params)
    order = [*compiler.order(query.orderby, target, "e"), *(f"e.{c}" for c in target.order)]
    link = [f"e.{column} = p.key"]
    if hint is not None:
        link.append(hint.format(t="e", key="p.key", sensor=sensor_of("p.key")))
    condition = " AND ".join([*link, *where])
    found = await conn.fetch(
        f"SELECT p.key AS _parent, x.* FROM unnest($1::text[]) AS p (key) CROSS JOIN LATERAL "
        f"(SELECT {columns(target, 'e')} FROM ({target.sql}) AS e WHERE {condition} ORDER BY {', '.join(order)} "
        f"LIMIT {query.top + 1} OFFSET {query.skip}) AS x ORDER BY p.key", *compiler.params)
    children: dict[str, list[Row]] = {}
    for record, row in zip(found, await read_rows(conn, target, found), strict=True):
        children.setdefault(record["_parent"], []).append(row)
    counts: dict[str, int] = {}
    if query.count:
        link = [f"e.{column} = ANY($1::text[])"]
        params = compiler.params[:counted]
        if hint is not None:
            params.append([k[len(THING_OF_SENSOR):] for k in keys if k.startswith(THING_OF_SENSOR)])
            link.append(hint.format(t="e", key="ANY($1::text[])", sensor=f"ANY(${len(params)}::text[])"))
        counted_sql = " AND ".join([*link, *where])
        for record in await conn.fetch(f"SELECT e.{column}, count(*) FROM ({target.sql}) AS e WHERE "
                                       f"{counted_sql} GROUP BY 1", *params):
            counts[record[0]] = record[1]
    return children, counts


def latest_members(request: Request, datastreams: list[Row], select: list[str] | None
                   ) -> list[dict[str, Any]]:
    """`Observations` of each datastream holding its latest observation, from the live state's latest values (no
    readings scanned)."""
    latest = request.state.latest
    observations: list[Row] = []
    held: list[bool] = []
    for row in datastreams:
        value = latest.get(row["id"])
        held.append(value is not None)
        if value is not None:
            time: datetime = value.time
            result = bool(value.value) if row["kind"] in STATE_KINDS else value.value
            observations.append({"id": observation_id(row["id"], micros(time)), "datastream_id": row["id"],
                                 "phenomenon_time": time, "result": result, "foi_id": row["thing_id"],
                                 "kind": row["kind"]})
    docs = iter(documents_of(ENTITIES["Observations"], observations, request.base, select))
    return [{"Observations": [next(docs)] if has else []} for has in held]
