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

if TYPE_CHECKING:  # settings, rich, SQLAlchemy and psycopg load when a command needs them (`ingest ifc` starts
    from rich.console import Console  # its model's geometry iterator first, which computes meanwhile)

    from twin.db import Database
    from twin.settings import Settings


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


class ServeRefused(Exception):
    """`serve` will not bind as asked (twin.cli_keys.exposure_refusal); the message says why and what to do."""


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

    db = sub.add_parser("db", help="the embedded PostGIS cluster")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(handler=cmd_db)

    from twin.cli_ingest import add_ingest_command

    add_ingest_command(sub)  # ingest footprints|footprint-files|ifc|oblique|cityjson|citygml|pointcloud|tileset|…
    from twin.cli_serve import add_serve_commands

    add_serve_commands(sub)  # serve, demo

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
