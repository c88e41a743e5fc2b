"""Road networks in PostGIS for pgRouting: a network's nodes and edges (costs in seconds, -1 where one-way
forbids) written in one transaction that replaces a network of the same name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import shapely
from sqlalchemy import Engine, text

from ingest_gis.records import IngestError
from ingest_gis.roads import RoadNetwork, RoadOptions, read_roads
from twin.repository import check_dataset_name


def write_network(engine: Engine, name: str, source: str, network: RoadNetwork) -> dict[str, Any]:
    summary = {"nodes": len(network.nodes), "edges": len(network.edges), "source_crs": network.source_crs,
               "warnings": network.warnings,
               "length_km": round(sum(e.length_m for e in network.edges) / 1000, 3),
               "oneway_edges": sum(1 for e in network.edges if e.oneway)}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM road_networks WHERE name = :name"), {"name": name})
        conn.execute(text("INSERT INTO road_networks (name, source, summary) VALUES (:n, :s, CAST(:j AS jsonb))"),
                     {"n": name, "s": source, "j": orjson.dumps(summary).decode()})
        first: int = conn.execute(text("SELECT coalesce(max(id), 0) FROM road_nodes")).scalar_one()
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            with cur.copy("COPY road_nodes (id, network, geom) FROM STDIN") as copy:
                for i, (x, y) in enumerate(network.nodes, start=1):
                    copy.write_row((first + i, name, f"SRID=4326;POINT({x!r} {y!r})"))
            with cur.copy("COPY roads (network, source, target, class, name, speed_kmh, oneway, length_m, cost, "
                          "reverse_cost, source_id, geom) FROM STDIN") as copy:
                for e in network.edges:
                    copy.write_row((name, first + e.source, first + e.target, e.road_class, e.name, e.speed_kmh,
                                    e.oneway, e.length_m, e.cost_s, e.reverse_cost_s, e.source_id,
                                    "SRID=4326;" + shapely.to_wkt(e.geometry, rounding_precision=-1)))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('road_nodes', 'id'), "
                          "(SELECT coalesce(max(id), 1) FROM road_nodes))"))
    return {"network": name, **summary}


def ingest_roads(engine: Engine, path: str | Path, options: RoadOptions) -> dict[str, Any]:
    """A road line layer → a stored routable network."""
    check_dataset_name(options.name)
    network = read_roads(path, options)
    if not network.edges:
        raise IngestError(f"{Path(path).name} has no road lines")
    return write_network(engine, options.name, Path(path).name, network)
