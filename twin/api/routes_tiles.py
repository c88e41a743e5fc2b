"""3D Tiles over HTTP: the tileset list and every tileset entry, with strong ETags and caching."""

from __future__ import annotations

import gzip
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from twin.api.deps import DatabaseDep, EngineDep
from twin.api.responses import OrjsonResponse
from twin.repository import get_tile, list_tilesets

router = APIRouter()
SAFE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._/-]{1,512}$")
CONTENT_CACHE = "public, max-age=86400"
TILESET_CACHE = "public, max-age=0, must-revalidate"


@router.get("/health", tags=["service"])
def health(db: DatabaseDep) -> OrjsonResponse:
    state = db.health()
    return OrjsonResponse({"status": "ok" if state["ok"] else "degraded", "database": state},
                          status_code=200 if state["ok"] else 503)


@router.get("/tilesets", tags=["tiles"])
def tilesets(engine: EngineDep) -> OrjsonResponse:
    rows: list[dict[str, Any]] = list_tilesets(engine)
    for row in rows:
        row["url"] = f"/tilesets/{row['id']}/tileset.json"
    return OrjsonResponse(rows)


def _matches(header: str | None, etags: set[str]) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") in etags for tag in header.split(","))


@router.api_route("/tilesets/{tileset_id}/{path:path}", methods=["GET", "HEAD"], tags=["tiles"])
def tile(tileset_id: str, path: str, request: Request, engine: EngineDep) -> Response:
    """`tileset.json` or a content file; `If-None-Match` → 304, JSON gzipped when the client accepts it."""
    if not SAFE_PATH.match(path):
        raise HTTPException(status_code=400, detail=f"invalid tile path {path!r}")
    blob = get_tile(engine, tileset_id, path)
    is_json = blob.content_type == "application/json"
    gzip_ok = is_json and "gzip" in request.headers.get("accept-encoding", "")
    etag = blob.etag[:-1] + '-gz"' if gzip_ok else blob.etag
    headers = {
        "ETag": etag,
        "Cache-Control": TILESET_CACHE if path.endswith("tileset.json") else CONTENT_CACHE,
        "Vary": "Accept-Encoding",
    }
    if _matches(request.headers.get("if-none-match"), {etag, blob.etag}):
        return Response(status_code=304, headers=headers)
    body = blob.content
    if gzip_ok:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=blob.content_type, headers=headers)
