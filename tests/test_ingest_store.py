"""Ingest into a real PostGIS: objects, tiles, atomic failure and idempotent re-ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions
from ingest_gis.records import IngestError
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs
from twin import repository, tilestore
from twin.ingest import ingest_footprints

BERLIN = "gis/osm_berlin_prenzlauerberg_buildings.geojson"


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # type: ignore[return-value]
                     for t in ("datasets", "twin_objects", "tilesets", "tiles"))


def test_berlin_lands_in_postgis_with_objects_and_valid_tiles(engine: Engine) -> None:
    summary = ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("berlin"), max_features_per_tile=150)
    assert summary["objects"] == 635 and summary["tiles"] >= 4
    datasets, objects, tilesets, tiles = _counts(engine)
    assert (datasets, objects, tilesets, tiles) == (1, 635, 1, summary["tiles"] + 1)
    with engine.connect() as conn:
        glbs = dict(conn.execute(text("SELECT path, content FROM tiles WHERE path LIKE '%.glb'")).all())
        # the spatial index answers which tiles and objects lie at a point in Prenzlauer Berg
        point = "ST_SetSRID(ST_MakePoint(13.4141, 52.5400), 4326)"
        hit = conn.execute(text(f"SELECT id FROM twin_objects WHERE ST_Intersects(footprint, {point})")).all()
        tiles_at = conn.execute(text(f"SELECT path FROM tiles WHERE ST_Intersects(bounds, {point})")).all()
    assert [r.id for r in hit] == ["berlin.23077868"]
    assert len(tiles_at) >= 1
    assert_valid_glbs({k: bytes(v) for k, v in glbs.items()})
    record = repository.get_object(engine, "berlin.23077868")
    assert record["geometry"]["type"] == "Polygon" and record["attributes"]["type"] == "commercial"


def test_reingesting_the_same_name_replaces_the_dataset(engine: Engine) -> None:
    first = ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("city"))
    again = ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("city"))
    assert first["objects"] == again["objects"]
    assert _counts(engine) == (1, 635, 1, first["tiles"] + 1)
    other = ingest_footprints(engine, shared_data("gis/osm_nyc_ridgewood_buildings.geojson"),
                              FootprintOptions("nyc"))
    assert other["objects"] == 15
    assert _counts(engine)[:3] == (2, 650, 2)


def test_a_failure_while_storing_leaves_nothing_behind(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_footprints(engine, shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("keep"))
    before = _counts(engine)
    original = tilestore.content_etag
    calls = {"n": 0}

    def failing_etag(content: bytes) -> str:
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("disk full")
        return original(content)

    monkeypatch.setattr(tilestore, "content_etag", failing_etag)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("broken"), max_features_per_tile=100)
    assert _counts(engine) == before
    # a failed re-ingest of an existing name keeps the old dataset whole
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("keep"), max_features_per_tile=100)
    assert _counts(engine) == before


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 64, "-lead", "objects"])
def test_dataset_names_are_checked(engine: Engine, name: str) -> None:
    with pytest.raises(IngestError, match="dataset name"):
        ingest_footprints(engine, shared_data(BERLIN), FootprintOptions(name))
    assert _counts(engine) == (0, 0, 0, 0)


def test_bad_input_leaves_the_database_untouched(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_text('{"type":"FeatureCollection","features":[]}')
    with pytest.raises(IngestError, match="no features"):
        ingest_footprints(engine, path, FootprintOptions("empty"))
    assert _counts(engine) == (0, 0, 0, 0)


def test_export_writes_a_tileset_folder(engine: Engine, tmp_path: Path) -> None:
    summary = ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("berlin"))
    count = repository.export_tileset(engine, "berlin", tmp_path / "out")
    assert count == summary["tiles"] + 1
    assert (tmp_path / "out" / "tileset.json").exists()
