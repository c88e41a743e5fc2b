"""Reading and writing datasets, twin objects and tiles in PostGIS.

A dataset is written in one transaction together with its objects, tileset and tiles, replacing any dataset of
the same name: a reader sees the old dataset or the new one, never half of either. Bulk rows go through COPY.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import shapely
from shapely.geometry import box
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from ingest_gis.records import IngestError, IngestResult
from tiles.model import BuiltTileset

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class NotFound(LookupError):
    """The requested record does not exist."""


@dataclass(frozen=True)
class TileBlob:
    content: bytes
    content_type: str
    etag: str


def check_dataset_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise IngestError(
            f"dataset name {name!r} must be 1–63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def content_etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _ewkb(geometry: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def write_dataset(engine: Engine, *, name: str, kind: str, source: str, result: IngestResult,
                  tileset: BuiltTileset) -> dict[str, Any]:
    """Store a dataset, its objects and its tileset atomically; returns the stored ids and counts."""
    check_dataset_name(name)
    minx, miny, maxx, maxy = shapely.total_bounds([o.footprint for o in result.objects])
    summary = {"warnings": result.warnings, "tile_count": tileset.content_count}
    total_bytes = sum(len(e.content) for e in tileset.entries)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM datasets WHERE name = :name"), {"name": name})
            conn.execute(
                text("INSERT INTO datasets (id, name, kind, source, source_crs, object_count, extent, summary) "
                     "VALUES (:id, :name, :kind, :source, :crs, :count, ST_GeomFromEWKB(decode(:extent, 'hex')),"
                     " CAST(:summary AS jsonb))"),
                {"id": name, "name": name, "kind": kind, "source": source, "crs": result.source_crs,
                 "count": len(result.objects), "extent": _ewkb(box(minx, miny, maxx, maxy)),
                 "summary": orjson.dumps(summary).decode()},
            )
            conn.execute(
                text("INSERT INTO tilesets (id, dataset_id, name, kind, content_count, total_bytes) "
                     "VALUES (:id, :id, :name, :kind, :count, :bytes)"),
                {"id": name, "name": name, "kind": kind, "count": tileset.content_count, "bytes": total_bytes},
            )
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                with cur.copy("COPY twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax,"
                              " attributes) FROM STDIN") as copy:
                    for o in result.objects:
                        copy.write_row((o.id, name, o.kind, o.name, o.parent_id, _ewkb(o.footprint), o.zmin,
                                        o.zmax, orjson.dumps(o.attributes).decode()))
                with cur.copy("COPY tiles (tileset_id, path, content_type, etag, content, level, geometric_error,"
                              " bounds, zmin, zmax, feature_ids) FROM STDIN") as copy:
                    for e in tileset.entries:
                        bounds = e.bounds
                        copy.write_row((
                            name, e.path, e.content_type, content_etag(e.content), e.content, e.level,
                            e.geometric_error, _ewkb(shapely.Polygon(bounds.ring)) if bounds else None,
                            bounds.zmin if bounds else None, bounds.zmax if bounds else None,
                            list(e.feature_ids) or None,
                        ))
    except IntegrityError as exc:
        raise IngestError(f"cannot store dataset {name!r}: {str(exc.orig).splitlines()[0]}") from exc
    return {"dataset_id": name, "tileset_id": name, "objects": len(result.objects),
            "tiles": tileset.content_count, "bytes": total_bytes}


def delete_dataset(engine: Engine, name: str) -> bool:
    with engine.begin() as conn:
        return conn.execute(text("DELETE FROM datasets WHERE name = :n"), {"n": name}).rowcount > 0


def get_tile(engine: Engine, tileset_id: str, path: str) -> TileBlob:
    """One indexed lookup for one tileset entry."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT content, content_type, etag FROM tiles WHERE tileset_id = :t AND path = :p"),
            {"t": tileset_id, "p": path},
        ).first()
    if row is None:
        raise NotFound(f"no tile {path!r} in tileset {tileset_id!r}")
    return TileBlob(bytes(row.content), row.content_type, row.etag)


def list_tilesets(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, name, kind, dataset_id, version, content_count, total_bytes FROM tilesets ORDER BY name")
        ).mappings().all()
    return [dict(r) for r in rows]


def list_datasets(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, name, kind, source, source_crs, object_count, summary, created_at, "
            "ST_AsGeoJSON(extent)::json AS extent FROM datasets ORDER BY name"
        )).mappings().all()
    return [dict(r) for r in rows]


def get_object(engine: Engine, object_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, dataset_id, kind, name, parent_id, zmin, zmax, attributes, "
                 "ST_AsGeoJSON(footprint, 9)::json AS geometry FROM twin_objects WHERE id = :id"),
            {"id": object_id},
        ).mappings().first()
    if row is None:
        raise NotFound(f"no object {object_id!r}")
    return dict(row)


def export_tileset(engine: Engine, tileset_id: str, directory: Path) -> int:
    """Write every entry of a stored tileset under `directory` (for validators and static hosting)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = :t ORDER BY path"),
                            {"t": tileset_id}).all()
    if not rows:
        raise NotFound(f"no tileset {tileset_id!r}")
    root = directory.resolve()
    for row in rows:
        path, content = str(row.path), bytes(row.content)
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"tile path {path!r} escapes the export folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return len(rows)
