"""One datastream's Observations read in PostgreSQL's binary COPY format and decoded by numpy: the page's
statement (the view, its conditions and order) is copied out, its parameters written into it as literals (here
for texts, numbers, booleans and times, with `standard_conforming_strings` on; by asyncpg otherwise), as
fixed-width rows of (time, result) read as arrays, a chunk at a time as they arrive (so the work overlaps
PostgreSQL's sending the rest), instead of a Python record per row, and written straight to JSON text column by
column — times (as numpy datetimes), results and the ids' microseconds by one
orjson call each, from the arrays themselves — as `encode.Written` columns that the page writers take as they
are. A state kind's result is copied as NULL, so its page (true/false results) fails the row check and is read
the row way, as is one with an id to escape or a time outside the years 1000–9998. The same bytes as the row path
(`tests/test_sta_fast_paths.py`) in one round trip."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import orjson

from twin.live.state import to_us
from twin.sta.documents import PLAIN
from twin.sta.encode import Columns, PageWriter, Written
from twin.sta.model import BOOLEAN_KINDS

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
ROW = np.dtype([("fields", ">i2"), ("time_size", ">i4"), ("time", ">i8"), ("value_size", ">i4"), ("value", ">f8")])
"""A row of (timestamptz, float8), neither null: field count, then each field's length and value."""
PG_EPOCH_US = to_us(datetime(2000, 1, 1, tzinfo=UTC))
"""PostgreSQL counts time in microseconds from 2000-01-01."""
EARLIEST_US = to_us(datetime(1000, 1, 1, tzinfo=UTC))
LATEST_US = to_us(datetime(9999, 1, 1, tzinfo=UTC)) - 1
"""The times written here: the years 1000 to 9998 (orjson writes no numpy time of the year 9999's end)."""
NUMPY = orjson.OPT_SERIALIZE_NUMPY
TIMES = NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
SELECTED = f"e.phenomenon_time, CASE WHEN e.kind = ANY({BOOLEAN_KINDS}) THEN NULL ELSE e.result END"
"""What a page's statement selects: a state kind's result as NULL."""
NUMBERS = "e.phenomenon_time, e.result"
"""What it selects from a datastream known to hold numbers (`twin.sta.history`)."""
PLACEHOLDER = re.compile(r"\$(\d+)(?=::)")


def literal(value: Any) -> str | None:
    """A parameter as SQL literal text (standard conforming strings), or None for a type not written here."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'" if "\x00" not in value else None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return "'" + value.isoformat() + "'"
    return None


def inline(conn: asyncpg.Connection, statement: str, params: Sequence[Any]) -> str | None:
    """The statement with its `$n::type` parameters written in as literals; None when one cannot be."""
    if getattr(conn.get_settings(), "standard_conforming_strings", None) != "on":
        return None
    texts = [literal(p) for p in params]
    if None in texts or len(PLACEHOLDER.findall(statement)) != statement.count("$"):
        return None
    return PLACEHOLDER.sub(lambda m: str(texts[int(m.group(1)) - 1]), statement)


class CopyReader:
    """A binary COPY of (time, result) rows read as it arrives: each chunk's whole rows decoded by numpy at once
    and written as JSON text (ids, times, results) while PostgreSQL is still sending the rest, a row cut by a
    chunk's end kept for the next. `failed` once a row is not two non-null values or a time is outside the
    years written here (the page is then read the row way)."""

    def __init__(self, stream: str, writer: PageWriter | None = None) -> None:
        self.stream = stream
        self.writer = writer
        self.pending = b""
        self.started = False
        self.failed = False
        self.ids: list[bytes] = []
        self.times: list[bytes] = []
        self.results: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if self.failed:
            return
        data = self.pending + chunk if self.pending else chunk
        start = 0
        if not self.started:
            if len(data) < 19 or len(data) < 19 + int.from_bytes(data[15:19], "big"):
                self.pending = data  # the header is not whole yet
                return
            if data[:11] != SIGNATURE:
                self.failed = True
                return
            start = 19 + int.from_bytes(data[15:19], "big")  # the header extension, if any
            self.started = True
        whole = (len(data) - start) // ROW.itemsize
        self.pending = data[start + whole * ROW.itemsize:]
        if whole:
            self._write(np.frombuffer(data, dtype=ROW, count=whole, offset=start))

    def _write(self, rows: np.ndarray[Any, Any]) -> None:
        if not ((rows["fields"] == 2).all() and (rows["time_size"] == 8).all() and (rows["value_size"] == 8).all()):
            self.failed = True
            return
        us = rows["time"].astype(np.int64) + PG_EPOCH_US
        if not (int(us.min()) >= EARLIEST_US and int(us.max()) <= LATEST_US):
            self.failed = True
            return
        ids, times = ids_written(self.stream, us), times_written(us)
        results = orjson.dumps(rows["value"].astype(np.float64), option=NUMPY)[1:-1].split(b",")
        if self.writer is not None:
            self.writer.add({"id": Written(ids), "phenomenon_time": Written(times), "result": Written(results)},
                            len(ids))
        self.ids += ids
        self.times += times
        self.results += results

    def columns(self) -> Columns | None:
        """The rows read as written columns (`id`, `phenomenon_time`, `result`; `datastream_id` as text), once
        the COPY has ended; None when they cannot be."""
        if self.failed or not self.started or self.pending != b"\xff\xff":
            return None
        return {"id": Written(self.ids), "datastream_id": [self.stream] * len(self.ids),
                "phenomenon_time": Written(self.times), "result": Written(self.results)}


def ids_written(stream: str, us: np.ndarray[Any, Any]) -> list[bytes]:
    """The ids (`S-1~1796403733000000`) of the datastream's Observations at these Unix microseconds: the numbers
    written by one orjson call and the prefix put before each by one replace."""
    if not us.size:
        return []
    prefix = f"{stream}~".encode()
    return (prefix + orjson.dumps(us, option=NUMPY)[1:-1].replace(b",", b"," + prefix)).split(b",")


def times_written(us: np.ndarray[Any, Any]) -> list[bytes]:
    """Unix microseconds as orjson writes their UTC datetimes (`"2026-12-03T08:00:00Z"`, with `.ffffff` when the
    microseconds are not 0): orjson writing them as numpy datetimes, in one call."""
    if not us.size:
        return []
    return orjson.dumps(us.astype("datetime64[us]"), option=TIMES)[1:-1].split(b",")


async def observation_columns(conn: asyncpg.Connection, table: str, params: Sequence[Any], stream: str,
                              selected: str = SELECTED, writer: PageWriter | None = None) -> Columns | None:
    """The page `SELECT {selected} {table}` of the datastream `stream`'s Observations as written columns (`id`,
    `phenomenon_time`, `result`; `datastream_id` as text), the page written by `writer` as they arrive; None
    when the row path must read it."""
    if not PLAIN.fullmatch(stream):
        return None
    statement = f"SELECT {selected} {table}"
    reader = CopyReader(stream, writer)

    async def feed(chunk: bytes) -> None:
        reader.feed(chunk)

    inlined = inline(conn, statement, params)
    if inlined is not None:
        await conn.copy_from_query(inlined, output=feed, format="binary")
    else:
        await conn.copy_from_query(statement, *params, output=feed, format="binary")
    return reader.columns()
