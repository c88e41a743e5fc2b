"""SensorThings API at city scale: N datastreams (default 100,000 sensors on a ≈17 m grid, each with a latest
reading) and one datastream with a long history (10,000 readings). Two requests of issue #16, each timed through
HTTP (`/sta/v1.1`) and as the bare SQL answering the same thing on one asyncpg connection (the limit), alternating
and taking turns at going first, in the same run: the latest observation of every datastream in a box (≈3 % of
them), and one datastream's last 10,000 observations (plain and as `$resultFormat=dataArray`). Every HTTP answer
is checked against its SQL answer (the same datastreams, times and values)."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import numpy as np
import orjson
from sqlalchemy import Engine, text

from bench.queries import KeepAliveClient, start_server
from twin.db import open_database
from twin.live.kinds import KINDS
from twin.live.state import iso
from twin.live.store import init_connection, maintain_partitions
from twin.settings import Settings

LON0, LAT0 = 13.30, 52.45
SPACING_M = 17.0
DLON, DLAT = SPACING_M / 67_850, SPACING_M / 111_260
BOX_SHARE = 0.029
"""The share of all datastreams a box holds (2,900 of 100,000)."""
HISTORY_SENSOR = "S-1"
"""A water level sensor (numbers, not states)."""
STEP_S = 10


@dataclass
class Options:
    datastreams: int = 100_000
    history: int = 10_000
    samples: int = 100


def quick_options() -> Options:
    """The smoke run `tests/test_bench_sensorthings.py` makes."""
    return Options(datastreams=3_000, history=1_000, samples=6)


def side_of(datastreams: int) -> int:
    return math.ceil(math.sqrt(datastreams))


async def generate(dsn: str, options: Options, now: datetime) -> None:
    """Sensors of every kind on a grid (unbound: each a Thing of its own), a latest reading each (in `readings`
    and `sensor_latest`, as the live store keeps them), and the long history of one, all by generate_series. The
    sensors report at least daily (`offline_after_s`), so the server's offline sweep has nothing to do during the
    run: the readings are up to an hour old, and a kind's own timeout would turn most of them offline mid-run."""
    side = side_of(options.datastreams)
    kinds = list(KINDS)
    conn = await asyncpg.connect(dsn)
    try:
        await maintain_partitions(conn, now, 30)
        async with conn.transaction():
            await conn.execute("SELECT setseed(0.42)")
            await conn.execute(
                """INSERT INTO sensors (id, kind, name, unit, position, attributes)
                   SELECT 'S-' || n, k.kind, k.kind || ' ' || n, k.unit,
                          ST_SetSRID(ST_MakePoint($2::float8 + (n % $4::int) * $5::float8,
                                              $3::float8 + (n / $4::int) * $6::float8, 2), 4326),
                          jsonb_build_object('floor', n % 5, 'offline_after_s', 86400)
                   FROM generate_series(0, $1 - 1) n
                   JOIN unnest($7::text[], $8::text[]) WITH ORDINALITY AS k (kind, unit, i)
                     ON k.i = 1 + n % $9""",
                options.datastreams, LON0, LAT0, side, DLON, DLAT, kinds, [KINDS[k].unit for k in kinds], len(kinds))
            await conn.execute(
                """INSERT INTO readings (sensor_id, time, value, received_at)
                   SELECT 'S-' || n, t, round((random() * 100)::numeric, 2)::float8, t
                   FROM (SELECT n, $2::timestamptz - (random() * 3600) * interval '1 second' AS t
                         FROM generate_series(0, $1 - 1) n) g WHERE 'S-' || n <> $3""",
                options.datastreams, now, HISTORY_SENSOR)
            await conn.execute(
                """INSERT INTO readings (sensor_id, time, value, received_at)
                   SELECT $1, t, round((random() * 100)::numeric, 2)::float8, t
                   FROM (SELECT $3::timestamptz - i * $4 * interval '1 second' AS t
                         FROM generate_series(0, $2 - 1) i) g""",
                HISTORY_SENSOR, options.history, now, STEP_S)
            await conn.execute(
                """INSERT INTO sensor_latest SELECT DISTINCT ON (sensor_id) sensor_id, time, value, received_at
                   FROM readings ORDER BY sensor_id, time DESC""")
    finally:
        await conn.close()


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does after a load: statistics, visibility map


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(seconds), [50, 99]) * 1000
    return float(p50), float(p99)


