"""Ingest throughput: N generated footprints → PostGIS objects + 3D Tiles, whole path and per stage.

The peer measured in the same run is the floor for the storage stage: PostgreSQL's own COPY of the same object
rows into an unindexed table, with no tiles at all.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import text

from ingest_gis.footprints import FootprintOptions
from twin.db import open_database
from twin.ingest import ingest_footprints
from twin.settings import Settings


def generate(n: int, seed: int = 1) -> dict:
    """`n` rectangular and L-shaped footprints on a city-sized grid around Berlin, with heights or levels."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n))
    lon0, lat0, step = 13.30, 52.45, 0.00030  # ≈20 m × 33 m cells
    features = []
    for i in range(n):
        gx, gy = i % side, i // side
        x, y = lon0 + gx * step, lat0 + gy * step * 0.6
        w, h = rng.uniform(0.4, 0.8) * step, rng.uniform(0.4, 0.8) * step * 0.6
        if i % 5 == 0:  # L-shape
            ring = [[x, y], [x + w, y], [x + w, y + h / 2], [x + w / 2, y + h / 2], [x + w / 2, y + h], [x, y + h]]
        else:
            ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
        props = {"height": round(float(rng.uniform(6, 40)), 1)} if i % 3 else {"levels": int(rng.integers(2, 9))}
        features.append({"type": "Feature", "id": f"g{i}", "properties": props,
                         "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}})
    return {"type": "FeatureCollection", "features": features}


def raw_copy_seconds(engine, n: int) -> float:  # type: ignore[no-untyped-def]
    """COPY the same number of object rows (id, footprint, heights, attributes) into a bare table."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_copy (id text, footprint geometry, zmin float8, zmax float8, "
                          "attributes jsonb)"))
        start = time.perf_counter()
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
            for i in range(n):
                copy.write_row((f"g{i}", "SRID=4326;POLYGON((13.3 52.45,13.4 52.45,13.4 52.46,13.3 52.45))",
                                0.0, 10.0, '{"height": 10.0}'))
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="number of buildings (default 100,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")  # embedded cluster unless CITYTWIN_DATABASE_URL is set
        path = Path(tmp) / "footprints.geojson"
        start = time.perf_counter()
        path.write_bytes(orjson.dumps(generate(args.n)))
        generate_s = time.perf_counter() - start
        database = open_database(settings)
        try:
            start = time.perf_counter()
            summary = ingest_footprints(database.engine, path, FootprintOptions("bench"))
            total = time.perf_counter() - start
            copy_s = raw_copy_seconds(database.engine, args.n)
        finally:
            database.close()
    n = summary["objects"]
    print(f"footprint ingest: {n:,} buildings → {summary['tiles']} tiles, {summary['bytes'] / 1e6:.1f} MB "
          f"({summary['bytes'] / n:.0f} bytes/building); input generated in {generate_s:.1f} s")
    print(f"{'stage':<18}{'seconds':>10}{'buildings/s':>14}")
    for stage, seconds in summary["seconds"].items():
        print(f"{stage:<18}{seconds:>10.2f}{n / seconds:>14,.0f}")
    print(f"{'whole path':<18}{total:>10.2f}{n / total:>14,.0f}")
    store = summary["seconds"]["store"]
    print(f"peer: raw COPY of {n:,} object rows {copy_s:.2f} s ({n / copy_s:,.0f} rows/s); "
          f"store stage / raw COPY = {store / copy_s:.1f}×")
