"""Ingest orchestration: read an input, cut its tiles, store everything in one transaction."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ingest_bim.georef import GeorefOptions
from ingest_gis.cycle_collector import cycle_collector_paused
from ingest_gis.records import IngestError, IngestResult, ProgressCallback, no_progress
from tiles.encoding import Compression
from tiles.model import BuiltTileset
from tiles.tileset import TilingOptions, build_tileset
from twin.repository import check_dataset_name, write_dataset
from twin.tilestore import TileStore

if TYPE_CHECKING:  # each reader is imported by its own ingest, so one kind does not load every kind's libraries
    from ingest_bim.model import OpenedModel
    from ingest_gis.citygml import CityGmlOptions
    from ingest_gis.cityjson import CityJsonOptions
    from ingest_gis.citymodel import CityIngestResult
    from ingest_gis.footprints import FootprintOptions
    from ingest_gis.pointcloud import PointCloudOptions
    from ingest_gis.points import PointOptions


def ingest_footprints(
    engine: Engine,
    path: str | Path,
    options: FootprintOptions,
    *,
    max_features_per_tile: int = 400,
    compression: Compression = Compression.DRACO,
    implicit: bool = False,
    b3dm: bool = False,
    store: TileStore | None = None,
    on_progress: ProgressCallback = no_progress,
    ground: str = "file",
    terrain: str | None = None,
) -> dict[str, Any]:
    """Footprints → twin objects + LoD1 tileset in PostGIS; returns a summary with per-stage seconds.

    `ground="terrain"` stands every building on the ingested terrain (`terrain`, else the newest one)."""
    from ingest_gis.footprints import read_footprints

    check_dataset_name(options.name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    result = _grounded(engine, read_footprints(path, options, on_progress), ground, terrain)
    timings["read_and_extrude"] = time.perf_counter() - start

    start = time.perf_counter()
    tiling = TilingOptions(max_features_per_tile=max_features_per_tile, class_name=result.tile_class,
                           compression=compression, implicit=implicit, b3dm=b3dm)
    tileset = build_tileset(result.features, tiling, lambda done, total: on_progress("tiles", done, total))
    timings["tile"] = time.perf_counter() - start

    start = time.perf_counter()
    on_progress("store", 0, 1)
    stored = write_dataset(engine, name=options.name, kind="footprints", source=str(Path(path).name),
                           result=result, tileset=tileset, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, "source_crs": result.source_crs, "warnings": result.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _grounded(engine: Engine, result: IngestResult, ground: str, terrain: str | None) -> IngestResult:
    """The result as read (`file`), or set on the terrain (`terrain`)."""
    if ground == "file":
        return result
    if ground != "terrain":
        raise IngestError(f"--ground {ground!r}: use 'file' (heights as in the file) or 'terrain'")
    from twin.terrain.ingest import on_terrain

    return on_terrain(engine, result, terrain)


def ingest_points(engine: Engine, path: str | Path, options: PointOptions, *, max_features_per_tile: int = 400,
                  store: TileStore | None = None, on_progress: ProgressCallback = no_progress,
                  ground: str = "file", terrain: str | None = None) -> dict[str, Any]:
    """Resource points (and a mixed layer's polygons as footprints) → twin objects + a marker tileset;
    `ground="terrain"` stands them on the terrain."""
    from ingest_gis.points import read_points

    check_dataset_name(options.name)
    result = _grounded(engine, read_points(path, options, on_progress), ground, terrain)
    tiling = TilingOptions(max_features_per_tile=max_features_per_tile, class_name=result.tile_class)
    tileset = build_tileset(result.features, tiling, lambda done, total: on_progress("tiles", done, total))
    stored = write_dataset(engine, name=options.name, kind="points", source=str(Path(path).name), result=result,
                           tileset=tileset, store=store)
    kinds: dict[str, int] = {}
    for o in result.objects:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    return {**stored, "kinds": kinds, "source_crs": result.source_crs, "warnings": result.warnings}


def ingest_ifc(
    engine: Engine,
    path: str | Path | OpenedModel,
    name: str,
    georef: GeorefOptions | None = None,
    *,
    max_features_per_tile: int = 400,
    cores: int | None = None,
    on_progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """IFC → one twin object per product, a building tileset and walkable floors in PostGIS, atomically.

    Meshes stream from the geometry iterator into an on-disk spool; the tiles are then built on a second thread
    (their encoding releases the GIL) while the objects and walkable floors are made and written. `path` may be
    a model whose iterator the caller started (`ingest_bim.model.open_geometry`) before connecting.
    """
    from ingest_bim.model import OpenedModel
    from ingest_bim.reader import read_geometry
    from ingest_bim.spool import FeatureSpool
    from ingest_bim.tileset import build_building_tileset
    from twin.buildings import write_floors

    check_dataset_name(name)
    timings: dict[str, float] = {}

    def build_tiles(spool: FeatureSpool) -> BuiltTileset:
        start = time.perf_counter()
        tileset = build_building_tileset(spool, max_features_per_tile=max_features_per_tile,
                                         on_progress=lambda done, total: on_progress("tiles", done, total))
        timings["tile"] = time.perf_counter() - start
        return tileset

    with (cycle_collector_paused(), FeatureSpool() as spool,
          ThreadPoolExecutor(1, thread_name_prefix="citytwin-tiles") as background):
        start = time.perf_counter()
        reading = read_geometry(path, name, georef or GeorefOptions(), spool, cores=cores, on_progress=on_progress)
        timings["read_and_mesh"] = time.perf_counter() - start
        tiling = background.submit(build_tiles, spool)
        start = time.perf_counter()
        bim = reading.finish()
        timings["objects_and_floors"] = time.perf_counter() - start
        start = time.perf_counter()
        on_progress("store", 0, 1)
        result = IngestResult(bim.objects, [], bim.source_crs, bim.warnings, tile_class="element")
        extra = {"schema": bim.schema, "georef": bim.georef.summary(), "elements_in_tiles": bim.drawn,
                 "floors": len(bim.floors.floors), "connections": len(bim.floors.connections)}
        source = (path.path if isinstance(path, OpenedModel) else Path(path)).name
        stored = write_dataset(engine, name=name, kind="ifc", source=source, result=result,
                               tileset=tiling.result, extra_summary=extra,
                               also_write=lambda conn: write_floors(conn, name, bim.floors))
        on_progress("store", 1, 1)
        timings["store"] = time.perf_counter() - start  # from the end of the floors, the tiles' wait included
        spooled = spool.bytes_written
    return {**stored, **extra, "source_crs": bim.source_crs, "warnings": bim.warnings, "spooled_bytes": spooled,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _ingest_city_model(engine: Engine, path: str | Path, name: str, kind: str,
                       read: Callable[[], CityIngestResult], *, max_features_per_tile: int,
                       compression: Compression, store: TileStore | None,
                       on_progress: ProgressCallback) -> dict[str, Any]:
    """City model → twin objects + a tileset of vertex-coloured features, stored atomically."""
    check_dataset_name(name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    result = read()
    timings["read_and_mesh"] = time.perf_counter() - start

    start = time.perf_counter()
    tiling = TilingOptions(max_features_per_tile=max_features_per_tile, class_name=result.tile_class,
                           compression=compression)
    tileset = build_tileset(result.features, tiling, lambda done, total: on_progress("tiles", done, total))
    timings["tile"] = time.perf_counter() - start

    start = time.perf_counter()
    on_progress("store", 0, 1)
    stored = write_dataset(engine, name=name, kind=kind, source=str(Path(path).name), result=result,
                           tileset=tileset, extra_summary=result.summary, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **result.summary, "source_crs": result.source_crs, "warnings": result.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def ingest_cityjson(engine: Engine, path: str | Path, options: CityJsonOptions, *, max_features_per_tile: int = 400,
                    compression: Compression = Compression.DRACO, store: TileStore | None = None,
                    on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """CityJSON → one twin object per city object and a tileset coloured by surface semantics, atomically."""
    from ingest_gis.cityjson import read_cityjson

    return _ingest_city_model(engine, path, options.name, "cityjson",
                              lambda: read_cityjson(path, options, on_progress),
                              max_features_per_tile=max_features_per_tile, compression=compression, store=store,
                              on_progress=on_progress)


def ingest_citygml(engine: Engine, path: str | Path, options: CityGmlOptions, *, max_features_per_tile: int = 400,
                   compression: Compression = Compression.DRACO, store: TileStore | None = None,
                   on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """CityGML buildings (streamed) → one twin object per building or part and their tileset, atomically."""
    from ingest_gis.citygml import read_citygml

    return _ingest_city_model(engine, path, options.name, "citygml",
                              lambda: read_citygml(path, options, on_progress),
                              max_features_per_tile=max_features_per_tile, compression=compression, store=store,
                              on_progress=on_progress)


def ingest_oblique(engine: Engine, path: str | Path, name: str, *, store: TileStore | None = None,
                   on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Oblique photography (OSGB or OBJ pyramid + metadata.xml) → a textured REPLACE tileset, atomically.

    The dataset has no twin objects: its extent is the tileset's.
    """
    from ingest_gis.oblique import read_oblique
    from tiles.textured import build_replace_tileset

    check_dataset_name(name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    oblique = read_oblique(path, on_progress)
    timings["read_and_mesh"] = time.perf_counter() - start

    start = time.perf_counter()
    tileset = build_replace_tileset(oblique.roots, oblique.georef.frame,
                                    {"source_format": oblique.source_format, **oblique.georef.summary()})
    timings["tile"] = time.perf_counter() - start

    start = time.perf_counter()
    on_progress("store", 0, 1)
    extra = {"format": oblique.source_format, "files": oblique.files, "levels": oblique.tiles_per_level(),
             "georef": oblique.georef.summary()}
    result = IngestResult([], [], oblique.georef.srs, oblique.warnings, tile_class="texture")
    stored = write_dataset(engine, name=name, kind="oblique", source=Path(path).name, result=result,
                           tileset=tileset, extra_summary=extra, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **extra, "source_crs": oblique.georef.srs, "warnings": oblique.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _servable(tileset: BuiltTileset) -> None:
    """Every entry path must be one the tile route answers for."""
    from twin.api.tile_server import SAFE_PATH

    for entry in tileset.entries:
        if not SAFE_PATH.match(entry.path):
            raise IngestError(f"{entry.path!r}: the tile server only serves paths of letters, digits, '.', '_', '-' "
                              "and '/'; rename the file and the URI naming it")


def ingest_pointcloud(engine: Engine, path: str | Path, options: PointCloudOptions, *,
                      store: TileStore | None = None, work_dir: Path | None = None,
                      on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """LAS/LAZ/COPC → a placed `pnts` tileset (py3dtiles) stored as a dataset without objects, atomically."""
    from ingest_gis.pointcloud import tile_point_cloud

    check_dataset_name(options.name)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="citytwin-points-", dir=work_dir) as work:
        cloud = tile_point_cloud(path, options, Path(work), on_progress)
    timings.update(cloud.seconds)
    tileset = cloud.imported.tileset
    _servable(tileset)
    start = time.perf_counter()
    on_progress("store", 0, 1)
    result = IngestResult([], [], cloud.crs.label, cloud.warnings, tile_class="point")
    extra = cloud.summary()
    stored = write_dataset(engine, name=options.name, kind="pointcloud", source=Path(path).name, result=result,
                           tileset=tileset, extra_summary=extra, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **extra, "extent": list(cloud.extent), "zmin": cloud.zmin, "zmax": cloud.zmax,
            "source_crs": cloud.crs.label, "warnings": cloud.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def ingest_tileset(engine: Engine, path: str | Path, name: str, *, origin: tuple[float, float, float] | None = None,
                   store: TileStore | None = None, on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """An existing 3D Tiles tileset folder → stored as is (placed by `origin` when it is not georeferenced)."""
    from ingest_gis.tileset_import import import_tileset

    check_dataset_name(name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    imported = import_tileset(path, origin=origin, on_progress=on_progress)
    _servable(imported.tileset)
    timings["read"] = time.perf_counter() - start
    start = time.perf_counter()
    on_progress("store", 0, 1)
    result = IngestResult([], [], "EPSG:4978", imported.warnings, tile_class="tile")
    extra = {"asset_version": imported.asset_version, "placed_by": imported.placed_by,
             "files": len(imported.tileset.entries), **({"origin": list(origin)} if origin else {})}
    stored = write_dataset(engine, name=name, kind="tileset", source=Path(path).name, result=result,
                           tileset=imported.tileset, extra_summary=extra, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **extra, "extent": list(imported.extent), "zmin": imported.zmin, "zmax": imported.zmax,
            "source_crs": "EPSG:4978", "warnings": imported.warnings,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}
