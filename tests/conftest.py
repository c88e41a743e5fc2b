"""Test fixtures: a real PostGIS (the embedded cluster, or CITYTWIN_TEST_DATABASE_URL), one database per test."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ingest_gis.footprints import FootprintOptions
from tests.helpers.data import shared_data
from twin.api import create_app
from twin.api.lean_http import LeanHttpProtocol
from twin.db import Database, create_db_engine, migrate
from twin.embedded import EmbeddedPostgres
from twin.ingest import ingest_footprints
from twin.localhost import free_port
from twin.settings import Settings

TEMPLATE = "citytwin_test_template"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the PostgreSQL server's maintenance database (superuser)."""
    external = os.environ.get("CITYTWIN_TEST_DATABASE_URL")
    if external:
        yield external
        return
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("cluster"), fsync=False)
    cluster.start()
    try:
        yield cluster.url("postgres")
    finally:
        cluster.stop()


def _admin(server_url: str) -> psycopg.Connection:
    url = make_url(server_url)
    return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                           dbname=url.database, autocommit=True)


@pytest.fixture(scope="session")
def template_database(server_url: str) -> str:
    """A database with the schema migrated, cloned for every test."""
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    engine = create_db_engine(make_url(server_url).set(database=TEMPLATE).render_as_string(False))
    migrate(engine)
    engine.dispose()
    return TEMPLATE


def _fresh_database(server_url: str, template: str) -> str:
    name = f"citytwin_test_{uuid.uuid4().hex[:16]}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(server_url).set(database=name).render_as_string(False)


def _drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    url = _fresh_database(server_url, template_database)
    yield url
    _drop_database(server_url, url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@dataclass
class LiveCity:
    base_url: str
    tileset_id: str
    object_ids: list[str]
    engine: Engine


@contextmanager
def serving(settings: Settings, database: Database) -> Iterator[str]:
    """Run the real app with uvicorn on a free loopback port; yields its base URL."""
    with serving_app(create_app(settings, database)) as base_url:
        yield base_url


@contextmanager
def serving_app(app: FastAPI, **options: Any) -> Iterator[str]:
    """Run this app as `citytwin serve` does (uvicorn, the lean protocol, lifespan and all) on a free loopback
    port, with more uvicorn `options` if given; yields its base URL."""
    for attempt in range(3):  # a free port may be taken by another process before uvicorn binds it
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=LeanHttpProtocol,
                                **options)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.started:
            break
        server.should_exit = True
        thread.join(timeout=10)
        if attempt == 2 or time.monotonic() >= deadline:
            raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def populated_server(server_url: str, template_database: str, data_dir: Path,
                     populate: Callable[[Engine], None]) -> Iterator[tuple[str, Engine]]:
    """A fresh database filled by `populate`, served by the real app; dropped afterwards even if filling fails."""
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    try:
        populate(engine)
        with serving(Settings(database_url=url, data_dir=data_dir), Database(engine)) as base_url:
            yield base_url, engine
    finally:
        engine.dispose()
        _drop_database(server_url, url)


@pytest.fixture(scope="session")
def live_city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[LiveCity]:
    """A running server with the Berlin footprints ingested."""
    summary: dict[str, Any] = {}

    def populate(engine: Engine) -> None:
        summary.update(ingest_footprints(engine, shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"),
                                         FootprintOptions(name="berlin")))

    with populated_server(server_url, template_database, tmp_path_factory.mktemp("live"), populate) as (url, engine):
        with engine.connect() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM twin_objects ORDER BY id")]
        yield LiveCity(url, summary["tileset_id"], ids, engine)


@dataclass
class QueryCity:
    base_url: str
    engine: Engine


@pytest.fixture(scope="session")
def query_city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[QueryCity]:
    """A running server with Berlin and NYC footprints plus a hand-made house with storeys and rooms."""
    from tests.helpers.city import add_house_and_street

    def populate(engine: Engine) -> None:
        for name, path in (("berlin", "gis/osm_berlin_prenzlauerberg_buildings.geojson"),
                           ("nyc", "gis/osm_nyc_ridgewood_buildings.geojson")):
            ingest_footprints(engine, shared_data(path), FootprintOptions(name=name))
        add_house_and_street(engine)

    with populated_server(server_url, template_database, tmp_path_factory.mktemp("query"), populate) as (url, engine):
        yield QueryCity(url, engine)


def serving_worker(stack: ExitStack, database_url: str, folder: Path, **settings: object) -> str:
    """One more server worker on `database_url` (its own engine and data folder), closed with `stack`: its URL."""
    engine = create_db_engine(database_url)
    stack.callback(engine.dispose)
    app = create_app(Settings(database_url=database_url, data_dir=folder, **settings), Database(engine))
    return stack.enter_context(serving_app(app))
