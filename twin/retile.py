"""Changing objects of a tiled dataset: update the objects, rebuild only the tiles they touch, tell everyone.

Everything happens in one transaction: object rows, the rebuilt content files, the new `tileset.json` (and
subtrees), the tileset version, and a "tileset changed" notice that PostgreSQL delivers at commit. Meshes of
footprint datasets are derived from their objects (LoD1 prisms), so any footprint dataset can be re-tiled; other
kinds are re-ingested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import shapely
from sqlalchemy import Connection, Engine, text

from ingest_gis.footprints import lod1_features
from ingest_gis.records import IngestError, ObjectRecord
from tiles.incremental import plan_changes
from tiles.model import ContentRef, Feature, TileEntry, content_ref
from tiles.tileset import (
    Key,
    Placement,
    TilingOptions,
    build_content,
    build_tileset,
    content_key,
    describe,
    feature_bounds,
)
from twin.notices import publish
from twin.tilestore import NotFound, PostgisTileStore, TileStore

SUPPORTED_KINDS = ("footprints",)


def _load_objects(conn: Connection, dataset_id: str, ids: Sequence[str]) -> list[ObjectRecord]:
    rows = conn.execute(
        text("SELECT id, kind, name, parent_id, ST_AsBinary(footprint) AS wkb, zmin, zmax, attributes "
             "FROM twin_objects WHERE dataset_id = :d AND id = ANY(:ids) ORDER BY id"),
        {"d": dataset_id, "ids": list(ids)},
    )
    return [ObjectRecord(r.id, r.kind, r.name, shapely.from_wkb(bytes(r.wkb)), r.zmin, r.zmax, r.attributes,
                         r.parent_id) for r in rows]


def _write_objects(conn: Connection, dataset_id: str, upserts: Sequence[ObjectRecord], deleted: Sequence[str]) -> None:
    gone = [*deleted, *(o.id for o in upserts)]
    if gone:
        conn.execute(text("DELETE FROM twin_objects WHERE dataset_id = :d AND id = ANY(:ids)"),
                     {"d": dataset_id, "ids": gone})
    for o in upserts:
        conn.execute(
            text("INSERT INTO twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax, attributes)"
                 " VALUES (:id, :d, :kind, :name, :parent, ST_GeomFromWKB(:wkb, 4326), :zmin, :zmax,"
                 " CAST(:attrs AS jsonb))"),
            {"id": o.id, "d": dataset_id, "kind": o.kind, "name": o.name, "parent": o.parent_id,
             "wkb": shapely.to_wkb(o.footprint), "zmin": o.zmin, "zmax": o.zmax,
             "attrs": orjson.dumps(o.attributes).decode()},
        )


def _lock_tileset(conn: Connection, dataset_id: str, needs_layout: bool) -> Any:
    """The tileset row of a footprint dataset, locked for this transaction; refuses other kinds."""
    row = conn.execute(text("SELECT kind, version, layout FROM tilesets WHERE id = :t FOR UPDATE"),
                       {"t": dataset_id}).first()
    if row is None:
        raise NotFound(f"no tileset {dataset_id!r}")
    if row.kind not in SUPPORTED_KINDS or (needs_layout and not row.layout):
        raise IngestError(f"dataset {dataset_id!r} ({row.kind}) cannot be re-tiled from its objects: "
                          "ingest it again")
    return row


def _publish_version(conn: Connection, dataset_id: str, version: int, written: list[str], removed: list[str],
                     full: bool) -> dict[str, Any]:
    """Record the new version with its counts and queue the `tileset_changed` notice (delivered at commit)."""
    tiles, size = conn.execute(text("SELECT count(*) FILTER (WHERE feature_ids IS NOT NULL), sum(size_bytes) "
                                    "FROM tiles WHERE tileset_id = :t"), {"t": dataset_id}).one()
    conn.execute(text("UPDATE tilesets SET version = :v, content_count = :c, total_bytes = :b WHERE id = :t"),
                 {"v": version, "c": tiles, "b": size, "t": dataset_id})
    conn.execute(text("UPDATE datasets SET object_count = (SELECT count(*) FROM twin_objects WHERE dataset_id = :t)"
                      " WHERE id = :t"), {"t": dataset_id})
    notice = {"type": "tileset_changed", "tileset": dataset_id, "version": version, "written": written,
              "removed": removed, "full": full}
    publish(conn, notice)
    return {**notice, "tiles": tiles, "bytes": size}


def update_objects(engine: Engine, dataset_id: str, upserts: Sequence[ObjectRecord], deleted: Sequence[str] = (),
                   store: TileStore | None = None) -> dict[str, Any]:
    """Add, move or delete objects of a footprint dataset and re-tile only what they touch."""
    store = store or PostgisTileStore()
    if any(not o.id.startswith(f"{dataset_id}.") for o in upserts):
        raise IngestError(f"object ids of dataset {dataset_id!r} start with '{dataset_id}.'")
    with engine.begin() as conn:
        row = _lock_tileset(conn, dataset_id, needs_layout=True)
        missing = set(deleted) - {o.id for o in _load_objects(conn, dataset_id, list(deleted))}
        if missing:
            raise NotFound(f"no objects {sorted(missing)} in dataset {dataset_id!r}")
        placement = Placement.from_dict(row.layout["placement"])
        options = TilingOptions.from_dict(row.layout["options"])
        version = row.version + 1
        tiles = conn.execute(
            text("SELECT path, feature_ids, enu_box, etag FROM tiles"
                 " WHERE tileset_id = :t AND feature_ids IS NOT NULL"),
            {"t": dataset_id},
        ).all()
        stored = {content_key(t.path): list(t.feature_ids) for t in tiles}
        changed = lod1_features(list(upserts)) if upserts else []
        plan = plan_changes(placement, stored, changed, deleted, options.max_depth)
        _write_objects(conn, dataset_id, upserts, deleted)
        if plan.full:
            written, removed = _full(conn, dataset_id, options, store, version)
        else:
            written, removed = _partial(conn, dataset_id, placement, options, plan.cells, changed, tiles, store,
                                        version)
        notice = _publish_version(conn, dataset_id, version, written, removed, plan.full)
    store.collect(engine, dataset_id)
    return notice


def retile_dataset(engine: Engine, dataset_id: str, options: TilingOptions | None = None,
                   store: TileStore | None = None) -> dict[str, Any]:
    """Tile a footprint dataset again from its objects in PostGIS (optionally with new options)."""
    store = store or PostgisTileStore()
    with engine.begin() as conn:
        row = _lock_tileset(conn, dataset_id, needs_layout=options is None)
        options = options or TilingOptions.from_dict(row.layout["options"])
        written, removed = _full(conn, dataset_id, options, store, row.version + 1)
        notice = _publish_version(conn, dataset_id, row.version + 1, written, removed, full=True)
    store.collect(engine, dataset_id)
    return notice


def _partial(conn: Connection, dataset_id: str, placement: Placement, options: TilingOptions,
             cells: dict[Key, list[str]], changed: list[Feature], tiles: Sequence[Any], store: TileStore,
             version: int) -> tuple[list[str], list[str]]:
    new = {f.id: f for f in changed}
    wanted = sorted({fid for ids in cells.values() for fid in ids} - set(new))
    features = {**{f.id: f for f in lod1_features(_load_objects(conn, dataset_id, wanted))}, **new}
    contents: dict[Key, TileEntry] = {}
    for key, ids in sorted(cells.items()):
        if ids:
            members = [features[i] for i in ids]
            lo, hi = feature_bounds(members, placement.frame)
            contents[key] = build_content(key, members, lo, hi, placement.frame, options)
    refs: dict[Key, ContentRef] = {
        content_key(t.path): ContentRef(t.path, tuple(t.enu_box), t.etag.strip('"')) for t in tiles
    }
    for key in cells:
        refs.pop(key, None)
    refs.update({k: content_ref(e) for k, e in contents.items()})
    descriptions = describe(placement, refs, options)
    old_descriptions = {r[0] for r in conn.execute(
        text("SELECT path FROM tiles WHERE tileset_id = :t AND feature_ids IS NULL"), {"t": dataset_id})}
    written_paths = {e.path for e in contents.values()} | {d.path for d in descriptions}
    old_contents = {t.path for t in tiles if content_key(t.path) in cells}
    removed = sorted((old_contents | old_descriptions) - written_paths)
    store.delete(conn, dataset_id, removed)
    written = [*descriptions, *contents.values()]
    store.write(conn, dataset_id, version, written)
    return sorted(e.path for e in written), removed


def _full(conn: Connection, dataset_id: str, options: TilingOptions, store: TileStore,
          version: int) -> tuple[list[str], list[str]]:
    ids = [r[0] for r in conn.execute(text("SELECT id FROM twin_objects WHERE dataset_id = :d"), {"d": dataset_id})]
    built = build_tileset(lod1_features(_load_objects(conn, dataset_id, ids)), options)
    old = {r[0] for r in conn.execute(text("SELECT path FROM tiles WHERE tileset_id = :t"), {"t": dataset_id})}
    removed = sorted(old - {e.path for e in built.entries})
    store.delete(conn, dataset_id, removed)
    store.write(conn, dataset_id, version, built.entries)
    conn.execute(text("UPDATE tilesets SET layout = CAST(:l AS jsonb) WHERE id = :t"),
                 {"l": orjson.dumps(built.layout).decode(), "t": dataset_id})
    return sorted(e.path for e in built.entries), removed

