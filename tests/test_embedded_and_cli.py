"""The embedded cluster lifecycle and the command line, end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.helpers.data import shared_data
from twin import cli, embedded
from twin.embedded import EmbeddedDatabaseError, EmbeddedPostgres
from twin.settings import Settings


def test_embedded_cluster_starts_once_reports_status_and_stops(tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "data", fsync=False)
    assert cluster.status().initialised is False
    assert cluster.start() is True
    try:
        assert cluster.start() is False  # a second start shares the running cluster
        status = cluster.status()
        assert status.running and status.initialised and status.port
        state = json.loads((tmp_path / "data" / "postgres.json").read_text())
        assert oct((tmp_path / "data" / "postgres.json").stat().st_mode & 0o777) == "0o600"
        assert state["port"] == status.port
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to an unprivileged user
            assert (tmp_path / "data" / "postgres").stat().st_uid != 0
    finally:
        assert cluster.stop() is True
    assert cluster.status().running is False
    assert cluster.stop() is False


def test_missing_server_binaries_name_the_package_to_install(tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path, bin_dir=tmp_path / "nowhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embedded, "POSTGRES_ROOT", tmp_path / "no-postgresql")
        mp.setattr(embedded.shutil, "which", lambda name: None)
        with pytest.raises(EmbeddedDatabaseError, match="postgresql-15-postgis-3"):
            cluster.start()


def _run(argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv, settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_ingest_prints_a_json_summary(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data("gis/osm_nyc_ridgewood_buildings.geojson")
    code, out, _ = _run(["ingest", "footprints", str(path), "--name", "nyc", "--json"], settings, capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["dataset_id"] == "nyc" and summary["objects"] == 15 and summary["tileset_id"] == "nyc"
    assert summary["warnings"] == []


def test_cli_reports_bad_input_with_exit_code_2(settings: Settings, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["ingest", "footprints", str(tmp_path / "missing.geojson"), "--name", "x", "--json"],
                          settings, capsys)
    assert code == 2
    assert "no such file" in json.loads(out)["error"] and "no such file" in err


def test_cli_demo_ingests_the_generated_city_without_serving(settings: Settings,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["demo", "--no-serve"], settings, capsys)
    assert code == 0 and "demo district" in err and "terrain tiles; underground: gas" in err
    code, _out, _ = _run(["tiles", "export", "demo", str(settings.data_dir / "export")], settings, capsys)
    assert code == 0 and (settings.data_dir / "export" / "tileset.json").exists()


def test_cli_ingest_into_the_file_store_serves_from_disk(settings: Settings, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import httpx

    from tests.conftest import serving
    from twin.db import Database, create_db_engine

    files = settings.model_copy(update={"tile_store": "files", "tile_dir": tmp_path / "tiles"})
    path = shared_data("gis/osm_nyc_ridgewood_buildings.geojson")
    code, out, _ = _run(["ingest", "footprints", str(path), "--name", "nyc", "--b3dm", "--json"], files, capsys)
    assert code == 0, out
    on_disk = sorted(p.name for p in (tmp_path / "tiles" / "nyc" / "v1").rglob("*") if p.is_file())
    assert "tileset.json" in on_disk and any(name.endswith(".b3dm") for name in on_disk)
    engine = create_db_engine(files.database_url or "")
    try:
        with serving(files, Database(engine)) as base_url:
            document = httpx.get(f"{base_url}/tilesets/nyc/tileset.json").json()
            assert document["asset"]["version"] == "1.0"
            uri = document["root"]["content"]["uri"]
            content = httpx.get(f"{base_url}/tilesets/nyc/{uri}")
            assert content.status_code == 200 and content.content[:4] == b"b3dm"
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_an_unreachable_database_says_so_and_exits_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                workers: int) -> None:
    url = f"postgresql://citytwin:secret@127.0.0.1:{free_port()}/citytwin"
    settings = Settings(database_url=url, data_dir=tmp_path)
    code = cli.main(["serve", "--port", str(free_port()), "--workers", str(workers)], settings_factory=lambda: settings)
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot connect to the database" in err and "secret" not in err
