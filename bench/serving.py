"""Tile GETs under load: CityTwin (2 workers) against nginx serving the same tiles from disk, with `wrk`.

Measured in one run on this machine: requests/s and p99 latency at 64 connections for one content tile, for a
walk over every tile of the layer, and for the 304 revalidation path. Needs Debian's `nginx-light` and `wrk`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import orjson

from bench.footprints import generate
from bench.processes import wait_url
from ingest_gis.footprints import FootprintOptions
from twin.db import open_database
from twin.ingest import ingest_footprints
from twin.localhost import free_port
from twin.repository import export_tileset
from twin.settings import Settings

NGINX_CONF = """daemon off;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  types {{ model/gltf-binary glb; application/json json; }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    root {root}/www;
    location / {{ add_header Access-Control-Allow-Origin * always; add_header Cache-Control "public, max-age=60"; }}
  }}
}}
"""
WALK_LUA = """
local paths = {{ {paths} }}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, seconds: int, connections: int, extra: list[str]) -> tuple[float, float]:
    """(requests/s, p99 ms) from one wrk run."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"errors under load for {url}:\n{out}")
    return rate, p99


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="buildings in the served layer")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    if not (shutil.which("wrk") and shutil.which("nginx")):
        sys.exit("serving benchmark needs wrk and nginx: apt-get install wrk nginx-light")
    with tempfile.TemporaryDirectory(prefix="citytwin-serve-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        settings = Settings(data_dir=root / "data")
        source = root / "city.geojson"
        source.write_bytes(orjson.dumps(generate(args.n)))
        database = open_database(settings)
        ingest_footprints(database.engine, source, FootprintOptions("bench"))
        export_tileset(database.engine, "bench", root / "www" / "tilesets" / "bench")
        database.close(stop_embedded=False)
        for folder in [root / "www", *(p for p in (root / "www").rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        paths = sorted("/tilesets/bench/" + p.relative_to(root / "www" / "tilesets" / "bench").as_posix()
                       for p in (root / "www" / "tilesets" / "bench").rglob("*.glb"))
        sizes = sorted(((root / "www" / p.lstrip("/")).stat().st_size, p) for p in paths)
        one = sizes[len(sizes) // 2][1]  # a median-sized tile
        (root / "walk.lua").write_text(WALK_LUA.format(paths=", ".join(f'"{p}"' for p in paths)))

        ours, theirs = free_port(), free_port()
        (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=theirs))
        env = {**os.environ, "CITYTWIN_DATA_DIR": str(root / "data")}
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(ours), "--workers", "2"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nginx = subprocess.Popen(["nginx", "-c", str(root / "nginx.conf"), "-p", str(root)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_url(f"http://127.0.0.1:{ours}/health")
            wait_url(f"http://127.0.0.1:{theirs}{one}")
            with httpx.Client() as client:  # warm both sides: every tile read once per worker, pages cached
                for _ in range(4):
                    for path in paths:
                        client.get(f"http://127.0.0.1:{ours}{path}")
                        client.get(f"http://127.0.0.1:{theirs}{path}")
            rows = []
            for label, path, extra_ours, extra_theirs in _cases(ours, theirs, one, root):
                a = wrk(f"http://127.0.0.1:{ours}{path}", args.seconds, args.connections, extra_ours)
                b = wrk(f"http://127.0.0.1:{theirs}{path}", args.seconds, args.connections, extra_theirs)
                rows.append((label, a, b))
        finally:
            server.terminate()
            nginx.terminate()
            server.wait(timeout=30)
            nginx.wait(timeout=30)
            open_database(settings, run_migrations=False).close(stop_embedded=True)
    print(f"tile serving, {args.n:,} buildings, {len(paths)} tiles, median tile {sizes[len(sizes) // 2][0]:,} B, "
          f"{args.connections} connections, {args.seconds} s per run")
    print(f"{'case':<22}{'CityTwin req/s':>16}{'nginx req/s':>14}{'ratio':>8}{'CityTwin p99':>15}{'nginx p99':>12}")
    for label, (rate, p99), (n_rate, n_p99) in rows:
        print(f"{label:<22}{rate:>16,.0f}{n_rate:>14,.0f}{rate / n_rate:>7.2f}×{p99:>12.1f} ms{n_p99:>9.1f} ms")


def _cases(ours: int, theirs: int, one: str, root: Path) -> list[tuple[str, str, list[str], list[str]]]:
    our_etag = httpx.get(f"http://127.0.0.1:{ours}{one}").headers["etag"]
    their_etag = httpx.get(f"http://127.0.0.1:{theirs}{one}").headers["etag"]
    walk = ["-s", str(root / "walk.lua")]
    return [
        ("one tile (200)", one, [], []),
        ("every tile (200)", one, walk, walk),
        ("revalidation (304)", one, ["-H", f"If-None-Match: {our_etag}"], ["-H", f"If-None-Match: {their_etag}"]),
    ]


if __name__ == "__main__":
    main()
