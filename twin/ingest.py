"""Ingest orchestration: read an input, cut its tiles, store everything in one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import ProgressCallback, no_progress
from tiles.encoding import Compression
from tiles.implicit import build_implicit_tileset
from tiles.tileset import TilingOptions, build_tileset
from twin.repository import check_dataset_name, write_dataset


def ingest_footprints(
    engine: Engine,
    path: str | Path,
    options: FootprintOptions,
    *,
    max_features_per_tile: int = 400,
    compression: Compression = Compression.DRACO,
    implicit: bool = False,
    on_progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Footprints → twin objects + LoD1 tileset in PostGIS; returns a summary with per-stage seconds."""
    check_dataset_name(options.name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    result = read_footprints(path, options, on_progress)
    timings["read_and_extrude"] = time.perf_counter() - start

    start = time.perf_counter()
    tiling = TilingOptions(max_features_per_tile=max_features_per_tile, class_name=result.tile_class,
                           compression=compression)
    build = build_implicit_tileset if implicit else build_tileset
    tileset = build(result.features, tiling, lambda done, total: on_progress("tiles", done, total))
    timings["tile"] = time.perf_counter() - start

    start = time.perf_counter()
    on_progress("store", 0, 1)
    stored = write_dataset(engine, name=options.name, kind="footprints", source=str(Path(path).name),
                           result=result, tileset=tileset)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, "source_crs": result.source_crs, "warnings": result.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}
