"""The S3 tile store end to end: configured from CITYTWIN_* settings, filled by `citytwin ingest`, served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, text

from tests.conftest import free_port, serving
from tests.helpers.data import shared_data
from tests.helpers.s3_server import S3Server, s3_server
from twin import cli
from twin.db import Database
from twin.settings import Settings
from twin.tilestore import content_source_for, store_for
from twin.tilestore_s3 import S3TileStore


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_settings(s3: S3Server, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {"TILE_STORE": "s3", "S3_ENDPOINT": s3.endpoint, "S3_BUCKET": "city",
                        "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key, "S3_PREFIX": "twin/",
                        "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(f"CITYTWIN_{name}", value)
    return Settings()


def test_the_settings_pick_the_s3_store_for_writing_and_serving(s3_settings: Settings) -> None:
    store, source = store_for(s3_settings), content_source_for(s3_settings)
    assert isinstance(store, S3TileStore) and isinstance(source, S3TileStore)
    assert (store.bucket, store.config.prefix, store.config.endpoint) == ("city", "twin/", s3_settings.s3_endpoint)


def test_a_prefix_without_a_trailing_slash_is_refused(s3_settings: Settings) -> None:
    with pytest.raises(ValueError, match="must end with '/'"):
        store_for(s3_settings.model_copy(update={"s3_prefix": "twin"}))


def test_an_ingest_into_s3_is_served_with_etags_and_revalidation(s3_settings: Settings, engine: Engine) -> None:
    path = shared_data("gis/osm_nyc_ridgewood_buildings.geojson")
    argv = ["ingest", "footprints", str(path), "--name", "nyc", "--json"]
    assert cli.main(argv, settings_factory=lambda: s3_settings) == 0
    with engine.connect() as conn:
        store_name: str = conn.execute(text("SELECT store FROM tilesets WHERE id = 'nyc'")).scalar_one()
        rows: list[tuple[str, str, bool]] = [tuple(r) for r in conn.execute(  # type: ignore[misc]
            text("SELECT path, storage_key, content IS NULL FROM tiles WHERE tileset_id = 'nyc'"))]
    assert store_name == "s3" and rows and all(inline_missing for _, _, inline_missing in rows)
    store = store_for(s3_settings)
    assert isinstance(store, S3TileStore)
    assert store.stored_keys("nyc") == sorted(key for _, key, _ in rows)  # every row's object, and nothing else
    with serving(s3_settings, Database(engine)) as base, httpx.Client(base_url=base) as client:
        tileset = client.get("/tilesets/nyc/tileset.json")
        assert tileset.status_code == 200 and orjson.loads(tileset.content)["asset"]["version"]
        glb = next(p for p, _, _ in rows if p.endswith(".glb"))
        first = client.get(f"/tilesets/nyc/{glb}")
        assert first.status_code == 200 and first.content == store.read_file(f"twin/nyc/v1/{glb}")
        again = client.get(f"/tilesets/nyc/{glb}", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/tilesets/nyc/content/none.glb").status_code == 404


def test_an_unreachable_object_store_answers_503_and_a_missing_object_404(s3_settings: Settings,
                                                                        engine: Engine) -> None:
    from ingest_gis.footprints import FootprintOptions, read_footprints
    from tiles.tileset import TilingOptions, build_tileset
    from twin.api.tile_server import TileServer
    from twin.repository import write_dataset

    result = read_footprints(shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("nyc"))
    built = build_tileset(result.features, TilingOptions(max_features_per_tile=5))
    store = store_for(s3_settings)
    assert isinstance(store, S3TileStore)
    write_dataset(engine, name="nyc", kind="footprints", source="x", result=result, tileset=built, store=store)
    entry, gone = built.entries[1], built.entries[2]
    store.client.delete_object(Bucket=store.bucket, Key=f"twin/nyc/v1/{gone.path}")
    assert TileServer(engine, store).respond("nyc", gone.path).status == 404
    dead = S3TileStore(replace(s3_settings.s3_config(), endpoint=f"http://127.0.0.1:{free_port()}"))
    reply = TileServer(engine, dead).respond("nyc", entry.path)
    assert reply.status == 503 and b"cannot be reached" in reply.body
