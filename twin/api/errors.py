"""Domain errors mapped to HTTP status codes in one place."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ingest_gis.records import IngestError
from twin.embedded import EmbeddedDatabaseError
from twin.ogc.errors import QueryError
from twin.repository import NotFound

BAD_REQUEST_PREFIXES = ("/ogc", "/query", "/objects/")
"""Where invalid query parameters answer 400, as OGC API – Features asks, rather than FastAPI's 422."""


def json_safe(value: Any) -> Any:
    """A JSON value with each non-finite float (a body's `1e999` reads as infinity, which no JSON holds) as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


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
        if not request.url.path.startswith(BAD_REQUEST_PREFIXES):  # FastAPI's 422, its echoed input JSON-safe
            return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=400)

    app.add_exception_handler(RequestValidationError, invalid_parameters)
