"""Database access: engines, migrations and the embedded-or-external choice in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:  # the cluster and settings are loaded by the commands that start a cluster, not by every import
    from twin.embedded import EmbeddedPostgres
    from twin.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver whatever form of PostgreSQL URL was given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgis"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str) -> Engine:
    # No pre-ping: it costs a round trip per request; a connection broken by a database restart fails one request
    # and is then replaced (SQLAlchemy invalidates the pool on disconnects).
    return create_engine(normalise_url(url), pool_size=10, max_overflow=10, pool_recycle=1800)


def head_revision() -> str:
    """The newest migration's revision, read from the version files (one linear chain) without Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", ""))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must form one chain with one head, found {sorted(heads)}")
    return heads.pop()


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the head revision (two cheap queries; Alembic is not loaded)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
            return False
        stamped: list[str] = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return stamped == [head_revision()]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (Alembic runs only when the database is behind)."""
    if schema_is_current(engine):
        return
    from alembic import command  # imported here: only a migration needs it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def embedded_cluster(settings: Settings) -> EmbeddedPostgres:
    from twin.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.data_dir, port=settings.embedded_port, bin_dir=settings.postgres_bin,
                            os_user=settings.db_user)


@dataclass
class Database:
    """The engine in use, and whether this process started the embedded cluster behind it."""

    engine: Engine
    embedded: EmbeddedPostgres | None = None
    started_here: bool = False

    def close(self, *, stop_embedded: bool | None = None) -> None:
        self.engine.dispose()
        stop = self.started_here if stop_embedded is None else stop_embedded
        if self.embedded is not None and stop:
            self.embedded.stop()

    def health(self) -> dict[str, object]:
        try:
            with self.engine.connect() as conn:
                postgis: str = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
                server: str = conn.execute(text("SHOW server_version")).scalar_one()
            return {"ok": True, "embedded": self.embedded is not None, "postgres": server, "postgis": postgis}
        except Exception as exc:  # report any failure as unhealthy rather than failing the probe
            return {"ok": False, "embedded": self.embedded is not None, "error": str(exc).splitlines()[0]}


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached; the message names it (without its password) and why."""


def open_database(settings: Settings, *, run_migrations: bool = True) -> Database:
    """Connect to the configured PostGIS, starting the embedded cluster when no URL is set; DatabaseUnavailable
    when it does not answer."""
    embedded = None
    started = False
    if settings.database_url:
        url = settings.database_url
    else:
        embedded = embedded_cluster(settings)
        started = embedded.start()
        url = embedded.url()
    database = Database(create_db_engine(url), embedded, started)
    try:
        if run_migrations:
            migrate(database.engine)
    except OperationalError as exc:
        database.close()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"cannot connect to the database at {database.engine.url!r}: {reason}") from exc
    return database


@contextmanager
def database_session(settings: Settings) -> Iterator[Database]:
    database = open_database(settings)
    try:
        yield database
    finally:
        database.close()
