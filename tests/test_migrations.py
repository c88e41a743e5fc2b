"""Migrations: the head is known without Alembic, and Alembic runs only for a database behind it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tests.conftest import _admin
from twin.db import MIGRATIONS, create_db_engine, head_revision, migrate, schema_is_current


@pytest.fixture
def empty_engine(server_url: str) -> Iterator[Engine]:
    """An engine on a new database without any schema."""
    name = f"citytwin_empty_{uuid.uuid4().hex[:12]}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_db_engine(make_url(server_url).set(database=name).render_as_string(False))
    yield engine
    engine.dispose()
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_head_read_from_the_version_files_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_an_empty_database_is_migrated_to_the_head_and_then_counts_as_current(empty_engine: Engine) -> None:
    assert not schema_is_current(empty_engine)
    migrate(empty_engine)
    assert schema_is_current(empty_engine)
    migrate(empty_engine)  # nothing to do: must not fail on the existing schema
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
        assert conn.execute(text("SELECT to_regclass('twin_objects')")).scalar() is not None


def test_a_database_behind_the_head_is_not_current(engine: Engine) -> None:
    assert schema_is_current(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not schema_is_current(engine)
