"""Reading and writing datasets, twin objects and tiles in PostGIS.

A dataset is written in one transaction together with its objects, tileset and tiles, replacing any dataset of
the same name: a reader sees the old dataset or the new one, never half of either. Bulk rows go through COPY.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson
import shapely
from shapely.geometry import box
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from ingest_gis.records import IngestError, IngestResult
from tiles.model import BuiltTileset
from twin.tilestore import ContentSource, NotFound, PostgisTileStore, TileStore, read_tile

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


RESERVED_NAMES = frozenset({"objects"})  # `objects` is the OGC collection of every object


def check_dataset_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise IngestError(
            f"dataset name {name!r} must be 1–63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise IngestError(f"dataset name {name!r} is reserved; choose another")
    return name


def _ewkb(geometry: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def _ewkbs(geometries: list[shapely.Geometry]) -> list[str]:
    """Hex EWKB (SRID 4326) of many geometries in one call."""
    array = np.empty(len(geometries), dtype=object)
    array[:] = geometries
    return list(shapely.to_wkb(shapely.set_srid(array, 4326), hex=True, include_srid=True))


@contextmanager
def _transaction(target: Engine | Connection) -> Iterator[Connection]:
    """A transaction of its own on an engine; a savepoint of the caller's on a connection."""
    if isinstance(target, Connection):
        with target.begin_nested():
            yield target
    else:
        with target.begin() as conn:
            yield conn


def write_dataset(engine: Engine | Connection, *, name: str, kind: str, source: str, result: IngestResult,
                  tileset: BuiltTileset | Callable[[], BuiltTileset], extra_summary: dict[str, Any] | None = None,
                  also_write: Callable[[Connection], None] | None = None,
                  store: TileStore | None = None) -> dict[str, Any]:
    """Store a dataset, its objects and its tileset atomically; returns the stored ids and counts.

    `also_write` runs in the same transaction after the dataset rows exist (for kind-specific tables). A callable
    `tileset` is called once the objects are written, so a tileset still being built elsewhere overlaps the
    writing of the objects. Given a Connection in a transaction, the dataset is written in a savepoint of it and
    the caller commits (and collects the store once it has: `store.collect`).
    """
    check_dataset_name(name)
    built = tileset if isinstance(tileset, BuiltTileset) else None
    if result.objects:
        minx, miny, maxx, maxy = shapely.total_bounds([o.footprint for o in result.objects])
    else:  # a dataset without objects (e.g. photogrammetry) spans its tileset
        built = built or cast(Callable[[], BuiltTileset], tileset)()
        if built.root.bounds is None:
            raise IngestError(f"dataset {name!r} has neither objects nor a tileset extent")
        minx, miny, maxx, maxy = shapely.Polygon(built.root.bounds.ring).bounds
    summary = {"warnings": result.warnings, **(extra_summary or {})}
    store = store or PostgisTileStore()
    version = 0
    try:
        with _transaction(engine) as conn:
            version = 1 + (conn.execute(text("SELECT coalesce(max(version), 0) FROM tilesets WHERE id = :id"),
                                        {"id": name}).scalar_one())
            conn.execute(text("DELETE FROM datasets WHERE name = :name"), {"name": name})
            conn.execute(
                text("INSERT INTO datasets (id, name, kind, source, source_crs, object_count, extent, summary) "
                     "VALUES (:id, :name, :kind, :source, :crs, :count, ST_GeomFromEWKB(decode(:extent, 'hex')),"
                     " CAST(:summary AS jsonb))"),
                {"id": name, "name": name, "kind": kind, "source": source, "crs": result.source_crs,
                 "count": len(result.objects), "extent": _ewkb(box(minx, miny, maxx, maxy)),
                 "summary": orjson.dumps(summary).decode()},
            )
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(
                "COPY twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax, attributes)"
                " FROM STDIN"
            ) as copy:
                footprints = _ewkbs([o.footprint for o in result.objects])
                for o, footprint in zip(result.objects, footprints, strict=True):
                    copy.write_row((o.id, name, o.kind, o.name, o.parent_id, footprint, o.zmin,
                                    o.zmax, orjson.dumps(o.attributes).decode()))
            if also_write is not None:
                also_write(conn)
            built = built or cast(Callable[[], BuiltTileset], tileset)()
            total_bytes = sum(len(e.content) for e in built.entries)
            conn.execute(text("UPDATE datasets SET summary = summary || jsonb_build_object('tile_count', :count)"
                              " WHERE id = :id"), {"id": name, "count": built.content_count})
            conn.execute(
                text("INSERT INTO tilesets (id, dataset_id, name, kind, version, content_count, total_bytes, layout,"
                     " store) VALUES (:id, :id, :name, :kind, :version, :count, :bytes, CAST(:layout AS jsonb),"
                     " :store)"),
                {"id": name, "name": name, "kind": kind, "version": version, "count": built.content_count,
                 "bytes": total_bytes, "layout": orjson.dumps(built.layout).decode(), "store": store.name},
            )
            store.write(conn, name, version, built.entries)
    except IntegrityError as exc:
        store.discard(name, version)
        raise IngestError(f"cannot store dataset {name!r}: {str(exc.orig).splitlines()[0]}") from exc
    except BaseException:
        store.discard(name, version)
        raise
    if isinstance(engine, Engine):
        store.collect(engine, name)
    return {"dataset_id": name, "tileset_id": name, "objects": len(result.objects),
            "tiles": built.content_count, "bytes": total_bytes}


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


def export_tileset(engine: Engine, tileset_id: str, directory: Path, files: ContentSource | None = None) -> int:
    """Write every entry of a stored tileset under `directory` (for validators and static hosting)."""
    with engine.connect() as conn:
        paths = [r[0] for r in conn.execute(text("SELECT path FROM tiles WHERE tileset_id = :t ORDER BY path"),
                                            {"t": tileset_id})]
    if not paths:
        raise NotFound(f"no tileset {tileset_id!r}")
    root = directory.resolve()
    for path in paths:
        content = read_tile(engine, files, tileset_id, path).content
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"tile path {path!r} escapes the export folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return len(paths)
