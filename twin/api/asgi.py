"""The app built from the environment, for servers that import it by name (e.g. `uvicorn --workers N`)."""

from fastapi import FastAPI

from twin.api.app import create_app
from twin.settings import Settings


def app_from_environment() -> FastAPI:
    """A factory: each worker process builds its own app, engine and tile cache from `CITYTWIN_*`."""
    return create_app(Settings())
