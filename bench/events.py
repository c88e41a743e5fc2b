"""Events and command at city scale: N events (default 100,000), M resources (10,000) and a generated road grid
of ≥ 50,000 edges in PostGIS; p50/p99 of the cockpit summary, the event list by bbox and the nearest 3 fire
stations by road, through HTTP and directly (the route's own statements run in-process on one connection: the
limit), alternating in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import numpy as np
from sqlalchemy import Engine, text

from bench.queries import KeepAliveClient, start_server
from twin.db import open_database
from twin.events import cockpit, nearby, store
from twin.live.state import LiveState
from twin.live.store import init_connection
from twin.settings import Settings

LON0, LAT0 = 13.30, 52.45
SPACING_M = 100.0
DLON, DLAT = SPACING_M / 67_850, SPACING_M / 111_260  # 100 m at 52.5° N
KINDS = ("fire", "gas_leak", "water_logging", "manhole_missing", "elevator_entrapment", "structural", "crowding",
         "other")


def generate(engine: Engine, events: int, resources: int, side: int) -> None:
    """The road grid (side × side nodes, arterials every 10th street at 50 km/h, every 7th row one-way), the
    resources (3 % fire stations) and the events (65 % closed or cancelled, 5 % drills), all by generate_series."""
    span_lon, span_lat = (side - 1) * DLON, (side - 1) * DLAT
    values = {"lon0": LON0, "lat0": LAT0, "dlon": DLON, "dlat": DLAT, "side": side, "wlon": span_lon,
              "wlat": span_lat, "events": events, "resources": resources, "m": SPACING_M}
    statements = [
        "SELECT setseed(0.42)",
        "INSERT INTO road_networks (name, source) VALUES ('bench', 'generated grid')",
        """INSERT INTO road_nodes (id, network, geom) SELECT i * :side + j + 1, 'bench',
               ST_SetSRID(ST_MakePoint(:lon0 + j * :dlon, :lat0 + i * :dlat), 4326)
           FROM generate_series(0, :side - 1) i, generate_series(0, :side - 1) j""",
        "SELECT setval(pg_get_serial_sequence('road_nodes', 'id'), :side * :side)",
        """INSERT INTO roads (network, source, target, class, speed_kmh, oneway, length_m, cost, reverse_cost, geom)
           SELECT 'bench', a, b, cls, speed, ow, :m, :m / (speed / 3.6), CASE WHEN ow = 1 THEN -1
                  ELSE :m / (speed / 3.6) END,
                  ST_MakeLine((SELECT geom FROM road_nodes WHERE id = a), (SELECT geom FROM road_nodes WHERE id = b))
           FROM (SELECT i * :side + j + 1 AS a, i * :side + j + 2 AS b,
                        CASE WHEN i % 10 = 0 THEN 'primary' ELSE 'residential' END AS cls,
                        CASE WHEN i % 10 = 0 THEN 50.0 ELSE 30.0 END AS speed,
                        CASE WHEN i % 7 = 3 THEN 1 ELSE 0 END AS ow
                 FROM generate_series(0, :side - 1) i, generate_series(0, :side - 2) j
                 UNION ALL
                 SELECT i * :side + j + 1, (i + 1) * :side + j + 1,
                        CASE WHEN j % 10 = 0 THEN 'primary' ELSE 'residential' END,
                        CASE WHEN j % 10 = 0 THEN 50.0 ELSE 30.0 END, 0
                 FROM generate_series(0, :side - 2) i, generate_series(0, :side - 1) j) e""",
        """INSERT INTO datasets (id, name, kind, source, object_count, extent) VALUES ('res', 'res', 'points',
               'generated', :resources, ST_MakeEnvelope(:lon0, :lat0, :lon0 + :wlon, :lat0 + :wlat, 4326))""",
        """INSERT INTO twin_objects (id, dataset_id, kind, name, footprint, zmin, zmax, attributes)
           SELECT 'res.' || n, 'res', kind, kind || ' ' || n, ST_SetSRID(ST_MakePoint(:lon0 + random() * :wlon,
                  :lat0 + random() * :wlat), 4326), 0, 3,
                  CASE WHEN kind = 'camera' THEN jsonb_build_object('heading', floor(random() * 360), 'fov', 60,
                       'range_m', 150, 'stream_url', 'rtsp://cams/' || n) ELSE '{}' END
           FROM (SELECT n, CASE WHEN n % 100 < 3 THEN 'fire_station' WHEN n % 100 < 4 THEN 'hospital'
                                WHEN n % 100 < 24 THEN 'camera' WHEN n % 100 < 40 THEN 'shelter'
                                ELSE 'hydrant' END AS kind FROM generate_series(1, :resources) n) r""",
        """INSERT INTO events (kind, severity, status, source, title, location, reported_at, updated_at, deadline,
                               closed_at)
           SELECT (ARRAY['fire','gas_leak','water_logging','manhole_missing','elevator_entrapment','structural',
                         'crowding','other'])[1 + floor(random() * 8)::int],
                  (ARRAY['blue','yellow','orange','red'])[1 + floor(random() * 4)::int], status,
                  CASE WHEN random() < 0.05 THEN 'drill' ELSE 'manual' END, 'event ' || n,
                  ST_SetSRID(ST_MakePoint(:lon0 + random() * :wlon, :lat0 + random() * :wlat, 0), 4326),
                  at, at, at + interval '1 hour',
                  CASE WHEN status IN ('closed', 'cancelled') THEN at + random() * interval '6 hours' END
           FROM (SELECT n, now() - random() * interval '30 days' AS at,
                        CASE WHEN r < 0.60 THEN 'closed' WHEN r < 0.65 THEN 'cancelled' WHEN r < 0.75 THEN 'reported'
                             WHEN r < 0.85 THEN 'assigned' WHEN r < 0.95 THEN 'handling' ELSE 'verifying' END
                             AS status
                 FROM (SELECT n, random() AS r FROM generate_series(1, :events) n) g) e""",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), values)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does after a load: statistics, visibility map


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(seconds), [50, 99]) * 1000
    return float(p50), float(p99)


async def measure(port: int, dsn: str, engine: Engine, samples: int, side: int) -> list[tuple[str, list[float],
                                                                                              list[float]]]:
    rng = np.random.default_rng(7)
    client = KeepAliveClient(port)
    conn = await asyncpg.connect(dsn)
    await init_connection(conn)
    state = LiveState()
    inner = (0.15 * (side - 1), 0.85 * (side - 1))
    with engine.connect() as sync:
        open_ids = [(int(r[0]), float(r[1]), float(r[2])) for r in sync.execute(text(
            "SELECT id, ST_X(location), ST_Y(location) FROM events WHERE closed_at IS NULL AND source <> 'drill' "
            "AND ST_X(location) BETWEEN :w AND :e AND ST_Y(location) BETWEEN :s AND :n ORDER BY random() LIMIT :k"),
            {"w": LON0 + inner[0] * DLON, "e": LON0 + inner[1] * DLON, "s": LAT0 + inner[0] * DLAT,
             "n": LAT0 + inner[1] * DLAT, "k": samples + 20})]

    def box() -> tuple[float, float, float, float]:
        x, y = rng.uniform(*inner), rng.uniform(*inner)
        return (LON0 + x * DLON, LAT0 + y * DLAT, LON0 + (x + 10) * DLON, LAT0 + (y + 10) * DLAT)  # ≈1 km

    async def cockpit_direct(_: Any) -> None:
        await cockpit.summary(conn, state, None, datetime.now(UTC))

    async def list_direct(b: Any) -> None:
        sql, args = store.list_statement(bbox=b, statuses=None, kinds=None, severities=None, sources=None,
                                         since=None, limit=100)
        await conn.fetch(sql, *args)

    async def nearby_direct(e: Any) -> None:
        with engine.connect() as sync:
            nearby.resources(sync, e[1], e[2], "fire_station", 3)
            nearby.cameras(sync, e[1], e[2], [])

    cases: list[tuple[str, Callable[[int], Any], Callable[[Any], str], Callable[[Any], Any]]] = [
        ("cockpit (whole city)", lambda i: None, lambda _: "/cockpit", cockpit_direct),
        ("event list (≈1 km bbox, 100)", lambda i: box(),
         lambda b: "/events?" + urlencode({"bbox": ",".join(f"{v:.6f}" for v in b), "limit": 100}), list_direct),
        ("nearest 3 fire stations by road", lambda i: open_ids[i % len(open_ids)],
         lambda e: f"/events/{e[0]}/nearby?kinds=fire_station&k=3", nearby_direct),
    ]
    results = []
    for name, make, path, direct in cases:
        http_s: list[float] = []
        sql_s: list[float] = []
        for i in range(samples + 20):
            arg = make(i)
            for side_first in ((0, 1) if i % 2 else (1, 0)):
                start = time.perf_counter()
                if side_first == 0:
                    status, body = client.get(path(arg))
                    if status != 200:
                        raise RuntimeError(f"{path(arg)} answered {status}: {body[:300]!r}")
                    target = http_s
                else:
                    await direct(arg)
                    target = sql_s
                if i >= 20:  # the first 20 warm up
                    target.append(time.perf_counter() - start)
        results.append((name, http_s, sql_s))
    await conn.close()
    client.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="events (default 100,000)")
    parser.add_argument("--resources", type=int, default=10_000, help="resource objects (default 10,000)")
    parser.add_argument("--side", type=int, default=160, help="road grid nodes per side (160: 50,880 edges)")
    parser.add_argument("--samples", type=int, default=200, help="measured requests per case and side")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        database = open_database(settings)
        server = None
        try:
            url = settings.database_url or (database.embedded.url() if database.embedded else "")
            start = time.perf_counter()
            generate(database.engine, args.n, args.resources, args.side)
            load_s = time.perf_counter() - start
            with database.engine.connect() as conn:
                edges: int = conn.execute(text("SELECT count(*) FROM roads")).scalar_one()
            server, port = start_server(url, Path(tmp) / "server")
            dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            results = asyncio.run(measure(port, dsn, database.engine, args.samples, args.side))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            database.close()
    print(f"events: {args.n:,} events, {args.resources:,} resources, {edges:,} road edges generated in "
          f"{load_s:.1f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end); "
          f"{args.samples} requests per case and side, alternating")
    print(f"{'case':<34}{'HTTP p50':>10}{'direct p50':>12}{'ratio':>8}{'HTTP p99':>10}{'direct p99':>12}  ms")
    for name, http_s, sql_s in results:
        h50, h99 = percentiles(http_s)
        s50, s99 = percentiles(sql_s)
        print(f"{name:<34}{h50:>10.2f}{s50:>12.2f}{h50 / s50:>7.2f}×{h99:>10.2f}{s99:>12.2f}")
    print("targets: cockpit p50 ≤ 50 ms; nearest by road p50 ≤ 100 ms; list ≤ 1.5× its SQL")
