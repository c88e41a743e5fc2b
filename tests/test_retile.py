"""Incremental re-tiling: a change rewrites only the tiles that hold it, bumps the version and tells everyone."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import pytest
from shapely import affinity
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import IngestError, ObjectRecord
from tests.conftest import serving
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, decode_positions, property_strings
from tiles.tileset import content_key
from twin.db import Database
from twin.ingest import ingest_footprints
from twin.notices import NoticeListener
from twin.retile import update_objects
from twin.settings import Settings
from twin.tilestore import NotFound

BERLIN = "gis/osm_berlin_prenzlauerberg_buildings.geojson"


def _tiles(engine: Engine) -> dict[str, tuple[str, tuple[str, ...] | None]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, etag, feature_ids FROM tiles WHERE tileset_id = 'berlin'")).all()
    return {r.path: (r.etag, tuple(r.feature_ids) if r.feature_ids else None) for r in rows}


def _holder(tiles: dict[str, tuple[str, tuple[str, ...] | None]], object_id: str) -> str:
    (path,) = [p for p, (_, ids) in tiles.items() if ids and object_id in ids]
    return path


@pytest.fixture
def berlin(engine: Engine, request: pytest.FixtureRequest) -> dict[str, ObjectRecord]:
    implicit = getattr(request, "param", False)
    ingest_footprints(engine, shared_data(BERLIN), FootprintOptions("berlin"), max_features_per_tile=60,
                      implicit=implicit)
    result = read_footprints(shared_data(BERLIN), FootprintOptions("berlin"))
    return {o.id: o for o in result.objects}


def _moved(record: ObjectRecord, metres_east: float) -> ObjectRecord:
    shifted = affinity.translate(record.footprint, xoff=metres_east / (111320 * np.cos(np.radians(52.54))))
    return replace(record, footprint=shifted, attributes={**record.attributes, "moved": True})


@pytest.mark.parametrize("berlin", [False, True], indirect=True, ids=["explicit", "implicit"])
def test_moving_one_building_rewrites_only_the_tiles_that_hold_it(engine: Engine, berlin: dict[str, ObjectRecord],
                                                                 database_url: str,
                                                                 request: pytest.FixtureRequest) -> None:
    before = _tiles(engine)
    target = "berlin.23077868"
    old_holder = _holder(before, target)
    heard: list[dict[str, Any]] = []
    listener = NoticeListener(database_url, [heard.append]).start()
    try:
        notice = update_objects(engine, "berlin", [_moved(berlin[target], 3.0)])
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    after = _tiles(engine)
    new_holder = _holder(after, target)
    by_cell_before = {content_key(p): etag for p, (etag, ids) in before.items() if ids}
    by_cell_after = {content_key(p): etag for p, (etag, ids) in after.items() if ids}
    rebuilt = {k for k in by_cell_after if by_cell_before.get(k) != by_cell_after[k]}
    assert rebuilt == {content_key(old_holder), content_key(new_holder)}
    assert all(by_cell_before[k] == by_cell_after[k] for k in by_cell_after if k not in rebuilt)
    if "explicit" in request.node.name:  # explicit content names carry the content hash
        assert before["tileset.json"][0] != after["tileset.json"][0]
        assert old_holder not in after and new_holder not in before
    written = {p for p in notice["written"] if p.endswith(".glb")}
    assert {content_key(p) for p in written} == rebuilt
    assert notice["version"] == 2 and not notice["full"]
    assert heard and heard[0]["tileset"] == "berlin" and heard[0]["version"] == 2
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM tilesets WHERE id = 'berlin'")).scalar_one()
        moved = conn.execute(text("SELECT attributes->>'moved' FROM twin_objects WHERE id = :i"),
                             {"i": target}).scalar()
        glb = conn.execute(text("SELECT content FROM tiles WHERE tileset_id = 'berlin' AND path = :p"),
                           {"p": new_holder}).scalar_one()
    assert version == 2 and moved == "true"
    assert target in property_strings(bytes(glb), "id")
    assert_valid_glbs({new_holder: bytes(glb)})


def test_adding_and_deleting_buildings_updates_objects_and_tiles(engine: Engine,
                                                                  berlin: dict[str, ObjectRecord]) -> None:
    doomed = "berlin.23077868"
    newcomer = replace(_moved(berlin["berlin.96383278"], 1.5), id="berlin.new-1", name="Neubau")
    update_objects(engine, "berlin", [newcomer], deleted=[doomed])
    tiles = _tiles(engine)
    all_ids = [i for _, ids in tiles.values() if ids for i in ids]
    assert "berlin.new-1" in all_ids and doomed not in all_ids and len(all_ids) == len(berlin)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT object_count FROM datasets WHERE id = 'berlin'")).scalar_one()
    assert count == len(berlin)
    path = _holder(tiles, "berlin.new-1")
    with engine.connect() as conn:
        glb = bytes(conn.execute(text("SELECT content FROM tiles WHERE path = :p"), {"p": path}).scalar_one())
    positions, _, _ = decode_positions(glb)
    assert len(positions) and "berlin.new-1" in property_strings(glb, "id")


def test_a_building_moved_outside_the_tileset_square_triggers_a_full_retile(engine: Engine,
                                                                          berlin: dict[str, ObjectRecord]) -> None:
    notice = update_objects(engine, "berlin", [_moved(berlin["berlin.23077868"], 5000.0)])
    assert notice["full"] is True
    tiles = _tiles(engine)
    assert sum(len(ids) for _, ids in tiles.values() if ids) == len(berlin)


def test_bad_changes_are_refused_and_change_nothing(engine: Engine, berlin: dict[str, ObjectRecord]) -> None:
    before = _tiles(engine)
    with pytest.raises(NotFound, match="no objects"):
        update_objects(engine, "berlin", [], deleted=["berlin.does-not-exist"])
    with pytest.raises(IngestError, match="start with 'berlin.'"):
        update_objects(engine, "berlin", [replace(berlin["berlin.23077868"], id="other.1")])
    with pytest.raises(NotFound, match="no tileset"):
        update_objects(engine, "nowhere", [])
    assert _tiles(engine) == before


def test_a_running_server_serves_the_new_tileset_after_a_change(engine: Engine, berlin: dict[str, ObjectRecord],
                                                                settings: Settings) -> None:
    with serving(settings, Database(engine)) as base_url, httpx.Client(base_url=base_url) as client:
        first = client.get("/tilesets/berlin/tileset.json")
        assert client.get("/tilesets/berlin/tileset.json").headers["etag"] == first.headers["etag"]  # cached
        update_objects(engine, "berlin", [_moved(berlin["berlin.23077868"], 2.0)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = client.get("/tilesets/berlin/tileset.json")
            if latest.headers["etag"] != first.headers["etag"]:
                break
            time.sleep(0.05)
        assert latest.headers["etag"] != first.headers["etag"]
