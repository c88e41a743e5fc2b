"""`citytwin serve` (one process, or several workers sharing their live layer through Redis) and `citytwin demo`,
with the private MQTT broker both start when none is configured."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from twin.cli import ServeRefused, _say, console, open_database, progress_bars

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.db import Database
    from twin.settings import Settings


@contextmanager
def mqtt_broker(settings: Settings, engine: Engine | None = None) -> Iterator[Settings]:
    """The settings naming the MQTT broker: with none configured, the private mosquitto started here (once, before
    any worker; its users those of the key table in `engine`) and stopped after; MQTT off, said why, when it cannot
    start."""
    from twin.live.broker import BrokerError, MosquittoBroker
    from twin.live.mqtt_access import broker_files, initial_keys

    broker = None
    if settings.mqtt and not settings.mqtt_url:
        broker = MosquittoBroker(settings.data_dir)
        try:
            if engine is not None:
                broker.apply_auth(broker_files(broker, initial_keys(engine)))
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


def serve(settings: Settings, database: Database | None = None) -> None:
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
        with mqtt_broker(settings, database.engine) as settings:
            _say(settings, f"CityTwin serving on http://{settings.host}:{settings.port}")
            uvicorn.run(create_app(settings, database), host=settings.host, port=settings.port, log_level="info",
                        http=LeanHttpProtocol, ws_max_size=settings.ws_max_message_kb * 1024,
                        **serving.uvicorn_options(settings.log_format, settings.drain_timeout_s))
    finally:
        if owned:
            database.close()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.model_copy(update={"host": args.host, "port": args.port,
                                           "open_access": settings.open_access or args.open_access})
    if args.workers <= 1:
        serve(settings)
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
        with mqtt_broker(settings, database.engine) as settings, \
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
                serve(settings, database)
            finally:
                feeder.stop()
    finally:
        database.close()
    return 0



def add_serve_commands(sub: Any) -> None:
    """`citytwin serve` and `citytwin demo`."""
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
