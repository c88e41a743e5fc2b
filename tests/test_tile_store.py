"""One contract, every tile store: atomic writes, reads by key, incremental upserts and clean failures."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions, read_footprints
from tests.helpers.data import shared_data
from tests.helpers.s3_server import S3Server, s3_server
from tiles.model import BuiltTileset, TileEntry
from tiles.tileset import TilingOptions, build_tileset
from twin import tilestore
from twin.api.tile_server import TileServer
from twin.repository import write_dataset
from twin.tilestore import ContentSource, FileTileStore, NotFound, PostgisTileStore, TileStore, read_tile
from twin.tilestore_s3 import S3Config, S3TileStore

_buckets = itertools.count()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(params=["postgis", "files", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TileStore]:
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3")
        yield S3TileStore(S3Config(bucket="tiles", prefix=f"t{next(_buckets)}/", endpoint=server.endpoint,
                                   access_key=server.access_key, secret_key=server.secret_key))
    else:
        yield PostgisTileStore() if request.param == "postgis" else FileTileStore(tmp_path / "tiles")


def _files(store: TileStore) -> ContentSource | None:
    return store if isinstance(store, FileTileStore | S3TileStore) else None


def _nyc(max_features: int = 5) -> tuple[object, BuiltTileset]:
    result = read_footprints(shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("nyc"))
    return result, build_tileset(result.features, TilingOptions(max_features_per_tile=max_features))


def test_a_written_tileset_reads_back_entry_by_entry(engine: Engine, store: TileStore) -> None:
    result, built = _nyc()
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=built,  # type: ignore[arg-type]
                  store=store)
    for entry in built.entries:
        blob = read_tile(engine, _files(store), "nyc", entry.path)
        assert blob.content == entry.content and blob.content_type == entry.content_type
        assert blob.etag == tilestore.content_etag(entry.content)
    with pytest.raises(NotFound):
        read_tile(engine, _files(store), "nyc", "content/9/9/9.glb")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT store, layout->'options'->>'compression' FROM tilesets")).one()
    assert stored == (store.name, "draco")


def test_rewriting_replaces_every_entry_and_leaves_no_stale_content(engine: Engine, store: TileStore,
                                                                   tmp_path: Path) -> None:
    result, small_tiles = _nyc(max_features=3)
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=small_tiles,  # type: ignore[arg-type]
                  store=store)
    _, one_tile = _nyc(max_features=100)
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=one_tile,  # type: ignore[arg-type]
                  store=store)
    with engine.connect() as conn:
        paths = sorted(r[0] for r in conn.execute(text("SELECT path FROM tiles WHERE tileset_id = 'nyc'")))
        version = conn.execute(text("SELECT version FROM tilesets WHERE id = 'nyc'")).scalar_one()
    assert paths == sorted(e.path for e in one_tile.entries)
    assert version == 2
    if isinstance(store, FileTileStore):
        on_disk = sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file())
        assert on_disk == sorted(f"nyc/v2/{p}" for p in paths)
    if isinstance(store, S3TileStore):
        assert store.stored_keys("nyc") == sorted(f"{store.config.prefix}nyc/v2/{p}" for p in paths)


def test_a_failed_write_keeps_the_old_tileset_whole(engine: Engine, store: TileStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    result, built = _nyc()
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=built,  # type: ignore[arg-type]
                  store=store)
    calls = {"n": 0}
    original = tilestore.content_etag

    def failing(content: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return original(content)

    monkeypatch.setattr(tilestore, "content_etag", failing)
    _, other = _nyc(max_features=2)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=other,  # type: ignore[arg-type]
                      store=store)
    for entry in built.entries:
        assert read_tile(engine, _files(store), "nyc", entry.path).content == entry.content
    if isinstance(store, FileTileStore):
        assert not (store.root / "nyc" / "v2").exists()
    if isinstance(store, S3TileStore):  # the objects uploaded before the failure are gone: no orphans
        assert store.stored_keys("nyc") == sorted(f"{store.config.prefix}nyc/v1/{e.path}" for e in built.entries)


def test_incremental_writes_upsert_and_delete_single_entries(engine: Engine, store: TileStore) -> None:
    result, built = _nyc()
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=built,  # type: ignore[arg-type]
                  store=store)
    changed = TileEntry(built.entries[1].path, b"new bytes", "model/gltf-binary", 1)
    gone = built.entries[2].path
    with engine.begin() as conn:
        store.write(conn, "nyc", 2, [changed])
        store.delete(conn, "nyc", [gone])
    store.collect(engine, "nyc")
    assert read_tile(engine, _files(store), "nyc", changed.path).content == b"new bytes"
    with pytest.raises(NotFound):
        read_tile(engine, _files(store), "nyc", gone)
    untouched = built.entries[0]
    assert read_tile(engine, _files(store), "nyc", untouched.path).content == untouched.content


def test_the_tile_server_answers_ranges_revalidation_and_bad_paths(engine: Engine, store: TileStore) -> None:
    result, built = _nyc()
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=built,  # type: ignore[arg-type]
                  store=store)
    server = TileServer(engine, _files(store), cache_bytes=2**20)
    entry = built.entries[1]
    full = server.respond("nyc", entry.path)
    assert full.status == 200 and full.body == entry.content
    part = server.respond("nyc", entry.path, range_header="bytes=4-11")
    assert part.status == 206 and part.body == entry.content[4:12]
    assert (b"content-range", f"bytes 4-11/{len(entry.content)}".encode()) in part.headers
    assert server.respond("nyc", entry.path, range_header="bytes=999999-").status == 416
    etag = dict(full.headers)[b"etag"].decode()
    assert server.respond("nyc", entry.path, if_none_match=etag).status == 304
    assert server.respond("nyc", "../secret").status == 400
    assert server.respond("bad id!", "tileset.json").status == 400
    assert server.respond("nyc", "content/none.glb").status == 404
    # the cache serves later requests without the database, until the tileset changes
    server.engine = None  # type: ignore[assignment]
    assert server.respond("nyc", entry.path).body == entry.content
    server.cache.drop_tileset("nyc")
    with pytest.raises(AttributeError):
        server.respond("nyc", entry.path)
