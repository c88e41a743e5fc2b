"""Dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from twin.db import Database
from twin.settings import Settings


def _database(request: Request) -> Database:
    return request.app.state.db


def _engine(request: Request) -> Engine:
    return request.app.state.db.engine


async def _engine_inline(request: Request) -> Engine:
    """The same engine, handed out on the event loop: a sync dependency would cost a thread-pool hop."""
    return request.app.state.db.engine


def _settings(request: Request) -> Settings:
    return request.app.state.settings


DatabaseDep = Annotated[Database, Depends(_database)]
EngineDep = Annotated[Engine, Depends(_engine)]
InlineEngineDep = Annotated[Engine, Depends(_engine_inline)]
SettingsDep = Annotated[Settings, Depends(_settings)]
