"""Footprint files ingested as tasks on a Dask LocalCluster (2 worker processes) store what one process stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions
from tests.helpers.data import shared_data
from tiles.tileset import TilingOptions
from twin import cli, tilestore
from twin.ingest_dask import file_tasks, ingest_footprint_files
from twin.settings import Settings
from twin.tilestore import FileTileStore

FILES = ("gis/osm_nyc_ridgewood_buildings.geojson", "gis/osm_berlin_prenzlauerberg_buildings.geojson")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local.scheduler_address


def _stored(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        objects = conn.execute(text("SELECT dataset_id, id, name, ST_AsEWKB(footprint), zmin, zmax, attributes::text"
                                    " FROM twin_objects ORDER BY 1, 2")).all()
        tiles = conn.execute(text("SELECT tileset_id, path, etag, content FROM tiles ORDER BY 1, 2")).all()
    return [tuple(r) for r in objects], [tuple(r) for r in tiles]


def test_files_ingested_on_the_cluster_equal_the_single_process_ingest(engine: Engine, cluster: str) -> None:
    paths = [shared_data(f) for f in FILES]
    tiling = TilingOptions(max_features_per_tile=100)
    on_cluster = ingest_footprint_files(engine, paths, FootprintOptions("x"), tiling, scheduler=cluster, prefix="d-")
    assert [s["dataset_id"] for s in on_cluster] == ["d-osm_nyc_ridgewood_buildings",
                                                     "d-osm_berlin_prenzlauerberg_buildings"]
    objects, tiles = _stored(engine)
    assert len(objects) == sum(s["objects"] for s in on_cluster) > 0 and tiles
    alone = ingest_footprint_files(engine, paths, FootprintOptions("x"), tiling, scheduler=None, prefix="d-")
    assert [(s["objects"], s["tiles"], s["bytes"]) for s in on_cluster] == [
        (s["objects"], s["tiles"], s["bytes"]) for s in alone]
    assert (objects, tiles) == _stored(engine)  # the same rows and the same tile bytes


def test_a_file_failing_in_a_worker_writes_no_dataset(engine: Engine, cluster: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    paths = [shared_data(FILES[0]), broken]
    with pytest.raises(Exception, match="broken.geojson"):
        ingest_footprint_files(engine, paths, FootprintOptions("x"), TilingOptions(), scheduler=cluster)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0


def test_two_files_that_would_share_a_dataset_name_are_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="same dataset: a"):
        file_tasks(["one/a.geojson", "two/a.geojson"], FootprintOptions("x"), TilingOptions())


def test_the_cli_ingests_files_on_a_local_cluster(settings: Settings, engine: Engine) -> None:
    argv = ["ingest", "footprint-files", *(str(shared_data(f)) for f in FILES), "--prefix", "c-", "--dask", "local",
            "--json"]
    assert cli.main(argv, settings_factory=lambda: settings) == 0
    with engine.connect() as conn:
        names = sorted(r[0] for r in conn.execute(text("SELECT id FROM tilesets")))
    assert names == ["c-osm_berlin_prenzlauerberg_buildings", "c-osm_nyc_ridgewood_buildings"]


def test_a_write_failing_on_the_second_file_stores_neither_and_keeps_the_old_datasets(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [shared_data(f) for f in FILES]
    tiling = TilingOptions(max_features_per_tile=100)
    ingest_footprint_files(engine, paths, FootprintOptions("x"), tiling)
    before = _stored(engine)
    first_tiles = sum(1 for row in before[1] if row[0] == "osm_nyc_ridgewood_buildings")
    calls = {"n": 0}
    original = tilestore.content_etag

    def failing(content: bytes) -> str:  # fails inside the second dataset's tiles
        calls["n"] += 1
        if calls["n"] == first_tiles + 2:
            raise OSError("disk full")
        return original(content)

    monkeypatch.setattr(tilestore, "content_etag", failing)
    files = FileTileStore(tmp_path / "tiles")
    with pytest.raises(OSError, match="disk full"):
        ingest_footprint_files(engine, paths, FootprintOptions("x"), tiling, store=files)
    assert calls["n"] > first_tiles  # the first dataset had been written in the transaction
    assert _stored(engine) == before
    assert not [p for p in files.root.rglob("*") if p.is_file()]  # no content left behind
