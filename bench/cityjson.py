"""CityJSON ingest throughput: N generated LoD2 buildings through the whole path, and the limit beside it.

The peer measured in the same run is the limit of any CityJSON reader: orjson's parse of the same file plus the
`transform` of its vertex array with numpy — no geometry, no objects, no tiles. Our path is timed twice: reading
alone (parse, surfaces, triangulation, footprints, features) and the whole ingest (read, tile, store in PostGIS).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ingest_gis.cityjson import CityJsonOptions, read_cityjson
from twin.db import open_database
from twin.ingest import ingest_cityjson
from twin.settings import Settings

ORIGIN = (84000.0, 446000.0, 0.0)  # RD New, Delft
SEMANTICS = [{"type": "GroundSurface"}, {"type": "WallSurface"}, {"type": "RoofSurface"}]


def _box_faces(x0: float, y0: float, x1: float, y1: float, top: float) -> list[tuple[int, list[tuple]]]:
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    faces = [(0, [(x, y, 0.0) for x, y in reversed(ring)]), (2, [(x, y, top) for x, y in ring])]
    for (ax, ay), (bx, by) in zip(ring, ring[1:] + ring[:1], strict=True):
        faces.append((1, [(ax, ay, 0.0), (bx, by, 0.0), (bx, by, top), (ax, ay, top)]))
    return faces


def _gable_faces(x0: float, y0: float, x1: float, y1: float, eaves: float, ridge: float) -> list[tuple[int, list]]:
    ym = (y0 + y1) / 2
    return [
        (0, [(x0, y0, 0.0), (x0, y1, 0.0), (x1, y1, 0.0), (x1, y0, 0.0)]),
        (1, [(x0, y0, 0.0), (x1, y0, 0.0), (x1, y0, eaves), (x0, y0, eaves)]),
        (1, [(x1, y0, 0.0), (x1, y1, 0.0), (x1, y1, eaves), (x1, ym, ridge), (x1, y0, eaves)]),
        (1, [(x1, y1, 0.0), (x0, y1, 0.0), (x0, y1, eaves), (x1, y1, eaves)]),
        (1, [(x0, y1, 0.0), (x0, y0, 0.0), (x0, y0, eaves), (x0, ym, ridge), (x0, y1, eaves)]),
        (2, [(x0, y0, eaves), (x1, y0, eaves), (x1, ym, ridge), (x0, ym, ridge)]),
        (2, [(x1, y1, eaves), (x0, y1, eaves), (x0, ym, ridge), (x1, ym, ridge)]),
    ]


def generate(n: int, seed: int = 1) -> dict[str, Any]:
    """`n` LoD2 gable houses (every fourth with a flat-roofed BuildingPart) with semantics, on a 25 m grid."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n))
    vertices: list[list[int]] = []
    objects: dict[str, Any] = {}

    def solid(faces: list[tuple[int, list]], dx: float, dy: float) -> dict[str, Any]:
        boundaries, values = [], []
        index: dict[tuple[int, int, int], int] = {}  # corners shared by the faces of a solid, as writers do
        for semantic, ring in faces:
            corners = []
            for x, y, z in ring:
                key = (round((x + dx) * 1000), round((y + dy) * 1000), round(z * 1000))
                if key not in index:
                    index[key] = len(vertices)
                    vertices.append(list(key))
                corners.append(index[key])
            boundaries.append([corners])
            values.append(semantic)
        return {"type": "Solid", "lod": "2.2", "boundaries": [boundaries],
                "semantics": {"surfaces": SEMANTICS, "values": [values]}}

    for i in range(n):
        dx, dy = (i % side) * 25.0, (i // side) * 25.0
        w, d = rng.uniform(8, 14), rng.uniform(7, 11)
        eaves = float(rng.uniform(3, 9))
        ridge = eaves + float(rng.uniform(1.5, 4))
        key = f"house{i}"
        attributes = {"measuredHeight": round(ridge, 2), "storeys": int(eaves // 3), "function": "residential",
                      "yearOfConstruction": 1900 + i % 120}
        objects[key] = {"type": "Building", "attributes": attributes,
                        "geometry": [solid(_gable_faces(0, 0, w, d, eaves, ridge), dx, dy)]}
        if i % 4 == 0:
            objects[key]["children"] = [f"{key}-annex"]
            objects[f"{key}-annex"] = {"type": "BuildingPart", "parents": [key], "attributes": {"function": "garage"},
                                       "geometry": [solid(_box_faces(w, 0, w + 5, 5, 3.0), dx, dy)]}
    return {"type": "CityJSON", "version": "2.0", "CityObjects": objects, "vertices": vertices,
            "transform": {"scale": [0.001, 0.001, 0.001], "translate": list(ORIGIN)},
            "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"}}


def bare_parse_seconds(path: Path) -> float:
    """The limit: parse the file and apply `transform` to its vertices (without cycle collection, as we read)."""
    gc.disable()
    try:
        start = time.perf_counter()
        doc = orjson.loads(path.read_bytes())
        transform = doc["transform"]
        vertices = np.asarray(doc["vertices"], dtype=np.float64) * transform["scale"] + transform["translate"]
        assert len(vertices) and len(doc["CityObjects"])
        return time.perf_counter() - start
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="number of buildings (default 20,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-") as tmp:
        path = Path(tmp) / "city.city.json"
        start = time.perf_counter()
        doc = generate(args.n)
        path.write_bytes(orjson.dumps(doc))
        generate_s = time.perf_counter() - start
        objects, size = len(doc["CityObjects"]), path.stat().st_size
        del doc
        bare = min(bare_parse_seconds(path) for _ in range(2))
        start = time.perf_counter()
        result = read_cityjson(path, CityJsonOptions("bench"))
        read_s = time.perf_counter() - start
        triangles = sum(len(f.mesh.triangles) for f in result.features)
        del result
        database = open_database(Settings(data_dir=Path(tmp) / "data"))  # embedded unless CITYTWIN_DATABASE_URL
        try:
            start = time.perf_counter()
            summary = ingest_cityjson(database.engine, path, CityJsonOptions("bench"))
            total = time.perf_counter() - start
        finally:
            database.close()
    n = args.n
    print(f"CityJSON ingest: {n:,} LoD2 buildings ({objects:,} city objects with parts, {triangles:,} triangles, "
          f"{size / 1e6:.1f} MB) → {summary['tiles']} tiles, {summary['bytes'] / 1e6:.1f} MB; "
          f"generated in {generate_s:.1f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'path':<34}{'seconds':>10}{'buildings/s':>14}{'× limit':>10}")
    rows = [("limit: orjson parse + transform", bare), ("read (surfaces, meshes, objects)", read_s),
            *((f"  ingest stage {stage}", s) for stage, s in summary["seconds"].items()),
            ("whole ingest (read, tile, store)", total)]
    for label, seconds in rows:
        print(f"{label:<34}{seconds:>10.2f}{n / seconds:>14,.0f}{seconds / bare:>10.1f}")
