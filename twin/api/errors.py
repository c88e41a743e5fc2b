"""Domain errors mapped to HTTP status codes in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingest_gis.records import IngestError
from twin.embedded import EmbeddedDatabaseError
from twin.repository import NotFound


def add_exception_handlers(app: FastAPI) -> None:
    def handler(status: int):  # type: ignore[no-untyped-def]
        async def respond(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return respond

    app.add_exception_handler(NotFound, handler(404))
    app.add_exception_handler(IngestError, handler(400))
    app.add_exception_handler(EmbeddedDatabaseError, handler(503))
