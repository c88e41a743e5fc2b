"""3D Tiles over HTTP: the tileset list and every tileset entry, with strong ETags and caching."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twin.api.deps import DatabaseDep, EngineDep
from twin.api.responses import OrjsonResponse
from twin.repository import list_tilesets

router = APIRouter()
TILE_ROUTE = "/tilesets/{tileset_id}/{path:path}"


@router.get("/health", tags=["service"])
def health(db: DatabaseDep) -> OrjsonResponse:
    state = db.health()
    return OrjsonResponse({"status": "ok" if state["ok"] else "degraded", "database": state},
                          status_code=200 if state["ok"] else 503)


@router.get("/tilesets", tags=["tiles"])
def tilesets(engine: EngineDep) -> OrjsonResponse:
    rows: list[dict[str, Any]] = [r for r in list_tilesets(engine) if r["kind"] != "terrain"]  # see GET /terrain
    for row in rows:
        row["url"] = f"/tilesets/{row['id']}/tileset.json"
    return OrjsonResponse(rows)


@router.get(TILE_ROUTE, tags=["tiles"])
def tile(tileset_id: str, path: str, request: Request) -> Response:
    """`tileset.json`, a subtree or a content file: strong ETag, `If-None-Match` → 304, gzip for JSON,
    byte ranges, CORS. Served by the ASGI fast path in front of the app; this route documents it."""
    reply = request.app.state.tiles.respond(
        tileset_id, path, if_none_match=request.headers.get("if-none-match"),
        accept_encoding=request.headers.get("accept-encoding", ""), range_header=request.headers.get("range"),
        head=request.method == "HEAD", accept=request.headers.get("accept", ""))
    headers = {k.decode(): v.decode() for k, v in reply.headers if k != b"content-length"}
    return Response(reply.body, status_code=reply.status, headers=headers)
