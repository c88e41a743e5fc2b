"""`citytwin ingest network`: pipes and nodes → twin objects, a tileset of tubes and the graph, in one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from ingest_gis.network import Ground, NetworkOptions, read_network
from ingest_gis.records import IngestError, ProgressCallback, no_progress
from tiles.tileset import TilingOptions, build_tileset
from twin.repository import check_dataset_name, write_dataset
from twin.tilestore import TileStore


def terrain_ground(engine: Engine, terrain: str | None) -> Ground:
    """Heights from the ingested terrain (NaN outside it); refused when there is no terrain."""
    from twin.terrain.store import sample_heights

    with engine.connect() as conn:
        known: int = conn.execute(text("SELECT count(*) FROM terrain_grids WHERE CAST(:d AS text) IS NULL OR "
                                       "dataset_id = :d"), {"d": terrain}).scalar_one()
    if not known:
        raise IngestError(f"no terrain {terrain!r} is ingested" if terrain else
                          "--ground terrain needs a terrain: ingest one first with `citytwin ingest terrain DEM.tif`")
    return lambda lon, lat: sample_heights(engine, lon, lat, terrain)[0]


def ingest_network(engine: Engine, path: str | Path, options: NetworkOptions, *, ground: str = "file",
                   terrain: str | None = None, serves: str | None = None, store: TileStore | None = None,
                   on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Lines (+ node points) → every pipe and node a twin object and a tube in tiles, the graph, services."""
    check_dataset_name(options.name)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    network = read_network(path, options, terrain_ground(engine, terrain) if ground == "terrain" else None)
    timings["read_and_mesh"] = time.perf_counter() - start
    start = time.perf_counter()
    tiling = TilingOptions(class_name="pipe", color=(1.0, 1.0, 1.0, 1.0))
    tileset = build_tileset(network.result.features, tiling, lambda done, total: on_progress("tiles", done, total))
    timings["tile"] = time.perf_counter() - start
    kinds: dict[str, int] = {}
    for node in network.nodes:
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    diameters = np.array([p.diameter_m for p in network.pipes])
    summary = {"network_type": options.network_type, "pipes": len(network.pipes), "nodes": kinds,
               "length_km": round(sum(p.length_m for p in network.pipes) / 1000, 3),
               "diameter_m": [float(diameters.min()), float(diameters.max())], "ground": ground}
    served: list[tuple[str, str, float]] = []

    def also_write(conn: Any) -> None:
        from twin.networks.store import services, write_network

        served.extend(services(conn, network, serves) if serves else [])
        write_network(conn, options.name, options.network_type, network, options.snap_m, served,
                      {**summary, "served_objects": len(served)})

    start = time.perf_counter()
    on_progress("store", 0, 1)
    stored = write_dataset(engine, name=options.name, kind="network", source=Path(path).name, result=network.result,
                           tileset=tileset, extra_summary=summary, also_write=also_write, store=store)
    on_progress("store", 1, 1)
    timings["store"] = time.perf_counter() - start
    return {**stored, **summary, "served_objects": len(served), "source_crs": network.result.source_crs,
            "warnings": network.result.warnings, "seconds": {k: round(v, 3) for k, v in timings.items()}}
