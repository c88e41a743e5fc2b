"""Request text PostgreSQL cannot hold refused before any SQL runs: a NUL character in the path or a query
parameter (PostgreSQL text and JSON have no NUL) answers 400 instead of a driver error."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from twin.ogc.errors import QueryError


async def no_nul_characters(request: HTTPConnection) -> None:
    """Router dependency: 400 when the path or any query parameter name or value holds U+0000."""
    if "\x00" in request.url.path:
        raise QueryError("the path holds a NUL character (U+0000), which no object id or collection has")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise QueryError(f"query parameter {name.replace(chr(0), '?')!r} holds a NUL character (U+0000)")
