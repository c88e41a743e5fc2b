"""`citytwin ingest points` (resource points → twin objects) and `citytwin ingest roads` (a routable network)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from twin.cli_ingest import run_ingest

if TYPE_CHECKING:
    from twin.settings import Settings


def cmd_ingest_points(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.points import PointOptions
    from twin.ingest import ingest_points

    options = PointOptions(name=args.name, kind_attr=args.kind_attr, kind=args.kind, crs=args.crs, layer=args.layer)

    def describe(s: dict[str, Any]) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(s["kinds"].items(), key=lambda item: -item[1]))
        return f"dataset [bold]{s['dataset_id']}[/]: {s['objects']} objects ({kinds}), tileset {s['tileset_id']}"

    return run_ingest(args, settings, lambda engine, store, on_progress: ingest_points(
        engine, args.path, options, max_features_per_tile=settings.max_features_per_tile, store=store,
        on_progress=on_progress, ground=args.ground, terrain=args.terrain), describe)


def cmd_ingest_roads(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.roads import RoadOptions
    from twin.events.roads_store import ingest_roads

    options = RoadOptions(name=args.name, speed_attr=args.speed_attr, class_attr=args.class_attr,
                          oneway_attr=args.oneway_attr, crs=args.crs, layer=args.layer)
    return run_ingest(args, settings, lambda engine, _store, _progress: ingest_roads(engine, args.path, options),
                       lambda s: (f"road network [bold]{s['network']}[/]: {s['edges']} edges, {s['nodes']} nodes, "
                                  f"{s['length_km']} km ({s['oneway_edges']} one-way edges)"))


def add_ingest_commands(kinds: Any) -> None:
    """`ingest points` and `ingest roads` under `citytwin ingest`."""
    points = kinds.add_parser("points", help="resource points (hydrants, stations, cameras …) as twin objects; "
                                             "a mixed layer's polygons become footprints")
    points.add_argument("path")
    points.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    points.add_argument("--kind-attr", help="attribute holding each point's kind (default: kind, type, amenity, "
                                            "emergency)")
    points.add_argument("--kind", default="poi", help="kind of points without one (default: poi)")
    points.add_argument("--crs", help="CRS of the layer (EPSG code) when it has none or declares a wrong one")
    points.add_argument("--layer", help="layer name in a multi-layer source such as a GeoPackage")
    points.add_argument("--json", action="store_true", help="print a machine-readable summary")
    from twin.terrain.cli import add_ground_option

    add_ground_option(points)  # --ground terrain
    points.set_defaults(handler=cmd_ingest_points)
    roads = kinds.add_parser("roads", help="road lines (e.g. raw OSM ways) as a routable pgRouting network")
    roads.add_argument("path")
    roads.add_argument("--name", required=True, help="network name; re-ingesting a name replaces that network")
    roads.add_argument("--speed-attr", help="speed limit attribute (default: maxspeed; '50', '30 mph', …)")
    roads.add_argument("--class-attr", help="road class attribute (default: highway)")
    roads.add_argument("--oneway-attr", help="one-way attribute (default: oneway; yes/true/1, -1)")
    roads.add_argument("--crs", help="CRS of the layer (EPSG code) when it has none or declares a wrong one")
    roads.add_argument("--layer", help="layer name (default: a layer named roads, else the first line layer)")
    roads.add_argument("--json", action="store_true", help="print a machine-readable summary")
    roads.set_defaults(handler=cmd_ingest_roads)
