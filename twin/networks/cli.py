"""`citytwin ingest network LINES --type gas|water|drainage|power|heat|telecom`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ingest_gis.network_kinds import NETWORK_TYPES, UNITS

if TYPE_CHECKING:
    from twin.settings import Settings


def cmd_ingest_network(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.network import NetworkOptions
    from twin.cli import _run_ingest
    from twin.networks.ingest import ingest_network

    options = NetworkOptions(name=args.name or args.type, network_type=args.type, nodes=tuple(args.nodes),
                             diameter_attr=args.diameter_attr, diameter_unit=args.diameter_unit,
                             default_diameter=args.default_diameter, depth_attr=args.depth_attr,
                             default_depth=args.default_depth, crs=args.crs, layer=args.layer, snap_m=args.snap)

    def describe(s: dict[str, Any]) -> str:
        nodes = ", ".join(f"{n} {kind}" for kind, n in sorted(s["nodes"].items(), key=lambda item: -item[1]))
        return (f"{s['network_type']} network [bold]{s['dataset_id']}[/]: {s['pipes']} pipes ({s['length_km']} km), "
                f"nodes {nodes}; {s['tiles']} tiles; {s['served_objects']} objects served")

    return _run_ingest(args, settings, lambda engine, store, on_progress: ingest_network(
        engine, args.path, options, ground=args.ground, terrain=args.terrain, serves=args.serves, store=store,
        on_progress=on_progress), describe)


def add_network_command(kinds: Any) -> None:
    """`ingest network` under `citytwin ingest`."""
    from twin.terrain.cli import add_ground_option

    network = kinds.add_parser("network", help="an underground network: pipe lines (+ node points) as twin "
                                               "objects, 3D tubes and a graph for valve isolation")
    network.add_argument("path", help="pipe lines (GeoJSON, Shapefile, GeoPackage); points in it are nodes")
    network.add_argument("--type", required=True, choices=NETWORK_TYPES)
    network.add_argument("--name", help="dataset name (default: the type)")
    network.add_argument("--nodes", action="append", default=[], metavar="POINTS",
                         help="a layer of nodes (valves, manholes, junctions, tanks …); repeatable")
    network.add_argument("--diameter-attr", help="attribute with the pipe diameter (default: diameter, dn, …)")
    network.add_argument("--diameter-unit", choices=list(UNITS), default="m", help="unit of the diameters")
    network.add_argument("--default-diameter", type=float, help="metres, for pipes without a diameter")
    network.add_argument("--depth-attr", help="attribute with the depth of the pipe's centre below the ground (m)")
    network.add_argument("--default-depth", type=float, help="metres, for pipes without a depth "
                                                             "(default: by type, e.g. gas 1.0, drainage 2.5)")
    network.add_argument("--snap", type=float, default=0.5, help="metres within which ends and nodes join")
    network.add_argument("--serves", metavar="DATASET", help="join each object of DATASET (buildings) to its "
                                                             "nearest pipe within 60 m by a service line")
    network.add_argument("--crs", help="CRS of the layers (EPSG code) when they have none or a wrong one")
    network.add_argument("--layer", help="layer name in a multi-layer source such as a GeoPackage")
    network.add_argument("--json", action="store_true", help="print a machine-readable summary")
    add_ground_option(network)
    network.set_defaults(handler=cmd_ingest_network)
