"""Query latency: N generated objects; bbox, radius, nearest-k and containment through HTTP vs. the same SQL.

The peer measured in the same run is the limit: the very SQL statement the API builds for each request, run with
psycopg on one open autocommit connection. HTTP runs against a real uvicorn server in its own process (no access
log), one keep-alive client connection, sequential requests; both sides read the whole answer.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bench.processes import ROOT, stop, wait_http
from bench.synthetic import STEP_LAT, STEP_LON, Grid, create_synthetic
from twin.db import open_database
from twin.localhost import free_port
from twin.ogc.items import bbox_page_query
from twin.ogc.sql import SqlQuery
from twin.queries import containing_query, initial_candidates, knn_query, near_query
from twin.settings import Settings

DATASET = "bench"
LIMIT = 100
RADIUS = 100.0
K = 10


def serve(port: int) -> None:
    """The app served as `citytwin serve` serves it (settings from CITYTWIN_* variables), without an access log."""
    import uvicorn

    from twin.api import create_app
    from twin.api.lean_http import LeanHttpProtocol

    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                http=LeanHttpProtocol)


@dataclass
class Case:
    name: str
    path: Callable[[float, float], str]
    query: Callable[[float, float], SqlQuery]


def cases(engine: Engine) -> list[Case]:
    half_lon, half_lat = 5 * STEP_LON, 5 * STEP_LAT  # a ≈200 m × 200 m box, about 100 objects

    def box(lon: float, lat: float) -> str:
        return f"{lon - half_lon:.7f},{lat - half_lat:.7f},{lon + half_lon:.7f},{lat + half_lat:.7f}"

    def bbox_query(lon: float, lat: float) -> SqlQuery:
        query = bbox_page_query(DATASET, [float(v) for v in box(lon, lat).split(",")], LIMIT, None)
        assert query is not None
        return query

    return [
        Case("bbox (≈200 m box, limit 100)",
             lambda lon, lat: f"/ogc/collections/{DATASET}/items?" + urlencode({"bbox": box(lon, lat),
                                                                                "limit": LIMIT}),
             bbox_query),
        Case(f"radius ({RADIUS:.0f} m, limit {LIMIT})",
             lambda lon, lat: "/query/near?" + urlencode({"lon": lon, "lat": lat, "radius": RADIUS, "limit": LIMIT}),
             lambda lon, lat: near_query(lon, lat, RADIUS, None, LIMIT)),
        Case(f"nearest {K} hydrants",
             lambda lon, lat: "/query/nearest?" + urlencode({"lon": lon, "lat": lat, "k": K, "kind": "hydrant"}),
             lambda lon, lat: knn_query(lon, lat, "hydrant", K, initial_candidates(K, lat))),
        Case("containment (point at 5 m)",
             lambda lon, lat: "/query/at?" + urlencode({"lon": lon, "lat": lat, "h": 5}),
             lambda lon, lat: containing_query(lon, lat, 5.0, None)),
    ]


def sample_points(grid: Grid, count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Points at the centres of random cells (inside a building for most of them), away from the edge."""
    rng = np.random.default_rng(seed)
    points = []
    rows = grid.n // grid.side
    for _ in range(count):
        i = int(rng.integers(6, rows - 6)) * grid.side + int(rng.integers(6, grid.side - 6))
        x, y = grid.cell(i)
        points.append((round(x + STEP_LON * 0.2, 7), round(y + STEP_LAT * 0.2, 7)))
    return points


def start_server(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "CITYTWIN_DATABASE_URL": database_url, "CITYTWIN_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-c", f"from bench.queries import serve; serve({port})"], env=env,
                               cwd=ROOT)
    try:
        wait_http(port, "/health", 60)
    except RuntimeError:
        stop(process)
        raise
    return process, port


