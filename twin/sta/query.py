"""Read requests answered on asyncpg: one statement per entity set asked for (the path's conditions, `$filter`,
`$orderby` and paging), one more per `$expand` level (all parents at once: a LATERAL join per parent, so each
takes its own `$top` through the index), and the latest observation of datastreams from the live state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg

from twin.live.state import EPOCH, LiveState
from twin.sta.compile import Compiler
from twin.sta.documents import data_arrays, documents_of, self_link, value_of
from twin.sta.model import (
    ENTITIES,
    OBSERVATION_STREAMS_SQL,
    STATE_KINDS,
    THING_OF_SENSOR,
    THINGS_ORDER,
    Entity,
    micros,
    observation_id,
    sensor_of,
    split_observation_id,
)
from twin.sta.options import Expand, Query
from twin.sta.resource import NotFoundError, Resource, Step

LINK_SAFE = "$'(),/:"


@dataclass
class Request:
    """What a request needs besides its path and options: where links point, and the live state."""

    base: str
    state: LiveState


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


Row = Mapping[str, Any]
"""A row of an entity view: an asyncpg record, or a dict made in Python (Observations, latest values)."""


async def read_rows(conn: asyncpg.Connection, entity: Entity, records: Sequence[asyncpg.Record]) -> list[Row]:
    """Records as rows with every column of the entity's view. An Observation is read as (datastream, time,
    result); its id is made here, its result made true/false for a state kind, and its datastream's kind and
    feature of interest are read once per page."""
    if entity.read is None:
        return list(records)
    streams = list({r["datastream_id"] for r in records})
    shared = {r["id"]: (r["kind"], r["foi_id"], r["kind"] in STATE_KINDS)
              for r in await conn.fetch(OBSERVATION_STREAMS_SQL, streams)} if streams else {}
    rows: list[Row] = []
    for record in records:
        stream, time, result = record["datastream_id"], record["phenomenon_time"], record["result"]
        kind, feature, state = shared.get(stream, (None, None, False))
        delta = time - EPOCH
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds  # as `micros`, inlined
        rows.append({"id": f"{stream}~{us}", "datastream_id": stream, "phenomenon_time": time,
                     "result": bool(result) if state else result, "kind": kind, "foi_id": feature})
    return rows


async def _parent_exists(conn: asyncpg.Connection, steps: tuple[Step, ...]) -> bool:
    compiler = Compiler()
    where = " AND ".join(chain_condition(compiler, steps, "p")) or "true"
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM ({steps[-1].entity.sql}) AS p WHERE {where})",
                                    *compiler.params))


async def collection(conn: asyncpg.Connection, resource: Resource, query: Query, request: Request,
                     url: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    entity = resource.last.entity
    compiler = Compiler()
    where = chain_condition(compiler, resource.steps, "e")
    if query.filter is not None:
        where.append(compiler.condition(query.filter, entity, "e"))
    condition = " AND ".join(where) or "true"
    counted = len(compiler.params)
    order = [*compiler.order(query.orderby, entity, "e"), *(f"e.{c}" for c in entity.order)]
    rows = await read_rows(conn, entity, await conn.fetch(
        f"SELECT {columns(entity, 'e')} FROM ({entity.sql}) AS e WHERE {condition} ORDER BY {', '.join(order)} "
        f"LIMIT {query.top + 1} OFFSET {query.skip}", *compiler.params))
    if not rows and len(resource.steps) > 1 and not await _parent_exists(conn, resource.steps[:-1]):
        raise NotFoundError(f"no {resource.steps[-2].entity.name} {resource.steps[-2].id!r}")
    out: dict[str, Any] = {}
    if query.count:
        out["@iot.count"] = await conn.fetchval(
            f"SELECT count(*) FROM ({entity.sql}) AS e WHERE {condition}", *compiler.params[:counted])
    if len(rows) > query.top:
        rows = rows[:query.top]
        following = [(k, v) for k, v in options if k != "$skip"] + [("$skip", str(query.skip + query.top))]
        out["@iot.nextLink"] = f"{url}?{urlencode(following, safe=LINK_SAFE)}"
    if resource.ref:
        out["value"] = [{"@iot.selfLink": self_link(request.base, entity, row["id"])} for row in rows]
    elif query.data_array:
        out["value"] = data_arrays(entity, rows, request.base, query.select)
    else:
        out["value"] = await documents(conn, entity, rows, query, request)
    return out


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
                    request: Request) -> list[dict[str, Any]]:
    """Rows as entity documents, with what `$expand` asks for fetched for all of them at once."""
    docs = documents_of(entity, rows, request.base, query.select)
    for item in query.expand:
        for doc, member in zip(docs, await _expand(conn, entity, rows, item, request), strict=True):
            doc.update(member)
    return docs


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
