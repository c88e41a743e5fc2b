"""Footprint files ingested on a Dask cluster: one task per file reads, extrudes and tiles it in a worker.

The workers return finished objects and tilesets; the client writes them to PostGIS only after every task has
succeeded, all datasets in one transaction (a savepoint each), so a failing file or write stores nothing at all.
`scheduler` is a Dask scheduler address (`tcp://host:8786`) or `local` for a `LocalCluster` of worker processes
on this machine; `None` runs the same tasks in this process, one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import IngestResult
from tiles.model import BuiltTileset
from tiles.tileset import TilingOptions, build_tileset
from twin.repository import check_dataset_name, write_dataset
from twin.tilestore import PostgisTileStore, TileStore


@dataclass(frozen=True)
class FileTask:
    """One footprint file and the dataset it becomes."""

    path: str
    options: FootprintOptions
    tiling: TilingOptions


def build_file(task: FileTask) -> tuple[IngestResult, BuiltTileset]:
    """The work of one task, run in a worker: the file's objects and its finished tileset (the meshes, no longer
    needed once tiled, stay in the worker rather than travel back)."""
    result = read_footprints(task.path, task.options)
    tiling = replace(task.tiling, class_name=result.tile_class)
    tileset = build_tileset(result.features, tiling)
    return replace(result, features=[]), tileset


def file_tasks(paths: Sequence[str | Path], options: FootprintOptions, tiling: TilingOptions,
               prefix: str = "") -> list[FileTask]:
    """A task per file, its dataset named `<prefix><file stem>`; refuses bad or repeated names up front."""
    tasks = []
    for path in paths:
        name = prefix + Path(path).name.split(".")[0]
        check_dataset_name(name)
        tasks.append(FileTask(str(path), replace(options, name=name), tiling))
    names = [t.options.name for t in tasks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"two files would become the same dataset: {', '.join(repeated)}")
    return tasks


def build_all(tasks: Sequence[FileTask], scheduler: str | None, workers: int = 2) -> list[tuple[IngestResult,
                                                                                            BuiltTileset]]:
    """Every task's result in task order: on the cluster (`scheduler`), or here when it is None."""
    if scheduler is None:
        return [build_file(t) for t in tasks]
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if scheduler == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        futures = client.map(build_file, list(tasks), pure=False)
        return list(client.gather(futures))


def ingest_footprint_files(engine: Engine, paths: Sequence[str | Path], options: FootprintOptions,
                           tiling: TilingOptions, *, scheduler: str | None = None, workers: int = 2,
                           prefix: str = "", store: TileStore | None = None) -> list[dict[str, Any]]:
    """Ingest many footprint files, one dataset each; all built before any is written, all written in one
    transaction (every dataset or none)."""
    tasks = file_tasks(paths, options, tiling, prefix)
    built = build_all(tasks, scheduler, workers)
    store = store or PostgisTileStore()
    try:
        with engine.begin() as conn:
            summaries = [write_dataset(conn, name=t.options.name, kind="footprints", source=Path(t.path).name,
                                       result=result, tileset=tileset, store=store)
                         for t, (result, tileset) in zip(tasks, built, strict=True)]
    finally:  # committed: old versions' content; rolled back: the new versions' content no row points at
        for t in tasks:
            store.collect(engine, t.options.name)
    return summaries