class KeepAliveClient:
    """A lean HTTP/1.1 GET client on one keep-alive connection: the request as bytes, the answer read by its
    Content-Length. Python's `http.client` spends ≈40 µs per request parsing headers with the email package,
    which is the client's cost, not the server's; psycopg, on the SQL side, parses in C."""

    def __init__(self, port: int) -> None:
        self.host = f"127.0.0.1:{port}".encode()
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str) -> tuple[int, bytes]:
        self.socket.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + self.host + b"\r\n\r\n")
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b":", 1) for line in lines[1:])
        length = int(headers[b"content-length"])
        chunks, size = [self.buffer], len(self.buffer)
        while size < length:  # a large body: chunks joined once (`+=` would copy it again for every chunk)
            chunks.append(self._receive())
            size += len(chunks[-1])
        data = b"".join(chunks) if len(chunks) > 1 else self.buffer
        body, self.buffer = data[:length], data[length:]
        return int(lines[0].split()[1]), body

    def _receive(self) -> bytes:
        data = self.socket.recv(1 << 20)
        if not data:
            raise RuntimeError("the server closed the connection")
        return data

    def close(self) -> None:
        self.socket.close()


def time_both(port: int, conninfo: str, engine: Engine, case: Case, points: list[tuple[float, float]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per request through HTTP and per run of the same SQL, alternating so both meet the same load and
    each goes first (reading the pages in) half of the time."""
    client = KeepAliveClient(port)
    http_s, sql_s = [], []
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        def over_http(path: str) -> None:
            start = time.perf_counter()
            status, body = client.get(path)
            http_s.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}: {body[:300]!r}")

        def over_sql(sql: str, params: dict[str, Any]) -> None:
            start = time.perf_counter()
            cur.execute(sql, params)
            cur.fetchall()
            sql_s.append(time.perf_counter() - start)

        for i, (lon, lat) in enumerate(points):
            path = case.path(lon, lat)
            sql, params = case.query(lon, lat).compiled(engine)
            # whichever side asks second finds the pages the first one read in memory: take turns going first
            if i % 2:
                over_sql(sql, params)
                over_http(path)
            else:
                over_http(path)
                over_sql(sql, params)
    client.close()
    return np.array(http_s), np.array(sql_s)


def _conninfo(url: str) -> str:
    u = make_url(url)
    return psycopg.conninfo.make_conninfo(host=u.host, port=u.port, user=u.username, password=u.password,
                                          dbname=u.database)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000, help="number of objects (default 1,000,000)")
    parser.add_argument("--samples", type=int, default=400, help="measured queries per kind and side")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")  # embedded cluster unless CITYTWIN_DATABASE_URL is set
        database = open_database(settings)
        server = None
        try:
            engine = database.engine
            url = settings.database_url or (database.embedded.url() if database.embedded else "")
            start = time.perf_counter()
            grid = create_synthetic(engine, args.n, DATASET)
            load_s = time.perf_counter() - start
            server, port = start_server(url, Path(tmp) / "server")
            conninfo = _conninfo(url)
            points = sample_points(grid, args.samples)
            warm = sample_points(grid, 50, seed=11)
            results = []
            for case in cases(engine):
                time_both(port, conninfo, engine, case, warm)
                http_s, sql_s = time_both(port, conninfo, engine, case, points)
                results.append((case.name, http_s, sql_s))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            database.close()
    print(f"query latency: {args.n:,} generated objects loaded in {load_s:.1f} s (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end); {args.samples} queries per kind "
          f"and side, HTTP and SQL alternating, one connection each")
    print(f"{'query':<30}{'HTTP p50':>10}{'SQL p50':>10}{'ratio':>8}{'HTTP p99':>10}{'SQL p99':>10}{'ratio':>8}  ms")
    for name, http_s, sql_s in results:
        h50, h99 = np.percentile(http_s, [50, 99]) * 1000
        s50, s99 = np.percentile(sql_s, [50, 99]) * 1000
        print(f"{name:<30}{h50:>10.2f}{s50:>10.2f}{h50 / s50:>7.2f}×{h99:>10.2f}{s99:>10.2f}{h99 / s99:>7.2f}×")
