"""The `citytwin` command line: database, ingest, serve, demo and tile export."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ingest_gis.records import IngestError, ProgressCallback
from tiles.encoding import Compression

if TYPE_CHECKING:  # settings, rich, SQLAlchemy and psycopg load when a command needs them (`ingest ifc` starts
    from rich.console import Console  # its model's geometry iterator first, which computes meanwhile)
    from sqlalchemy import Engine

    from twin.db import Database
    from twin.settings import Settings
    from twin.tilestore import TileStore


@cache
def console() -> Console:
    """Messages and progress go to stderr (stdout carries `--json` summaries)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[ProgressCallback]:
    """A progress callback drawing one rich bar per ingest stage (silent when disabled)."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(), transient=False) as progress:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield update


def _say(settings: Settings, message: str) -> None:
    """A console line; with JSON logs a log record of its plain text instead (stderr stays one object a line)."""
    if settings.log_format != "json":
        console().print(message)
        return
    import logging

    from rich.text import Text

    logging.getLogger("twin.cli").info(Text.from_markup(message).plain)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def open_database(settings: Settings) -> Database:
    """The configured database; `twin.db` (SQLAlchemy, psycopg) is loaded by the commands that use it."""
    from twin.db import open_database as open_configured

    return open_configured(settings)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from twin.db import embedded_cluster

    if settings.database_url:
        console().print("CITYTWIN_DATABASE_URL is set: the embedded cluster is not used")
        return 0 if args.action == "status" else 1
    cluster = embedded_cluster(settings)
    if args.action == "start":
        started = cluster.start()
        database = open_database(settings)  # runs migrations on the running cluster
        database.close(stop_embedded=False)
        console().print(("started" if started else "already running") + f" on port {cluster.status().port}")
    elif args.action == "stop":
        console().print("stopped" if cluster.stop() else "not running")
    else:
        status = cluster.status()
        _print_json({"running": status.running, "initialised": status.initialised, "port": status.port,
                     "cluster_dir": str(status.cluster_dir)})
    return 0


Ingest = Callable[["Engine", "TileStore", ProgressCallback], dict[str, Any]]


def _run_ingest(args: argparse.Namespace, settings: Settings, ingest: Ingest,
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
    return _run_ingest(
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
    return _run_ingest(
        args, settings,
        lambda engine, store, _progress: {"datasets": ingest_footprint_files(
            engine, args.paths, options, tiling, scheduler=args.dask, workers=args.workers, prefix=args.prefix,
            store=store)},
        lambda s: "; ".join(f"dataset [bold]{d['dataset_id']}[/]: {d['objects']} objects, {d['tiles']} tiles"
                            for d in s["datasets"]),
    )


def open_ifc(args: argparse.Namespace) -> None:
    """Before anything else loads: open the model and start its geometry iterator, which computes shapes on its
    own threads while the settings, the ingest code and the database are loaded and opened."""
    from ingest_bim.model import open_geometry

    args.opened = open_geometry(args.path)


def cmd_ingest_ifc(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_bim.georef import GeorefOptions, parse_origin
    from twin.ingest import ingest_ifc

    georef = GeorefOptions(crs=args.crs, origin=parse_origin(args.origin) if args.origin else None,
                           rotation=args.rotation)
    opened = args.opened

    return _run_ingest(
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

    return _run_ingest(args, settings, ingest, describe)


def cmd_ingest_oblique(args: argparse.Namespace, settings: Settings) -> int:
    from twin.ingest import ingest_oblique

    def describe(s: dict[str, Any]) -> str:
        levels = " + ".join(str(n) for n in s["levels"])
        return (f"dataset [bold]{s['dataset_id']}[/] ({s['format']}, {s['source_crs']}): {s['tiles']} textured "
                f"tiles in {len(s['levels'])} levels ({levels}) from {s['files']} files, {s['bytes']:,} bytes")

    return _run_ingest(args, settings, lambda engine, store, on_progress: ingest_oblique(
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

    return _run_ingest(args, settings, lambda engine, store, on_progress: ingest_pointcloud(
        engine, args.path, options, store=store, on_progress=on_progress), describe)


def cmd_ingest_tileset(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_bim.georef import parse_origin
    from twin.ingest import ingest_tileset

    origin = parse_origin(args.origin) if args.origin else None
    return _run_ingest(
        args, settings,
        lambda engine, store, on_progress: ingest_tileset(engine, args.path, args.name, origin=origin, store=store,
                                                          on_progress=on_progress),
        lambda s: (f"dataset [bold]{s['dataset_id']}[/]: 3D Tiles {s['asset_version']} with {s['tiles']} contents "
                   f"in {s['files']} files ({s['bytes']:,} bytes), placed by {s['placed_by']}"),
    )


@contextmanager
def mqtt_broker(settings: Settings) -> Iterator[Settings]:
    """The settings naming the MQTT broker: with none configured, the private mosquitto started here (once, before
    any worker) and stopped after; MQTT off, said why, when it cannot start."""
    from twin.live.broker import BrokerError, MosquittoBroker

    broker = None
    if settings.mqtt and not settings.mqtt_url:
        broker = MosquittoBroker(settings.data_dir)
        try:
            started = broker.start()
        except BrokerError as exc:
            _say(settings, f"[yellow]MQTT readings are off:[/] {exc}")
            settings, broker = settings.model_copy(update={"mqtt": False}), None
        else:
            settings = settings.model_copy(update={"mqtt_url": broker.url})
            _say(settings, f"MQTT readings: private mosquitto at [bold]{broker.url}[/] "
                           "(topics citytwin/readings/{sensor} and citytwin/readings, QoS 1)")
    try:
        yield settings
    finally:
        if broker is not None and started:
            broker.stop()


def _serve(settings: Settings, database: Database | None = None) -> None:
    import uvicorn

    from twin.api import create_app
    from twin.api.lean_http import LeanHttpProtocol
    from twin.cli_keys import exposure_refusal
    from twin.ops import logs, serving

    logs.configure(settings.log_format)
    owned = database is None
    database = database or open_database(settings)  # a database that does not answer is an error before serving
    try:
        if refusal := exposure_refusal(settings, database.engine):
            raise ServeRefused(refusal)
        with mqtt_broker(settings) as settings:
            _say(settings, f"CityTwin serving on http://{settings.host}:{settings.port}")
            uvicorn.run(create_app(settings, database), host=settings.host, port=settings.port, log_level="info",
                        http=LeanHttpProtocol, ws_max_size=settings.ws_max_message_kb * 1024,
                        **serving.uvicorn_options(settings.log_format, settings.drain_timeout_s))
    finally:
        if owned:
            database.close()


class ServeRefused(Exception):
    """`serve` will not bind as asked (twin.cli_keys.exposure_refusal); the message says why and what to do."""


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.model_copy(update={"host": args.host, "port": args.port,
                                           "open_access": settings.open_access or args.open_access})
    if args.workers <= 1:
        _serve(settings)
        return 0
    import os

    import uvicorn

    from twin.api.lean_http import LeanHttpProtocol
    from twin.cli_keys import exposure_refusal
    from twin.live.redis_process import RedisUnavailable, shared_bus
    from twin.ops import logs, serving

    logs.configure(settings.log_format)
    database = open_database(settings)  # start the embedded cluster and migrate once, before the workers
    try:
        if refusal := exposure_refusal(settings, database.engine):
            raise ServeRefused(refusal)
        with mqtt_broker(settings) as settings, \
                shared_bus(settings.bus_url, settings.data_dir / "redis") as bus_url, \
                serving.shared_metrics(settings.data_dir, settings.port):  # one live layer, one /metrics for all
            os.environ["CITYTWIN_BUS_URL"] = bus_url
            os.environ["CITYTWIN_DATABASE_URL"] = database.engine.url.render_as_string(hide_password=False)
            os.environ["CITYTWIN_MQTT"] = "true" if settings.mqtt else "false"
            os.environ["CITYTWIN_MQTT_SHARED"] = "true"  # each message to one worker's bridge
            if settings.mqtt_url:
                os.environ["CITYTWIN_MQTT_URL"] = settings.mqtt_url
            _say(settings, f"CityTwin serving on http://{settings.host}:{settings.port} with {args.workers} workers")
            uvicorn.run("twin.api.asgi:app_from_environment", factory=True, host=settings.host, port=settings.port,
                        workers=args.workers, log_level="warning", http=LeanHttpProtocol,
                        ws_max_size=settings.ws_max_message_kb * 1024,
                        **serving.uvicorn_options(settings.log_format, settings.drain_timeout_s))
    except RedisUnavailable as exc:
        console().print(f"[red]Several workers share their live layer through Redis:[/] {exc}")
        return 2
    finally:
        database.close()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from twin.demo import build_demo_city

    settings = settings.model_copy(update={"host": args.host, "port": args.port,
                                           "open_access": settings.open_access or args.open_access})
    database = open_database(settings)
    try:
        with progress_bars(True) as on_progress:
            city = build_demo_city(database.engine, settings.data_dir / "demo", on_progress)
        console().print(f"demo district: {city['district']['objects']} buildings in {city['district']['tiles']} tiles;"
                      f" demo building: {city['building']['objects']} IFC objects, {city['building']['floors']} floors")
        console().print(f"demo sensors: {city['sensors']['stored']} ({city['sensors']['bound']} bound to objects)")
        console().print(f"demo ground: {city['terrain']['tiles']} terrain tiles; underground: gas "
                        f"{city['gas']['pipes']} pipes, drainage {city['drainage']['pipes']} pipes")
        console().print(f"demo drill plans: {', '.join(city['plans'])} (run them from the viewer's drill panel)")
        if not args.no_serve:
            from twin.demo import start_feeder

            feeder = start_feeder(settings)
            try:
                _serve(settings, database)
            finally:
                feeder.stop()
    finally:
        database.close()
    return 0


def cmd_tiles_export(args: argparse.Namespace, settings: Settings) -> int:
    from twin.repository import export_tileset
    from twin.tilestore import content_source_for

    database = open_database(settings)
    files = content_source_for(settings)
    try:
        count = export_tileset(database.engine, args.tileset, Path(args.directory), files)
    finally:
        database.close()
    console().print(f"wrote {count} files to {args.directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citytwin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from twin.terrain.cli import add_ground_option, add_terrain_command

    db = sub.add_parser("db", help="the embedded PostGIS cluster")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(handler=cmd_db)

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
    from twin.cli_events import add_ingest_commands

    add_ingest_commands(kinds)  # points, roads
    add_terrain_command(kinds)  # terrain
    from twin.networks.cli import add_network_command

    add_network_command(kinds)  # network

    for name, handler, help_text in (("serve", cmd_serve, "serve the API, tiles and viewer"),
                                     ("demo", cmd_demo, "generate, ingest and serve a demo district")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--open-access", action="store_true", help="serve a non-loopback --host without API keys "
                       "(everyone may do everything; warned loudly)")
        if name == "demo":
            p.add_argument("--no-serve", action="store_true", help="ingest the demo city and exit")
        else:
            p.add_argument("--workers", type=int, default=1, help="worker processes (they share the database)")
        p.set_defaults(handler=handler)

    tiles = sub.add_parser("tiles", help="tilesets")
    tiles_sub = tiles.add_subparsers(dest="action", required=True)
    export = tiles_sub.add_parser("export", help="write a stored tileset to a folder")
    export.add_argument("tileset")
    export.add_argument("directory")
    export.set_defaults(handler=cmd_tiles_export)

    from twin.cli_live import add_commands

    add_commands(sub)  # sensors, simulate
    from twin.cli_drills import add_commands as add_drill_commands

    add_drill_commands(sub)  # plans
    from twin.cli_keys import add_commands as add_key_commands

    add_key_commands(sub)  # keys
    return parser


def _settings() -> Settings:
    from twin.settings import Settings

    return Settings()


def main(argv: Sequence[str] | None = None, settings_factory: Callable[[], Settings] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if prepare := getattr(args, "prepare", None):
            prepare(args)
        return int(args.handler(args, (settings_factory or _settings)()))
    except Exception as exc:
        from twin.db import DatabaseUnavailable
        from twin.embedded import EmbeddedDatabaseError

        if not isinstance(exc, IngestError | EmbeddedDatabaseError | DatabaseUnavailable | ServeRefused):
            raise
        if getattr(args, "json", False):
            _print_json({"error": str(exc)})
        console().print(f"[red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if opened := getattr(args, "opened", None):
            opened.close()  # an iterator still computing when the interpreter exits would crash it


def run() -> None:
    """The `citytwin` program: `main`, then exit. What is alive by then is frozen first, so the interpreter's
    final garbage collections skip it (≈0.1 s of every command's exit); files and atexit work as usual."""
    code = main()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    run()
