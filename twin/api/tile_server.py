"""Serving tileset entries: a sans-I/O core, a bare-ASGI fast path in front of FastAPI, and a small cache.

`TileServer.respond` turns (tileset, path, request headers) into (status, headers, body): strong ETags from the
content hash, 304 on `If-None-Match`, gzip for JSON, single byte ranges, CORS, and caching rules — a file whose
name carries its content hash (`…-<sha256 prefix>.glb`, as explicit tilesets name content) is immutable for a
year, `tileset.json` and a terrain's `layer.json` must revalidate, other entries (implicit tiling's, terrain
tiles) are fresh for a minute. Quantized-mesh terrain tiles are gzipped like JSON and carry their vertex normals
extension only for a client whose `Accept` asks for it (`extensions=octvertexnormals`, as CesiumTerrainProvider
sends it); others get the tile cut before its extensions, under an ETag of its own. Entries are
cached per worker after one primary-key lookup; a "tileset changed" notice (PostgreSQL NOTIFY, see
`twin.notices`) drops a tileset's cached entries.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
from sqlalchemy import Engine

from twin.tilestore import ContentSource, ContentUnavailable, NotFound, TileBlob, read_tile

SAFE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._/-]{1,512}$")
NAMED_CONTENT = re.compile(r"-([0-9a-f]{8,64})\.[a-z0-9]+$")
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=0, must-revalidate"
SHORT = b"public, max-age=60"
QUANTIZED_MESH = "application/vnd.quantized-mesh"
COMPRESSIBLE = ("application/json", QUANTIZED_MESH)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class _Cached:
    """A cached entry with the header values every response of it needs, encoded once."""

    blob: TileBlob
    gzipped: bytes | None
    etag: bytes
    gzip_etag: bytes
    content_type: bytes
    base_length: int | None = None  # a terrain tile's bytes before its extensions

    @classmethod
    def of(cls, blob: TileBlob) -> _Cached:
        compress = blob.content_type in COMPRESSIBLE
        base = None
        if blob.content_type == QUANTIZED_MESH:
            from tiles.terrain.quantized import read_tile

            try:
                base = read_tile(blob.content).base_length
            except ValueError:
                base = None
        return cls(blob, gzip.compress(blob.content, 6, mtime=0) if compress else None, blob.etag.encode(),
                   (blob.etag[:-1] + '-gz"').encode(), blob.content_type.encode(), base)


class TileCache:
    """A byte-bounded LRU of tileset entries, safe across threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> _Cached | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], value: _Cached) -> None:
        size = len(value.blob.content) + len(value.gzipped or b"")
        if size > self.max_bytes // 4:
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.bytes -= len(old.blob.content) + len(old.gzipped or b"")
            self.entries[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, dropped = self.entries.popitem(last=False)
                self.bytes -= len(dropped.blob.content) + len(dropped.gzipped or b"")

    def drop_tileset(self, tileset_id: str) -> None:
        with self.lock:
            for key in [k for k in self.entries if k[0] == tileset_id]:
                dropped = self.entries.pop(key)
                self.bytes -= len(dropped.blob.content) + len(dropped.gzipped or b"")


def _matches(header: str | None, etags: set[str]) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") in etags for tag in header.split(","))


def _range(header: str, size: int) -> tuple[int, int] | None:
    """The single byte range `bytes=a-b` / `a-` / `-n` within `size`, or None when unsatisfiable/unsupported."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end < size else None


class TileServer:
    """Answers tile requests from the cache or one indexed lookup."""

    def __init__(self, engine: Engine, files: ContentSource | None, cache_bytes: int = 256 * 2**20,
                 cors_origin: str = "*") -> None:
        self.engine = engine
        self.files = files
        self.cache = TileCache(cache_bytes)
        self.cors = [(b"access-control-allow-origin", cors_origin.encode()),
                     (b"access-control-expose-headers", b"ETag, Content-Length, Content-Range"),
                     (b"accept-ranges", b"bytes")]

    def load(self, tileset_id: str, path: str) -> _Cached:
        key = (tileset_id, path)
        found = self.cache.get(key)
        if found is None:
            found = _Cached.of(read_tile(self.engine, self.files, tileset_id, path))
            self.cache.put(key, found)
        return found

    def respond(self, tileset_id: str, path: str, *, if_none_match: str | None = None,
                accept_encoding: str = "", range_header: str | None = None, head: bool = False,
                accept: str = "") -> Reply:
        """The whole answer to one GET or HEAD of a tileset entry."""
        if not SAFE_ID.match(tileset_id) or not SAFE_PATH.match(path):
            return self._error(400, f"invalid tile path {path!r}")
        try:
            cached = self.load(tileset_id, path)
        except NotFound as exc:
            return self._error(404, str(exc))
        except ContentUnavailable as exc:
            return self._error(503, str(exc))
        blob = cached.blob
        if cached.base_length is not None and cached.base_length < len(blob.content) and \
                "octvertexnormals" not in accept:
            return self._base_terrain(cached, if_none_match, head)
        gzip_ok = cached.gzipped is not None and "gzip" in accept_encoding
        etag = cached.gzip_etag if gzip_ok else cached.etag
        if path.endswith(("tileset.json", "layer.json")):
            cache_control = REVALIDATE
        elif (named := NAMED_CONTENT.search(path)) and blob.etag[1:].startswith(named.group(1)):
            cache_control = IMMUTABLE
        else:
            cache_control = SHORT
        out = [(b"etag", etag), (b"cache-control", cache_control), *self.cors]
        if cached.base_length is not None:
            out.append((b"vary", b"Accept, Accept-Encoding"))
        elif cached.gzipped is not None:
            out.append((b"vary", b"Accept-Encoding"))
        if if_none_match and _matches(if_none_match, {etag.decode(), blob.etag}):
            return Reply(304, out, b"")
        body = cached.gzipped if gzip_ok and cached.gzipped is not None else blob.content
        out.append((b"content-type", cached.content_type))
        status = 200
        if range_header and not gzip_ok:
            span = _range(range_header, len(body))
            if span is None:
                return Reply(416, [*out, (b"content-range", f"bytes */{len(body)}".encode()),
                                   (b"content-length", b"0")], b"")
            start, end = span
            out.append((b"content-range", f"bytes {start}-{end}/{len(body)}".encode()))
            body, status = body[start : end + 1], 206
        if gzip_ok:
            out.append((b"content-encoding", b"gzip"))
        out.append((b"content-length", str(len(body)).encode()))
        return Reply(status, out, b"" if head else body)

    def _base_terrain(self, cached: _Cached, if_none_match: str | None, head: bool) -> Reply:
        """A terrain tile without its extensions, for a client that asked for none."""
        assert cached.base_length is not None
        etag = cached.blob.etag[:-1] + '-base"'
        out = [(b"etag", etag.encode()), (b"cache-control", SHORT), *self.cors,
               (b"vary", b"Accept, Accept-Encoding")]
        if if_none_match and _matches(if_none_match, {etag}):
            return Reply(304, out, b"")
        body = cached.blob.content[: cached.base_length]
        out += [(b"content-type", cached.content_type), (b"content-length", str(len(body)).encode())]
        return Reply(200, out, b"" if head else body)

    def _error(self, status: int, detail: str) -> Reply:
        import orjson

        body = orjson.dumps({"detail": detail})
        return Reply(status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                              *self.cors], body)


async def serve_tile(server: TileServer, scope: Scope, send: Send) -> bool:
    """Answer GET/HEAD `/tilesets/{id}/{path}` straight from ASGI; False when the request is not one."""
    path: str = scope["path"]
    if scope["method"] not in ("GET", "HEAD") or not path.startswith("/tilesets/") or path.count("/") < 3:
        return False
    _, _, tileset_id, entry = path.split("/", 3)
    if_none_match = accept_encoding = range_header = None
    accept = ""
    for name, value in scope["headers"]:
        if name == b"accept":
            accept = value.decode("latin-1")
        elif name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
        elif name == b"range":
            range_header = value.decode("latin-1")
    entry = unquote(entry)
    arguments = (tileset_id, entry)
    options = {"if_none_match": if_none_match, "accept_encoding": accept_encoding or "",
               "range_header": range_header, "head": scope["method"] == "HEAD", "accept": accept}
    if server.cache.get((tileset_id, entry)) is not None:  # warm: answer on the event loop, no thread hop
        reply = server.respond(*arguments, **options)
    else:
        reply = await anyio.to_thread.run_sync(lambda: server.respond(*arguments, **options))
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    await send({"type": "http.response.body", "body": reply.body})
    return True
