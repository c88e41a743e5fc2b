"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from twin import __version__
from twin.access.asgi import authorize, with_key_cookie
from twin.access.control import AccessControl
from twin.access.store import KEYS_CHANGED, load_keys
from twin.api import (
    errors,
    routes_buildings,
    routes_drills,
    routes_events,
    routes_jobs,
    routes_live,
    routes_networks,
    routes_objects,
    routes_ogc,
    routes_ops,
    routes_queries,
    routes_sta,
    routes_terrain,
    routes_tiles,
    routes_viewer,
)
from twin.api.guards import no_nul_characters
from twin.api.limits import with_body_limit
from twin.api.query_server import CORS_EXPOSED, QueryServer, route_template, serve_query
from twin.api.tile_server import Receive, Scope, Send, TileServer, serve_tile
from twin.db import Database, open_database
from twin.drills.service import DrillService
from twin.jobs import JobRunner
from twin.live.direct import RAW_SEND
from twin.live.mqtt_bridge import open_mqtt
from twin.live.service import LiveOptions, LiveService
from twin.notices import NoticeListener
from twin.ops import metrics
from twin.ops.drain import Drain
from twin.ops.heap import settle_heap
from twin.ops.http import ROUTE_KEY, observed
from twin.settings import Settings
from twin.tilestore import content_source_for

log = logging.getLogger(__name__)
APP_STATE_KEY = "citytwin.app"
"""The lifespan state naming the app, for connection protocols that answer from `app.state.queries`."""


class CityTwinApp(FastAPI):
    """FastAPI with tile requests and the commonest location queries answered in bare ASGI before any middleware
    or routing, and request bodies capped (`max_body_kb`; ingest uploads have `max_upload_mb`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                scope[RAW_SEND] = send  # before any middleware wraps it: the live deltas' fast path (twin.live.direct)
            access = getattr(self.state, "access", None)
            if scope["type"] == "websocket" and access is not None and \
                    await authorize(access, scope, send, time.monotonic()) is None:
                return
            await super().__call__(scope, receive, send)
            return
        await observed(self._http, scope, receive, send, self.state.access_log)  # metrics, JSON access log

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        access = getattr(self.state, "access", None)
        if access is not None:
            if await authorize(access, scope, send, time.monotonic()) is None:  # twin/access: 401, 403, 429
                return
            send = with_key_cookie(scope, send)
        tiles = getattr(self.state, "tiles", None)
        if tiles is not None and await serve_tile(tiles, scope, send):
            scope[ROUTE_KEY] = routes_tiles.TILE_ROUTE
            return
        queries = getattr(self.state, "queries", None)
        if queries is not None and await serve_query(queries, scope, send):
            scope[ROUTE_KEY] = route_template(scope["path"])
            return
        if scope["path"].startswith("/ingest/"):  # uploads have their own, larger limit
            await super().__call__(scope, receive, send)
            return
        limit = self.state.settings.max_body_kb * 1024
        await with_body_limit(super().__call__, scope, receive, send, limit)


def reload_keys(access: AccessControl, engine: Engine) -> bool:
    """The key table read afresh into `access`; False (and nothing but the public routes open) when the
    database cannot be read."""
    try:
        access.replace(load_keys(engine))
    except SQLAlchemyError as exc:
        log.error("API keys cannot be read (%s): only public routes answer until they can", exc.__class__.__name__)
        access.shut()
        return False
    return True


async def retry_keys(access: AccessControl, engine: Engine, every_s: float = 5.0) -> None:
    """Read the key table again every `every_s` until it can be read."""
    while not await asyncio.to_thread(reload_keys, access, engine):
        await asyncio.sleep(every_s)


async def open_live(settings: Settings, dsn: str) -> LiveService | None:
    """The worker's live layer, or None (and the live routes answer 503) when it cannot start."""
    options = LiveOptions(bus_url=settings.bus_url, retention_days=settings.reading_retention_days,
                          max_batch=settings.max_readings_per_batch, event_level=settings.alarm_event_level,
                          outbox_limit=settings.live_outbox_limit)
    try:
        return await LiveService.open(dsn, options)
    except Exception:
        log.exception("the live layer could not start")
        return None


