"""`citytwin ingest KIND …`: footprints, footprint files, IFC, oblique photography, CityJSON/CityGML, point clouds and
existing tilesets (points, roads, terrain and networks register their own kinds here)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ingest_gis.records import ProgressCallback
from tiles.encoding import Compression
from twin.cli import _print_json, console, open_database, progress_bars

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.settings import Settings
    from twin.tilestore import TileStore

Ingest = Callable[["Engine", "TileStore", ProgressCallback], dict[str, Any]]


def run_ingest(args: argparse.Namespace, settings: Settings, ingest: Ingest,
                describe: Callable[[dict[str, Any]], str]) -> int:
    """Open the database, ingest with progress bars into the configured store, then print the summary."""
    from twin.tilestore import store_for

    database = open_database(settings)
    try:
        with progress_bars(not args.json) as on_progress:
            summary = ingest(database.engine, store_for(settings), on_progress)
    finally:
        database.close()
    if args.json:
        _print_json(summary)
    else:
        console().print(describe(summary))
        for warning in summary.get("warnings", []):
            console().print(f"[yellow]warning:[/] {warning}")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.footprints import DEFAULT_STOREY_HEIGHT, FootprintOptions  # pandas/GDAL: footprints only
    from twin.ingest import ingest_footprints

    storey_height = DEFAULT_STOREY_HEIGHT if args.storey_height is None else args.storey_height
    options = FootprintOptions(name=args.name, height_attr=args.height_attr, levels_attr=args.levels_attr,
                               storey_height=storey_height, crs=args.crs, layer=args.layer)
    return run_ingest(
        args, settings,
        lambda engine, store, on_progress: ingest_footprints(
            engine, args.path, options, max_features_per_tile=settings.max_features_per_tile,
            compression=Compression(args.compression), implicit=args.implicit, b3dm=args.b3dm, store=store,
            on_progress=on_progress, ground=args.ground, terrain=args.terrain),
        lambda s: (f"dataset [bold]{s['dataset_id']}[/]: {s['objects']} objects, {s['tiles']} tiles "
                   f"({s['bytes']:,} bytes), tileset {s['tileset_id']}"),
    )


def cmd_ingest_files(args: argparse.Namespace, settings: Settings) -> int:
    """Many footprint files, one dataset each, built as tasks on Dask (`--dask`) or one by one here."""
    from ingest_gis.footprints import DEFAULT_STOREY_HEIGHT, FootprintOptions
    from tiles.tileset import TilingOptions
    from twin.ingest_dask import ingest_footprint_files

    storey_height = DEFAULT_STOREY_HEIGHT if args.storey_height is None else args.storey_height
    options = FootprintOptions(name="files", height_attr=args.height_attr, levels_attr=args.levels_attr,
                               storey_height=storey_height, crs=args.crs)
    tiling = TilingOptions(max_features_per_tile=settings.max_features_per_tile,
                           compression=Compression(args.compression))
    return run_ingest(
        args, settings,
        lambda engine, store, _progress: {"datasets": ingest_footprint_files(
            engine, args.paths, options, tiling, scheduler=args.dask, workers=args.workers, prefix=args.prefix,
            store=store)},
        lambda s: "; ".join(f"dataset [bold]{d['dataset_id']}[/]: {d['objects']} objects, {d['tiles']} tiles"
                            for d in s["datasets"]),
    )


def open_ifc(args: argparse.Namespace) -> None:
    """Before anything else loads: start opening the model on a thread of its own (the file parses while the
    settings load), then its geometry iterator, which computes shapes on its own threads while the ingest code
    and the database are loaded and opened."""
    from ingest_bim.model import ModelOpening

    args.opened = ModelOpening.start(args.path)


def cmd_ingest_ifc(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_bim.georef import GeorefOptions, parse_origin
    from twin.ingest import ingest_ifc

    georef = GeorefOptions(crs=args.crs, origin=parse_origin(args.origin) if args.origin else None,
                           rotation=args.rotation)
    opened = args.opened.result()  # a file that cannot be ingested is refused before the database is opened

    return run_ingest(
        args, settings,
        lambda engine, _store, on_progress: ingest_ifc(engine, opened, args.name, georef,
                                                       max_features_per_tile=settings.max_features_per_tile,
                                                       on_progress=on_progress),
        lambda s: (f"dataset [bold]{s['dataset_id']}[/] ({s['schema']}): {s['objects']} objects, "
                   f"{s['elements_in_tiles']} elements in {s['tiles']} tiles, {s['floors']} walkable floors; "
                   f"placed by {s['georef']['source']} at {s['georef']['origin']}"),
    )


def cmd_ingest_city_model(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.citygml import CityGmlOptions
    from ingest_gis.cityjson import CityJsonOptions
    from twin.ingest import ingest_citygml, ingest_cityjson

    def ingest(engine: Engine, store: TileStore, on_progress: ProgressCallback) -> dict[str, Any]:
        budget, compression = settings.max_features_per_tile, Compression(args.compression)
        if args.kind == "cityjson":
            return ingest_cityjson(engine, args.path, CityJsonOptions(args.name, args.crs, args.lod),
                                   max_features_per_tile=budget, compression=compression, store=store,
                                   on_progress=on_progress)
        return ingest_citygml(engine, args.path, CityGmlOptions(args.name, args.crs, args.lod),
                              max_features_per_tile=budget, compression=compression, store=store,
                              on_progress=on_progress)

    def describe(s: dict[str, Any]) -> str:
        types = ", ".join(f"{n} {t}" for t, n in s["types"].items())
        return (f"dataset [bold]{s['dataset_id']}[/] ({s['version']}, {s['source_crs']}): {s['objects']} objects "
                f"({types}), {s['tiles']} tiles ({s['bytes']:,} bytes), LoD {', '.join(s['lods']) or '-'}")

    return run_ingest(args, settings, ingest, describe)


def cmd_ingest_oblique(args: argparse.Namespace, settings: Settings) -> int:
    from twin.ingest import ingest_oblique

    def describe(s: dict[str, Any]) -> str:
        levels = " + ".join(str(n) for n in s["levels"])
        return (f"dataset [bold]{s['dataset_id']}[/] ({s['format']}, {s['source_crs']}): {s['tiles']} textured "
                f"tiles in {len(s['levels'])} levels ({levels}) from {s['files']} files, {s['bytes']:,} bytes")

    return run_ingest(args, settings, lambda engine, store, on_progress: ingest_oblique(
        engine, args.path, args.name, store=store, on_progress=on_progress), describe)


def cmd_ingest_pointcloud(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.pointcloud import PointCloudOptions
    from twin.ingest import ingest_pointcloud

    options = PointCloudOptions(name=args.name, crs=args.crs, timeout_s=args.timeout)

    def describe(s: dict[str, Any]) -> str:
        west, south, east, north = s["extent"]
        return (f"dataset [bold]{s['dataset_id']}[/]: {s['points']:,} points in {s['tiles']} tiles "
                f"({s['bytes']:,} bytes), CRS {s['source_crs']} from {s['georef']['from']}, "
                f"at lon {west:.5f}…{east:.5f}, lat {south:.5f}…{north:.5f}")

    return run_ingest(args, settings, lambda engine, store, on_progress: ingest_pointcloud(
        engine, args.path, options, store=store, on_progress=on_progress), describe)


def cmd_ingest_tileset(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_bim.georef import parse_origin
    from twin.ingest import ingest_tileset

    origin = parse_origin(args.origin) if args.origin else None
    return run_ingest(
        args, settings,
        lambda engine, store, on_progress: ingest_tileset(engine, args.path, args.name, origin=origin, store=store,
                                                          on_progress=on_progress),
        lambda s: (f"dataset [bold]{s['dataset_id']}[/]: 3D Tiles {s['asset_version']} with {s['tiles']} contents "
                   f"in {s['files']} files ({s['bytes']:,} bytes), placed by {s['placed_by']}"),
    )


def add_ingest_command(sub: Any) -> None:
    """`citytwin ingest` and its kinds."""
    from twin.cli_events import add_ingest_commands
    from twin.networks.cli import add_network_command
    from twin.terrain.cli import add_ground_option, add_terrain_command

    ingest = sub.add_parser("ingest", help="turn an input into twin objects and 3D Tiles")
    kinds = ingest.add_subparsers(dest="kind", required=True)
    fp = kinds.add_parser("footprints", help="building footprints with heights (GeoJSON, Shapefile, GeoPackage)")
    fp.add_argument("path")
    fp.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    fp.add_argument("--height-attr", help="attribute with the building height in metres")
    fp.add_argument("--levels-attr", help="attribute with the number of storeys")
    fp.add_argument("--storey-height", type=float, help="metres per storey (default 3)")
    fp.add_argument("--crs", help="CRS of the layer (EPSG code) when it has none or declares a wrong one")
    fp.add_argument("--layer", help="layer name in a multi-layer source such as a GeoPackage")
    fp.add_argument("--compression", choices=[c.value for c in Compression], default=Compression.DRACO.value,
                    help="tile vertex encoding (default: draco)")
    fp.add_argument("--implicit", action="store_true", help="write an implicitly tiled quadtree (large layers)")
    fp.add_argument("--b3dm", action="store_true", help="write 3D Tiles 1.0 b3dm content for old clients")
    fp.add_argument("--json", action="store_true", help="print a machine-readable summary")
    add_ground_option(fp)  # --ground terrain
    fp.set_defaults(handler=cmd_ingest)
    files = kinds.add_parser("footprint-files", help="many footprint files, one dataset each (named by prefix + "
                             "file name), built in parallel on Dask with --dask")
    files.add_argument("paths", nargs="+")
    files.add_argument("--prefix", default="", help="put before each file name to make its dataset name")
    files.add_argument("--dask", metavar="SCHEDULER", help="Dask scheduler address (tcp://host:8786), or 'local' "
                       "for a cluster of worker processes here; unset builds the files one by one in this process")
    files.add_argument("--workers", type=int, default=2, help="worker processes of --dask local (default 2)")
    files.add_argument("--height-attr", help="attribute with the building height in metres")
    files.add_argument("--levels-attr", help="attribute with the number of storeys")
    files.add_argument("--storey-height", type=float, help="metres per storey (default 3)")
    files.add_argument("--crs", help="CRS of the layers (EPSG code) when they have none or declare a wrong one")
    files.add_argument("--compression", choices=[c.value for c in Compression], default=Compression.DRACO.value,
                       help="tile vertex encoding (default: draco)")
    files.add_argument("--json", action="store_true", help="print a machine-readable summary")
    files.set_defaults(handler=cmd_ingest_files)
    ifc = kinds.add_parser("ifc", help="an IFC building model (IFC2X3, IFC4, IFC4X3)")
    ifc.add_argument("path")
    ifc.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    ifc.add_argument("--crs", help="EPSG code of the map: replaces the model's CRS, or says its coordinates are in it")
    ifc.add_argument("--origin", help="LON,LAT,H of the model origin (E,N,H in --crs when given too)")
    ifc.add_argument("--rotation", type=float, help="degrees counter-clockwise from east to the model's x axis")
    ifc.add_argument("--json", action="store_true", help="print a machine-readable summary")
    ifc.set_defaults(handler=cmd_ingest_ifc, prepare=open_ifc)
    oblique = kinds.add_parser("oblique", help="oblique photography: metadata.xml + Data/Tile_*/ OSGB (or OBJ) "
                                              "LOD pyramids (Smart3D/ContextCapture/DJI)")
    oblique.add_argument("path", help="the folder holding metadata.xml and Data/")
    oblique.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    oblique.add_argument("--json", action="store_true", help="print a machine-readable summary")
    oblique.set_defaults(handler=cmd_ingest_oblique)

    for kind, help_text in (("cityjson", "a CityJSON 1.0/1.1/2.0 city model (buildings with their parts and "
                                         "semantics, and every other city object)"),
                            ("citygml", "the buildings of a CityGML 1.0/2.0/3.0 city model (streamed)")):
        city = kinds.add_parser(kind, help=help_text)
        city.add_argument("path")
        city.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
        city.add_argument("--crs", help="EPSG code (or CRS name) when the file declares none or a wrong one")
        city.add_argument("--lod", choices=["0", "1", "2", "3", "best"], default="best",
                          help="level of detail to take (default: the best each object has)")
        city.add_argument("--compression", choices=[c.value for c in Compression],
                          default=Compression.DRACO.value, help="tile vertex encoding (default: draco)")
        city.add_argument("--json", action="store_true", help="print a machine-readable summary")
        city.set_defaults(handler=cmd_ingest_city_model)

    points = kinds.add_parser("pointcloud", help="a LAS/LAZ (1.2–1.4) or COPC point cloud, tiled by py3dtiles")
    points.add_argument("path")
    points.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    points.add_argument("--crs", help="CRS of X/Y/Z (EPSG code or WKT) when the header has none or a wrong one")
    points.add_argument("--timeout", type=float, help="seconds tiling may take (default: grows with the points)")
    points.add_argument("--json", action="store_true", help="print a machine-readable summary")
    points.set_defaults(handler=cmd_ingest_pointcloud)
    imported = kinds.add_parser("tileset", help="an existing 3D Tiles 1.0/1.1 tileset folder, stored as it is")
    imported.add_argument("path", help="the tileset folder or its tileset.json")
    imported.add_argument("--name", required=True, help="dataset name; re-ingesting a name replaces that dataset")
    imported.add_argument("--origin", help="LON,LAT[,H] to place a tileset that is not georeferenced "
                                           "(write --origin=-123.1,44.0 for negative longitudes)")
    imported.add_argument("--json", action="store_true", help="print a machine-readable summary")
    imported.set_defaults(handler=cmd_ingest_tileset)
    add_ingest_commands(kinds)  # points, roads
    add_terrain_command(kinds)  # terrain
    add_network_command(kinds)  # network