LATEST_SQL = """SELECT s.id, s.name, s.kind, s.unit, s.attributes, ST_AsGeoJSON(s.position) AS area, l.time, l.value
FROM sensors s JOIN sensor_latest l ON l.sensor_id = s.id
WHERE ST_Within(s.position, ST_GeomFromText($1, 4326)) ORDER BY s.id"""
HISTORY_SQL = "SELECT time, value FROM readings WHERE sensor_id = $1 ORDER BY time DESC LIMIT $2"


@dataclass
class Case:
    name: str
    path: Callable[[Any], str]
    direct: Callable[[asyncpg.Connection, Any], Awaitable[list[asyncpg.Record]]]
    check: Callable[[Any, list[asyncpg.Record]], int]
    """Compares the HTTP answer with the SQL rows (AssertionError when they differ); the number of items."""


def _latest_check(body: Any, rows: list[asyncpg.Record]) -> int:
    assert "@iot.nextLink" not in body, "the box's datastreams did not fit one page"
    got = [(d["@iot.id"], d["Observations"][0]["phenomenonTime"], d["Observations"][0]["result"])
           for d in body["value"]]
    assert got == [(r["id"], iso(r["time"]), _result(r["kind"], r["value"])) for r in rows], "latest differ"
    return len(got)


def _result(kind: str, value: float) -> Any:
    return bool(value) if KINDS[kind].boolean else value


def _history_check(body: Any, rows: list[asyncpg.Record]) -> int:
    got = [(o["phenomenonTime"], o["result"]) for o in body["value"]]
    assert got == [(iso(r["time"]), r["value"]) for r in rows], "history differs"
    return len(got)


def _array_check(body: Any, rows: list[asyncpg.Record]) -> int:
    (group,) = body["value"]
    times = group["components"].index("phenomenonTime")
    results = group["components"].index("result")
    got = [(o[times], o[results]) for o in group["dataArray"]]
    assert got == [(iso(r["time"]), r["value"]) for r in rows], "dataArray differs"
    return len(got)


def cases(options: Options) -> list[Case]:
    history = quote(f"/sta/v1.1/Datastreams('{HISTORY_SENSOR}')/Observations", safe="/()'")
    top = f"$top={options.history}&$orderby={quote('phenomenonTime desc')}"

    def latest_path(wkt: str) -> str:
        condition = quote(f"st_within(observedArea, geometry'{wkt}')")
        expand = quote("Observations($top=1;$orderby=phenomenonTime desc)")
        return f"/sta/v1.1/Datastreams?$filter={condition}&$expand={expand}&$top=10000"

    async def latest_direct(conn: asyncpg.Connection, wkt: str) -> list[asyncpg.Record]:
        return await conn.fetch(LATEST_SQL, wkt)

    async def history_direct(conn: asyncpg.Connection, _: Any) -> list[asyncpg.Record]:
        return await conn.fetch(HISTORY_SQL, HISTORY_SENSOR, options.history)

    return [
        Case("latest of every datastream in a box", latest_path, latest_direct, _latest_check),
        Case(f"a datastream's last {options.history:,} observations", lambda _: f"{history}?{top}",
             history_direct, _history_check),
        Case("the same as dataArray", lambda _: f"{history}?{top}&$resultFormat=dataArray", history_direct,
             _array_check),
    ]


