"""Observation records made into rows and columns in Python (their ids, true/false results, and what they
share with their datastream read once per page), and Datastream pages read lean: the view's columns that
PostgreSQL computes per row from a sensor's kind and unit (`unitOfMeasurement` as JSON, `observationType`,
`description`) are made in Python instead, the unit's JSON once per unit (asked of PostgreSQL with the view's own
expression, so the text is the view's) and kept. On a page of thousands of datastreams that is a quarter of the
statement's time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from twin.live.state import EPOCH
from twin.sta.encode import Columns
from twin.sta.model import MEASUREMENT, OBSERVATION_STREAMS_SQL, STATE_KINDS, TRUTH, UNIT_JSON, Entity

COLUMNS = "e.id, e.name, e.kind, e.unit, ST_AsGeoJSON(e.observed_area) AS observed_area, " \
          "e.properties::text AS properties, e.thing_id"
"""What a Datastream row is read with (the rest made by `datastream_columns`)."""
UNITS_SQL = f"SELECT s.unit, ({UNIT_JSON})::text FROM unnest($1::text[]) AS s (unit)"
_units: dict[str, str] = {}
"""A unit → its `unitOfMeasurement` JSON text, as the view writes it."""


async def unit_texts(conn: asyncpg.Connection, units: Sequence[str]) -> dict[str, str]:
    missing = list(set(units) - _units.keys())
    if missing:
        _units.update({r[0]: r[1] for r in await conn.fetch(UNITS_SQL, missing)})
    return _units


async def datastream_columns(conn: asyncpg.Connection, records: Sequence[asyncpg.Record]) -> Columns:
    """Rows read with COLUMNS as the columns of the Datastreams view (`kind` and `unit` never null, `id` the
    sensor's key)."""
    ids = [r[0] for r in records]
    kinds = [r[2] for r in records]
    units = [r[3] for r in records]
    texts = await unit_texts(conn, units)
    page: dict[str, Sequence[Any]] = {
        "id": ids, "name": [r[1] for r in records], "kind": kinds, "unit": units,
        "observed_area": [r[4] for r in records], "properties": [r[5] for r in records],
        "thing_id": [r[6] for r in records],
        "unit_of_measurement": [texts[u] for u in units],
        "observation_type": [TRUTH if k in STATE_KINDS else MEASUREMENT for k in kinds],
        "description": [f"{k} sensor {i}" for k, i in zip(kinds, ids, strict=True)],
    }
    return page


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


async def read_columns(conn: asyncpg.Connection, records: Sequence[asyncpg.Record], stream: str | None = None
                       ) -> Columns:
    """Observation records (`datastream_id`, `phenomenon_time`, `result`; the last two alone when the path names
    their one datastream, `stream`) as columns with their ids, the result true/false for a state kind, as
    `read_rows` gives them. (The view's `id` costs PostgreSQL more than this.)"""
    first = 0 if stream is not None else 1
    streams = [stream] * len(records) if stream is not None else [r[0] for r in records]
    times = [r[first] for r in records]
    results = [r[first + 1] for r in records]
    distinct = list(set(streams))
    states = {r["id"] for r in await conn.fetch(OBSERVATION_STREAMS_SQL, distinct) if r["kind"] in STATE_KINDS
              } if distinct else set()
    if states:
        results = [bool(v) if s in states else v for s, v in zip(streams, results, strict=True)]
    deltas = [t - EPOCH for t in times]
    stamps = [(d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds for d in deltas]
    if len(distinct) == 1:
        prefix = f"{distinct[0]}~"
        ids = [f"{prefix}{us}" for us in stamps]
    else:
        ids = [f"{s}~{us}" for s, us in zip(streams, stamps, strict=True)]
    return {"id": ids, "datastream_id": streams, "phenomenon_time": times, "result": results}
