"""Where tile content lives: in PostGIS itself, or in files beside it. PostGIS always holds the index.

Every store writes inside the caller's transaction, so a tileset changes together with its dataset: readers see
all of the old or all of the new. The file store writes content under a fresh version folder before the rows
that point at it are committed; `discard` removes that folder when the transaction fails and `collect` removes
files no row points at any more once it has committed. Reading is the same for every store: one primary-key
lookup, and the bytes come from the row or from the file it names.
"""

from __future__ import annotations

import hashlib
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import shapely
from sqlalchemy import Connection, Engine, text

from tiles.model import TileEntry

if TYPE_CHECKING:
    from twin.settings import Settings

TILE_COLUMNS = ("tileset_id, path, content_type, etag, content, storage_key, size_bytes, level, geometric_error,"
                " bounds, zmin, zmax, feature_ids, enu_box")


class NotFound(LookupError):
    """The requested record does not exist."""


class ContentUnavailable(RuntimeError):
    """The store holding a tile's content cannot be reached right now (answered 503, retried by clients)."""


@dataclass(frozen=True)
class TileBlob:
    content: bytes
    content_type: str
    etag: str


def content_etag(content: bytes) -> str:
    """A strong ETag: the first 128 bits of the content's SHA-256."""
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _ewkb(geometry: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


class ContentSource(Protocol):
    """Where the bytes of rows without content are read from: the file store or the S3 store."""

    def read_file(self, key: str) -> bytes: ...


class TileStore(ABC):
    """The contract: write entries in a transaction, delete some, read one by key."""

    name: str

    @abstractmethod
    def _place(self, tileset_id: str, version: int, entry: TileEntry) -> tuple[bytes | None, str | None]:
        """Keep the content somewhere: (bytes for the row, or None) and (a storage key, or None)."""

    def discard(self, tileset_id: str, version: int) -> None:  # noqa: B027 - nothing to undo by default
        """Undo `_place` for a version whose transaction failed."""

    def collect(self, engine: Engine, tileset_id: str) -> None:  # noqa: B027 - nothing to collect by default
        """Remove content no index row points at any more."""

    def write(self, conn: Connection, tileset_id: str, version: int, entries: Iterable[TileEntry]) -> None:
        """Insert or replace entries of a tileset (rows in PostGIS, content wherever this store keeps it)."""
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS tile_upload (LIKE tiles INCLUDING DEFAULTS) ON COMMIT DROP")
            cur.execute("TRUNCATE tile_upload")
            with cur.copy(f"COPY tile_upload ({TILE_COLUMNS}) FROM STDIN") as copy:
                for e in entries:
                    content, key = self._place(tileset_id, version, e)
                    bounds = e.bounds
                    copy.write_row((
                        tileset_id, e.path, e.content_type, content_etag(e.content), content, key, len(e.content),
                        e.level, e.geometric_error, _ewkb(shapely.Polygon(bounds.ring)) if bounds else None,
                        bounds.zmin if bounds else None, bounds.zmax if bounds else None,
                        list(e.feature_ids) or None, list(e.enu_box) or None,
                    ))
            cur.execute(f"INSERT INTO tiles ({TILE_COLUMNS}) SELECT {TILE_COLUMNS} FROM tile_upload "
                        "ON CONFLICT (tileset_id, path) DO UPDATE SET "
                        + ", ".join(f"{c} = EXCLUDED.{c}" for c in TILE_COLUMNS.split(", ")[2:]))
            cur.execute("TRUNCATE tile_upload")

    def delete(self, conn: Connection, tileset_id: str, paths: Sequence[str]) -> None:
        if paths:
            conn.execute(text("DELETE FROM tiles WHERE tileset_id = :t AND path = ANY(:p)"),
                         {"t": tileset_id, "p": list(paths)})


class PostgisTileStore(TileStore):
    """Content as bytea in the `tiles` row: the embedded default."""

    name = "postgis"

    def _place(self, tileset_id: str, version: int, entry: TileEntry) -> tuple[bytes | None, str | None]:
        return entry.content, None


class FileTileStore(TileStore):
    """Content in files under `root/<tileset>/v<version>/`, for large deployments and static mirrors."""

    name = "files"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _place(self, tileset_id: str, version: int, entry: TileEntry) -> tuple[bytes | None, str | None]:
        key = f"{tileset_id}/v{version}/{entry.path}"
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"tile path {entry.path!r} escapes the store")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".part")
        temporary.write_bytes(entry.content)
        temporary.replace(target)
        return None, key

    def discard(self, tileset_id: str, version: int) -> None:
        shutil.rmtree(self.root / tileset_id / f"v{version}", ignore_errors=True)

    def collect(self, engine: Engine, tileset_id: str) -> None:
        with engine.connect() as conn:
            keep = {row[0] for row in conn.execute(
                text("SELECT storage_key FROM tiles WHERE tileset_id = :t AND storage_key IS NOT NULL"),
                {"t": tileset_id})}
        folder = self.root / tileset_id
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*"), reverse=True):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def read_file(self, key: str) -> bytes:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise NotFound(f"no tile content {key!r}")
        try:
            return target.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"tile content {key!r} is missing from the file store") from exc


def read_tile(engine: Engine, files: ContentSource | None, tileset_id: str, path: str) -> TileBlob:
    """One primary-key lookup; the bytes come from the row or from the file or object store."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT content, storage_key, content_type, etag FROM tiles WHERE tileset_id = :t AND path = :p"),
            {"t": tileset_id, "p": path},
        ).first()
    if row is None:
        raise NotFound(f"no tile {path!r} in tileset {tileset_id!r}")
    if row.content is not None:
        return TileBlob(bytes(row.content), row.content_type, row.etag)
    if files is None:
        raise NotFound(f"tile {path!r} of {tileset_id!r} lives in a file store that is not configured")
    return TileBlob(files.read_file(row.storage_key), row.content_type, row.etag)


def make_store(kind: str, tile_dir: Path | None) -> TileStore:
    if kind == "postgis":
        return PostgisTileStore()
    if kind == "files":
        if tile_dir is None:
            raise ValueError("the file tile store needs CITYTWIN_TILE_DIR")
        return FileTileStore(tile_dir)
    raise ValueError(f"unknown tile store {kind!r}: use 'postgis', 'files' or 's3'")


def store_for(settings: Settings) -> TileStore:
    """The store ingests write to, as configured (`CITYTWIN_TILE_STORE`)."""
    if settings.tile_store == "s3":
        from twin.tilestore_s3 import S3TileStore
        return S3TileStore(settings.s3_config())
    return make_store(settings.tile_store, settings.tile_dir)


def content_source_for(settings: Settings) -> ContentSource | None:
    """Where served rows without inline content are read from: the S3 store, else the file store if set."""
    if settings.tile_store == "s3":
        from twin.tilestore_s3 import S3TileStore
        return S3TileStore(settings.s3_config())
    return FileTileStore(settings.tile_dir) if settings.tile_dir else None