def box(rng: np.random.Generator, side: int) -> str:
    """A box of ≈BOX_SHARE of the grid at a random place inside it, as WKT (cell centres off the box's edges)."""
    cells = math.sqrt(BOX_SHARE) * side
    x, y = rng.uniform(0, side - cells - 1), rng.uniform(0, (side - 1) - cells)
    w, s = LON0 + (x + 0.5) * DLON, LAT0 + (y + 0.5) * DLAT
    e, n = w + cells * DLON, s + cells * DLAT
    return f"POLYGON(({w:.7f} {s:.7f},{e:.7f} {s:.7f},{e:.7f} {n:.7f},{w:.7f} {n:.7f},{w:.7f} {s:.7f}))"


@dataclass
class Result:
    name: str
    http_s: list[float]
    sql_s: list[float]
    items: int


async def measure(port: int, dsn: str, options: Options) -> list[Result]:
    rng = np.random.default_rng(7)
    client = KeepAliveClient(port)
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    warm = 5
    results = []
    try:
        for case in cases(options):
            http_s: list[float] = []
            sql_s: list[float] = []
            items = 0
            for i in range(options.samples + warm):
                arg = box(rng, side_of(options.datastreams))
                body: bytes = b""
                rows: list[asyncpg.Record] = []
                for side_first in ((0, 1) if i % 2 else (1, 0)):
                    start = time.perf_counter()
                    if side_first == 0:
                        status, body = client.get(case.path(arg))
                        if status != 200:
                            raise RuntimeError(f"{case.path(arg)} answered {status}: {body[:300]!r}")
                        elapsed, target = time.perf_counter() - start, http_s
                    else:
                        rows = await case.direct(conn, arg)
                        elapsed, target = time.perf_counter() - start, sql_s
                    if i >= warm:
                        target.append(elapsed)
                items = case.check(orjson.loads(body), rows)
            results.append(Result(case.name, http_s, sql_s, items))
    finally:
        await conn.close()
        client.close()
    return results


@dataclass
class Report:
    options: Options
    load_s: float
    results: list[Result]


def run(options: Options) -> Report:
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        database = open_database(settings)
        server = None
        try:
            url = settings.database_url or (database.embedded.url() if database.embedded else "")
            dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            start = time.perf_counter()
            asyncio.run(generate(dsn, options, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)))
            vacuum(database.engine)
            load_s = time.perf_counter() - start
            server, port = start_server(url, Path(tmp) / "server")
            results = asyncio.run(measure(port, dsn, options))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            database.close()
    return Report(options, load_s, results)


def print_report(report: Report) -> None:
    o = report.options
    print(f"sensorthings: {o.datastreams:,} datastreams, one with {o.history:,} observations, generated in "
          f"{report.load_s:.1f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end); "
          f"{o.samples} requests per case and side, alternating; every HTTP answer equals its SQL answer")
    print(f"{'case':<44}{'items':>7}{'HTTP p50':>10}{'SQL p50':>9}{'ratio':>8}{'HTTP p99':>10}{'SQL p99':>9}"
          f"{'ratio':>8}  ms")
    for r in report.results:
        h50, h99 = percentiles(r.http_s)
        s50, s99 = percentiles(r.sql_s)
        print(f"{r.name:<44}{r.items:>7,}{h50:>10.2f}{s50:>9.2f}{h50 / s50:>7.2f}×{h99:>10.2f}{s99:>9.2f}"
              f"{h99 / s99:>7.2f}×")
    print("target: HTTP ≤ 1.5× its SQL (the bare statement, rows decoded by asyncpg, no JSON)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--datastreams", type=int, default=100_000, help="datastreams (default 100,000)")
    parser.add_argument("--history", type=int, default=10_000, help="observations of the long datastream")
    parser.add_argument("--samples", type=int, default=100, help="measured requests per case and side")
    parser.add_argument("--quick", action="store_true", help="3,000 datastreams, 1,000 observations, 6 samples")
    args = parser.parse_args(argv)
    options = quick_options() if args.quick else Options(args.datastreams, args.history, args.samples)
    print_report(run(options))