async def open_drills(live: LiveService, database: Database) -> DrillService | None:
    """The worker's drill runner, or None (and the drill routes answer 503) when it cannot start."""
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await DrillService.open(live, database.engine, dsn)
    except Exception:
        log.exception("the drill runner could not start")
        return None


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """Build the app; opens (and on shutdown closes) the database unless one is handed in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        owned = database is None
        app.state.db = database or open_database(settings)
        files = content_source_for(settings)
        app.state.tiles = TileServer(app.state.db.engine, files, settings.tile_cache_mb * 2**20,
                                     settings.cors_origins[0] if len(settings.cors_origins) == 1 else "*")
        url = app.state.db.engine.url.render_as_string(hide_password=False)
        app.state.live = await open_live(settings, app.state.db.engine.url.set(drivername="postgresql")
                                         .render_as_string(hide_password=False))
        app.state.mqtt = await open_mqtt(settings, app.state.live, app.state.db.engine) \
            if app.state.live is not None else None
        app.state.drills = await open_drills(app.state.live, app.state.db) if app.state.live is not None else None
        loop = asyncio.get_running_loop()

        app.state.access = AccessControl([], public_read=settings.public_read, rate=settings.rate_limit_per_s,
                                         burst=settings.rate_limit_burst)  # read below, before serving
        if app.state.mqtt is not None:  # the private broker's users and topics follow the key table
            app.state.access.listeners.append(app.state.mqtt.keys_changed)

        def tileset_changed(notice: dict[str, Any]) -> None:
            if notice.get("type") == KEYS_CHANGED:  # `citytwin keys create|revoke`: in force at once
                reload_keys(app.state.access, app.state.db.engine)
                return
            if notice.get("type") == "sensors_changed":  # written by `citytwin sensors` (twin/live/importer.py)
                if app.state.live is not None:
                    asyncio.run_coroutine_threadsafe(app.state.live.reload_sensors(notice["ids"]), loop)
                return
            app.state.tiles.cache.drop_tileset(notice["tileset"])
            if app.state.live is not None:
                asyncio.run_coroutine_threadsafe(app.state.live.tileset_changed(notice), loop)

        listener = NoticeListener(url, [tileset_changed])
        listener.start()
        # a key made while the listener connected; a key table that cannot be read keeps everything but the public
        # routes shut (fail closed) and is read again every few seconds until it can be
        keys_pending = not reload_keys(app.state.access, app.state.db.engine)
        key_retry = asyncio.create_task(retry_keys(app.state.access, app.state.db.engine),
                                        name="citytwin-keys") if keys_pending else None
        app.state.jobs = JobRunner(app.state.db.engine)
        app.state.queries = await QueryServer.open(app.state.db.engine, settings.cors_origins)
        live = app.state.live
        app.state.drain = Drain(settings.drain_timeout_s, lambda: live.sessions if live is not None else ())
        app.state.drain.install()  # SIGTERM: stop accepting, websockets told to resume elsewhere, then shut down
        metrics.forget_dead_workers()
        sampler = asyncio.create_task(metrics.sample_every(live), name="citytwin-metrics") if live else None
        settle_heap()  # what startup made lives as long as the worker (twin/ops/heap.py)
        try:
            yield {APP_STATE_KEY: app}
        finally:
            app.state.drain.uninstall()
            if key_retry is not None:
                key_retry.cancel()
            if sampler is not None:
                sampler.cancel()
            if app.state.drills is not None:
                await asyncio.to_thread(app.state.drills.close)
            if app.state.mqtt is not None:
                await app.state.mqtt.close()
            if app.state.live is not None:
                await app.state.live.close()
            if app.state.queries is not None:
                await app.state.queries.close()
            app.state.jobs.shutdown()
            listener.stop()
            if owned:
                app.state.db.close()

    app = CityTwinApp(title="CityTwin", version=__version__, lifespan=lifespan,
                      dependencies=[Depends(no_nul_characters)],
                  description="Digital-twin 3D city server: twin objects in PostGIS, OGC 3D Tiles, live state.")
    app.state.settings = settings
    app.state.access_log = settings.log_format == "json"
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"], allow_headers=["*"],
                       expose_headers=list(CORS_EXPOSED))
    errors.add_exception_handlers(app)
    app.include_router(routes_ops.router)
    app.include_router(routes_tiles.router)
    app.include_router(routes_objects.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_buildings.router)
    app.include_router(routes_ogc.router)
    app.include_router(routes_queries.router)
    app.include_router(routes_live.router)
    app.include_router(routes_sta.router)
    app.include_router(routes_events.router)
    app.include_router(routes_drills.router)
    app.include_router(routes_terrain.router)
    app.include_router(routes_networks.router)
    app.include_router(routes_viewer.router)
    routes_viewer.mount_static(app, settings)
    return app
