"""`citytwin ingest terrain` and ground heights from the terrain for other ingests.

A DEM becomes one dataset of kind `terrain`: its quantized-mesh tiles and `layer.json` as the tiles of a tileset
of the same name (any tile store, served by the tile route like every tileset), and its grid in
`terrain_grids`/`terrain_blocks`, all in one transaction; a failure anywhere stores nothing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine

from ingest_gis.records import IngestError, IngestResult, ObjectRecord, ProgressCallback, no_progress
from ingest_gis.terrain import Dem, TerrainOptions, read_dem
from tiles.model import BuiltTileset, Feature, Mesh
from tiles.terrain.pyramid import build_terrain
from tiles.terrain.scheme import max_zoom_for_cell
from twin.repository import check_dataset_name, write_dataset
from twin.terrain.store import sample_heights, write_grid
from twin.tilestore import TileStore


def ingest_terrain(engine: Engine, path: str | Path, options: TerrainOptions, *, store: TileStore | None = None,
                   on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """DEM → quantized-mesh terrain tiles + the height grid, stored atomically as dataset `options.name`."""
    check_dataset_name(options.name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    dem = read_dem(path, options)
    timings["read"] = time.perf_counter() - start
    return store_terrain(engine, dem, options, source=Path(path).name, store=store, on_progress=on_progress,
                         timings=timings)


def store_terrain(engine: Engine, dem: Dem, options: TerrainOptions, *, source: str, store: TileStore | None = None,
                  on_progress: ProgressCallback = no_progress, timings: dict[str, float] | None = None
                  ) -> dict[str, Any]:
    """A read (or generated) DEM → tiles and grid, stored atomically."""
    check_dataset_name(options.name)
    timings = dict(timings or {})
    max_zoom = options.max_zoom if options.max_zoom is not None else max_zoom_for_cell(dem.cell_m)
    if not 0 <= max_zoom <= 22:
        raise IngestError(f"--max-zoom {max_zoom} is outside 0–22")
    start = time.perf_counter()
    digest = hashlib.sha256(dem.heights.tobytes() + repr((dem.frame, max_zoom)).encode()).hexdigest()[:12]
    layer = build_terrain(dem.sampler(), dem.coverage.bounds, max_zoom, name=options.name, version=f"1.0.0-{digest}",
                          description=f"terrain from {source}",
                          on_progress=lambda done, total: on_progress("tiles", done, total))
    timings["tile"] = time.perf_counter() - start
    tileset = BuiltTileset(layer.entries, {"terrain": {"max_zoom": max_zoom, "cell_m": round(dem.cell_m, 3)}})
    valid = dem.heights[np.isfinite(dem.heights)]
    extra = {"max_zoom": max_zoom, "terrain_tiles": layer.tile_count, "cells": int(dem.heights.size),
             "grid": [dem.frame.cols, dem.frame.rows], "cell_m": round(dem.cell_m, 3),
             "nodata_cells": dem.nodata_cells, "zmin": float(valid.min()), "zmax": float(valid.max()),
             "levels": layer.levels, "layer_url": f"/tilesets/{options.name}/layer.json"}
    start = time.perf_counter()
    on_progress("store", 0, 1)
    result = IngestResult([], [], dem.source_crs, dem.warnings, tile_class="terrain")
    stored = write_dataset(engine, name=options.name, kind="terrain", source=source, result=result,
                           tileset=tileset, extra_summary=extra, store=store,
                           also_write=lambda conn: write_grid(conn, options.name, dem))
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **extra, "tiles": layer.tile_count, "source_crs": dem.source_crs, "warnings": dem.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _raised(feature: Feature, dz: float) -> Feature:
    positions = feature.mesh.positions.copy()
    positions[:, 2] += dz
    return replace(feature, mesh=Mesh(positions, feature.mesh.normals, feature.mesh.triangles, feature.mesh.colors))


def require_terrain(engine: Engine, terrain: str | None) -> None:
    """IngestError unless the terrain `terrain` (any terrain when None) is ingested."""
    from sqlalchemy import text

    with engine.connect() as conn:
        known: int = conn.execute(text("SELECT count(*) FROM terrain_grids WHERE CAST(:d AS text) IS NULL OR "
                                  "dataset_id = :d"), {"d": terrain}).scalar_one()
    if not known:
        raise IngestError(f"no terrain {terrain!r} is ingested" if terrain else
                          "--ground terrain needs a terrain: ingest one first with `citytwin ingest terrain DEM.tif`")


def on_terrain(engine: Engine, result: IngestResult, terrain: str | None = None) -> IngestResult:
    """Objects and their meshes set on the terrain: each object's base goes to the lowest terrain height under its
    footprint's vertices (a point's: under it), so no corner floats; its height above the base stays. Objects
    outside every terrain keep their heights and are counted in a warning. Raises when there is no terrain."""
    require_terrain(engine, terrain)
    coords, owner = shapely.get_coordinates([o.footprint for o in result.objects], return_index=True)
    heights, _ = sample_heights(engine, coords[:, 0], coords[:, 1], terrain)
    base = np.full(len(result.objects), np.inf)
    np.minimum.at(base, owner, np.where(np.isnan(heights), np.inf, heights))
    objects: list[ObjectRecord] = []
    shift: dict[str, float] = {}
    outside = 0
    for o, ground in zip(result.objects, base, strict=True):
        if not np.isfinite(ground):
            outside += 1
            objects.append(o)
            continue
        dz = float(ground) - o.zmin
        shift[o.id] = dz
        objects.append(replace(o, zmin=o.zmin + dz, zmax=o.zmax + dz, attributes={**o.attributes}))
    features = [_raised(f, shift[f.id]) if f.id in shift else f for f in result.features]
    warnings = list(result.warnings)
    if outside:
        warnings.append(f"{outside} objects lie outside the terrain and keep their heights from the file")
    return replace(result, objects=objects, features=features, warnings=warnings)
