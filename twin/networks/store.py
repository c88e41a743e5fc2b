"""A network's graph in PostGIS: nodes, pipes and the objects each pipe serves; read back as a `Graph`.

Served objects (service lines): every object of the `serves` dataset is joined to the nearest pipe of the network
within `SERVICE_REACH_M` of its footprint, the way a building's service line branches off the main in its street.
A pipe that loses supply takes its served objects with it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import LineString
from sqlalchemy import Connection, Engine, text

from ingest_gis.network import Network
from twin.networks.isolation import Graph

SERVICE_REACH_M = 60.0


def _metric(lonlat: np.ndarray, origin: np.ndarray) -> np.ndarray:
    scale = np.array([6378137.0 * np.pi / 180 * np.cos(np.radians(origin[1])), 6378137.0 * np.pi / 180])
    return (lonlat - origin) * scale


def services(conn: Connection, network: Network, dataset: str) -> list[tuple[str, str, float]]:
    """(pipe id, object id, metres) for each object of `dataset` within reach of a pipe, nearest pipe first."""
    rows = conn.execute(text("SELECT id, ST_AsBinary(footprint) FROM twin_objects WHERE dataset_id = :d ORDER BY id"),
                        {"d": dataset}).all()
    if not rows:
        from ingest_gis.records import IngestError

        raise IngestError(f"--serves {dataset!r}: no such dataset with objects")
    origin = np.concatenate([p.line for p in network.pipes]).mean(axis=0)
    pipes = [LineString(_metric(p.line, origin)) for p in network.pipes]
    tree = shapely.STRtree(pipes)
    out = []
    for object_id, wkb in rows:
        footprint = shapely.from_wkb(bytes(wkb))  # type: ignore[call-overload]
        if footprint.is_empty:
            continue
        local = shapely.transform(footprint, lambda xy: _metric(xy, origin))
        found = tree.query_nearest(local, max_distance=SERVICE_REACH_M, return_distance=True)
        if len(found[0]):
            nearest = int(found[0][np.argmin(found[1])])
            out.append((network.pipes[nearest].id, str(object_id), round(float(found[1].min()), 2)))
    return out


def write_network(conn: Connection, name: str, network_type: str, network: Network, snap_m: float,
                  served: Sequence[tuple[str, str, float]], summary: dict[str, Any]) -> None:
    """The graph rows in the caller's transaction (the dataset row exists already)."""
    conn.execute(text("INSERT INTO networks (id, network_type, snap_m, summary) VALUES (:id, :t, :s, "
                      "CAST(:summary AS jsonb))"),
                 {"id": name, "t": network_type, "s": snap_m, "summary": orjson.dumps(summary).decode()})
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        with cur.copy("COPY network_nodes (network_id, id, kind, object_id, geom) FROM STDIN") as copy:
            for node in network.nodes:
                copy.write_row((name, node.id, node.kind, node.object_id,
                                f"SRID=4326;POINT Z ({float(node.lon)!r} {float(node.lat)!r} {float(node.z)!r})"))
        with cur.copy("COPY network_pipes (network_id, id, from_node, to_node, diameter_m, depth_m, length_m, geom) "
                      "FROM STDIN") as copy:
            for pipe in network.pipes:
                assert pipe.z is not None
                points = ", ".join(f"{x!r} {y!r} {z!r}" for (x, y), z in zip(pipe.line.tolist(), pipe.z.tolist(),
                                                                             strict=True))
                copy.write_row((name, pipe.id, pipe.from_node, pipe.to_node, pipe.diameter_m, pipe.depth_m,
                                pipe.length_m, f"SRID=4326;LINESTRING Z ({points})"))
        with cur.copy("COPY network_services (network_id, pipe_id, object_id, distance_m) FROM STDIN") as copy:
            for pipe_id, object_id, distance in served:
                copy.write_row((name, pipe_id, object_id, distance))


_GRAPHS: dict[tuple[str, datetime], Graph] = {}
_LOCK = threading.Lock()


def load_graph(engine: Engine, network: str) -> Graph | None:
    """The network's graph (cached per worker until the network is ingested again), None if there is none."""
    with engine.connect() as conn:
        created = conn.execute(text("SELECT d.created_at FROM networks n JOIN datasets d ON d.id = n.id "
                                    "WHERE n.id = :n"), {"n": network}).scalar()
        if created is None:
            return None
        with _LOCK:
            cached = _GRAPHS.get((network, created))
        if cached is not None:
            return cached
        kinds: dict[str, str] = dict(conn.execute(text("SELECT id, kind FROM network_nodes WHERE network_id = :n"),
                                  {"n": network}).all())
        pipes = conn.execute(text("SELECT id, from_node, to_node FROM network_pipes WHERE network_id = :n "
                                  "ORDER BY id"), {"n": network}).all()
    graph = Graph.of(kinds, [(p.id, p.from_node, p.to_node) for p in pipes])
    with _LOCK:
        for key in [k for k in _GRAPHS if k[0] == network]:
            del _GRAPHS[key]
        _GRAPHS[(network, created)] = graph
    return graph
