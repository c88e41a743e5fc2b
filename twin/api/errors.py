"""Domain errors mapped to HTTP status codes in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ingest_gis.records import IngestError
from twin.embedded import EmbeddedDatabaseError
from twin.ogc.errors import QueryError
from twin.repository import NotFound

BAD_REQUEST_PREFIXES = ("/ogc", "/query", "/objects/")
"""Where invalid query parameters answer 400, as OGC API – Features asks, rather than FastAPI's 422."""


def add_exception_handlers(app: FastAPI) -> None:
    def handler(status: int):  # type: ignore[no-untyped-def]
        async def respond(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return respond

    app.add_exception_handler(NotFound, handler(404))
    app.add_exception_handler(IngestError, handler(400))
    app.add_exception_handler(EmbeddedDatabaseError, handler(503))
    app.add_exception_handler(QueryError, handler(400))

    async def invalid_parameters(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(BAD_REQUEST_PREFIXES):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=400)

    app.add_exception_handler(RequestValidationError, invalid_parameters)
