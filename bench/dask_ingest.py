"""Footprint files built as Dask tasks (a LocalCluster of worker processes) against the same files in one process.

Each of `--files` generated GeoJSON files of `--buildings` footprints is read, extruded and tiled (Draco GLB):
once in this process, one file after the other, and once as one task per file on a LocalCluster of `--workers`
processes started and warmed up beforehand (start-up and imports reported apart). Nothing is written to a
database: the writes are
the same client-side transaction in both cases. The ratio is one process / Dask (above 1: Dask is faster).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import orjson

from bench.footprints import generate
from ingest_gis.footprints import FootprintOptions
from tiles.tileset import TilingOptions
from twin.ingest_dask import build_file, file_tasks


def _warm() -> None:
    import ingest_gis.footprints  # noqa: F401
    import tiles.tileset  # noqa: F401


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dask_ingest")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--buildings", type=int, default=6000, help="footprints per file")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.files):
            path = Path(folder) / f"part{i}.geojson"
            path.write_bytes(orjson.dumps(generate(args.buildings, seed=i + 1)))
            paths.append(path)
        tasks = file_tasks(paths, FootprintOptions("bench"), TilingOptions(max_features_per_tile=400))
        start = time.perf_counter()
        alone = [build_file(t) for t in tasks]
        one_process = time.perf_counter() - start

        start = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            client.run(_warm)  # the imports a long-running worker has already done
            startup = time.perf_counter() - start
            start = time.perf_counter()
            on_dask = client.gather(client.map(build_file, tasks, pure=False))
            dask_seconds = time.perf_counter() - start
    same = all([e.content for e in a[1].entries] == [e.content for e in b[1].entries]
               for a, b in zip(alone, on_dask, strict=True))
    total = args.files * args.buildings
    print(f"dask_ingest: {args.files} files × {args.buildings} footprints ({total} buildings), "
          f"{args.workers} workers on {os.cpu_count()} cores; same tiles: {same}")
    print(f"  one process : {one_process:7.2f} s  ({total / one_process:8.0f} buildings/s)")
    print(f"  dask        : {dask_seconds:7.2f} s  ({total / dask_seconds:8.0f} buildings/s), "
          f"cluster start {startup:.2f} s")
    print(f"  ratio one process / dask: {one_process / dask_seconds:.2f}× "
          f"(with start-up {one_process / (dask_seconds + startup):.2f}×)")
