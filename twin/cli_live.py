"""`citytwin sensors import|list|delete` (straight into the database, no server needed) and
`citytwin simulate sensors` (load on a running server)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from twin.cli import _print_json, console, open_database

if TYPE_CHECKING:
    from twin.live.simulate import Totals
    from twin.settings import Settings


def _dsn(settings: Settings) -> tuple[Any, str]:
    database = open_database(settings)
    return database, database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def cmd_sensors_import(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.sensor_layers import SensorLayerOptions, read_sensor_layer
    from twin.live import importer

    options = SensorLayerOptions(id_attr=args.id_attr, kind_attr=args.kind_attr, object_attr=args.object_attr,
                                 crs=args.crs, layer=args.layer)
    rows = read_sensor_layer(args.path, options)
    database, dsn = _dsn(settings)
    try:
        result = importer.run(importer.put_sensors(dsn, rows.rows))
    finally:
        database.close()
    refused = sorted(rows.errors + result.refused)
    if args.json:
        _print_json({**result.as_json(), "refused": [{"row": r, "reason": why} for r, why in refused],
                     "source_crs": rows.source_crs})
    else:
        console().print(f"imported [bold]{len(result.stored)}[/] sensors ({result.bound} bound to objects) "
                        f"from {args.path} ({rows.source_crs})")
        for row, reason in refused:
            console().print(f"[red]row {row}:[/] {reason}")
        if refused:
            console().print(f"{len(refused)} rows refused; the other rows were imported")
    return 1 if refused else 0


def cmd_sensors_list(args: argparse.Namespace, settings: Settings) -> int:
    from twin.live import importer

    database, dsn = _dsn(settings)
    try:
        sensors = importer.run(importer.list_sensors(dsn))
    finally:
        database.close()
    if args.json:
        _print_json([s.as_json() for s in sensors])
        return 0
    width = max((len(s.id) for s in sensors), default=2)
    for s in sensors:  # one line per sensor, greppable
        where = f"{s.lon:.7f},{s.lat:.7f},{s.h:.1f}" if s.lon is not None and s.lat is not None else "-"
        console().print(f"{s.id:<{width}}  {s.kind:<15} {s.unit:<6} {where:<30} {s.object_id or '-'}  {s.name or ''}",
                        soft_wrap=True, markup=False, highlight=False)
    console().print(f"{len(sensors)} sensors")
    return 0


def cmd_sensors_delete(args: argparse.Namespace, settings: Settings) -> int:
    from twin.live import importer

    database, dsn = _dsn(settings)
    try:
        deleted = importer.run(importer.delete_sensors(dsn, args.ids))
    finally:
        database.close()
    for sensor_id in args.ids:
        console().print(f"deleted {sensor_id}" if sensor_id in deleted else f"[red]no sensor {sensor_id}[/]")
    return 0 if len(deleted) == len(set(args.ids)) else 1


def _private_broker(settings: Settings) -> str | None:
    """The URL of the private mosquitto a local server runs under the data directory, if it runs."""
    from twin.live.broker import MosquittoBroker

    broker = MosquittoBroker(settings.data_dir)
    return broker.service_url if broker.running() else None  # with the server's own credential


def cmd_simulate_sensors(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from twin.live.simulate import SimulationOptions, simulate

    mqtt_url = None
    if args.mqtt:
        mqtt_url = args.mqtt_url or settings.mqtt_url or _private_broker(settings)
        if not mqtt_url:
            console().print("[red]error:[/] --mqtt needs --mqtt-url, CITYTWIN_MQTT_URL or a server running its "
                            "private broker under this CITYTWIN_DATA_DIR")
            return 2
    options = SimulationOptions(url=args.url.rstrip("/"), rate=args.rate, sensors=args.sensors,
                                seconds=args.seconds, mqtt_url=mqtt_url)

    def report(elapsed: float, totals: Totals, rate: float) -> None:
        done = (f"published {totals.sent:,}" if mqtt_url else
                f"sent {totals.sent:,}  accepted {totals.accepted:,}  rejected {totals.rejected:,}")
        console().print(f"{elapsed:6.1f} s  {rate:9,.0f} readings/s  {done}  errors {totals.errors:,}  "
                        f"behind {totals.behind:,}", soft_wrap=True)

    try:
        totals = asyncio.run(simulate(options, report))
    except (RuntimeError, OSError) as exc:
        console().print(f"[red]error:[/] {exc}")
        return 2
    if args.json:
        _print_json(totals.as_json())
    for reason in totals.reasons[:5]:
        console().print(f"[yellow]e.g.:[/] {reason}")
    return 0 if not (totals.errors or totals.rejected) else 1


def add_commands(sub: Any) -> None:
    """Register `sensors` and `simulate` on the top-level subparsers."""
    sensors = sub.add_parser("sensors", help="sensors of the live twin, straight in the database")
    actions = sensors.add_subparsers(dest="action", required=True)
    imp = actions.add_parser("import", help="bulk import from CSV (id, kind, lon, lat, h, object_id, name, unit, "
                                            "more columns as attributes) or GeoJSON/GeoPackage/Shapefile points")
    imp.add_argument("path")
    imp.add_argument("--kind-attr", default="kind", help="column with the sensor kind (default: kind)")
    imp.add_argument("--id-attr", default="id", help="column with the device code (default: id)")
    imp.add_argument("--object-attr", default="object_id", help="column with the bound twin object "
                                                                "(default: object_id; else bound by position)")
    imp.add_argument("--crs", help="CRS of the positions (EPSG code) when the layer has none (CSV: lon/lat are "
                                   "then x/y in it); default WGS84")
    imp.add_argument("--layer", help="layer name in a multi-layer source such as a GeoPackage")
    imp.add_argument("--json", action="store_true", help="print a machine-readable summary")
    imp.set_defaults(handler=cmd_sensors_import)
    listing = actions.add_parser("list", help="every stored sensor")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.set_defaults(handler=cmd_sensors_list)
    delete = actions.add_parser("delete", help="delete sensors (their readings stay until retention)")
    delete.add_argument("ids", nargs="+", metavar="ID")
    delete.set_defaults(handler=cmd_sensors_delete)

    simulate = sub.add_parser("simulate", help="load generators for a running server")
    targets = simulate.add_subparsers(dest="target", required=True)
    sim = targets.add_parser("sensors", help="simulated sensors sending readings at a rate")
    sim.add_argument("--rate", type=float, required=True, help="readings per second")
    sim.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default http://127.0.0.1:8000)")
    sim.add_argument("--sensors", type=int, default=1000, help="simulated sensors (created when missing)")
    sim.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C)")
    sim.add_argument("--mqtt", action="store_true", help="publish on MQTT instead of posting over HTTP")
    sim.add_argument("--mqtt-url", help="the broker (default CITYTWIN_MQTT_URL, else the local server's private "
                                        "one)")
    sim.add_argument("--json", action="store_true", help="print the totals as JSON at the end")
    sim.set_defaults(handler=cmd_simulate_sensors)
