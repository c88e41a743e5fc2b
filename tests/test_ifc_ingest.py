"""IFC ingest into a real PostGIS: objects per product, building tiles, walkable floors, bad input, re-ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import ifcopenshell
import ifcopenshell.util.element
import orjson
import pytest
from sqlalchemy import Engine, text

from ingest_bim import model
from ingest_bim.georef import GeorefOptions
from ingest_bim.model import NOT_DRAWN
from ingest_gis.records import IngestError
from tests.conftest import free_port, serving
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, property_strings, tileset_validator
from twin import buildings, cli
from twin.db import Database
from twin.ingest import ingest_ifc
from twin.settings import Settings

FZK = "ifc/AC20-FZK-Haus.ifc"
DUPLEX = "ifc/Duplex_A_20110907.ifc"
UTM = "ifc/geographic-referencing-utm.ifc"
TABLES = ("datasets", "twin_objects", "tilesets", "tiles", "building_floors", "building_connections")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


def _drawn_products(path: Path) -> set[str]:
    """GlobalIds of products with a representation, opened and counted independently of the ingest code."""
    model = ifcopenshell.open(str(path))
    return {p.GlobalId for p in model.by_type("IfcProduct") if p.Representation is not None
            and not any(p.is_a(c) for c in NOT_DRAWN)}


def _glbs(engine: Engine, dataset: str) -> dict[str, bytes]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = :t AND path LIKE '%.glb'"),
                            {"t": dataset}).all()
    return {r.path: bytes(r.content) for r in rows}


def test_fzk_house_lands_at_its_site_with_127_products_and_valid_element_tiles(engine: Engine) -> None:
    path = shared_data(FZK)
    summary = ingest_ifc(engine, path, "fzk")
    assert summary["objects"] == 127 and summary["schema"] == "IFC4"
    assert summary["georef"]["source"] == "IfcSite"
    with engine.connect() as conn:
        kinds = Counter(r.kind for r in conn.execute(text("SELECT kind FROM twin_objects")))
        building = conn.execute(text(
            "SELECT id, ST_X(ST_Centroid(footprint)) AS lon, ST_Y(ST_Centroid(footprint)) AS lat "
            "FROM twin_objects WHERE kind = 'IfcBuilding'")).one()
        root = conn.execute(text("SELECT content FROM tiles WHERE tileset_id = 'fzk' AND path = 'tileset.json'")
                            ).scalar_one()
        wall = conn.execute(text("SELECT attributes FROM twin_objects WHERE id = 'fzk.2XPyKWY018sA1ygZKgQPtU'")
                            ).scalar_one()
    assert kinds["IfcWallStandardCase"] == 13 and kinds["IfcSpace"] == 7 and kinds["IfcBuildingStorey"] == 2
    assert building.lat == pytest.approx(49.1004, abs=2e-4) and building.lon == pytest.approx(8.4365, abs=3e-4)
    assert wall["storey"] in ("Erdgeschoss", "Dachgeschoss") and wall["GlobalId"]
    model = ifcopenshell.open(str(path))
    element = model.by_guid("2XPyKWY018sA1ygZKgQPtU")
    expected_psets = {name: {k: v for k, v in values.items() if k != "id"}
                      for name, values in ifcopenshell.util.element.get_psets(element, psets_only=True).items()}
    assert wall["psets"] == expected_psets and wall["psets"]["Pset_WallCommon"]["ThermalTransmittance"] == 1.5
    assert wall["qtos"] and wall["materials"] and wall["class"] == "IfcWallStandardCase"
    tileset = orjson.loads(bytes(root))
    tileset_validator().validate(tileset)
    structure, detail = tileset["root"]["children"][:2]
    assert structure["geometricError"] > detail["geometricError"] > 0, "structure shows first, detail refines in"

    glbs = _glbs(engine, "fzk")
    assert_valid_glbs(glbs)
    tiled: dict[str, str] = {}
    for glb in glbs.values():
        for object_id, guid, ifc_class in zip(property_strings(glb, "id"), property_strings(glb, "GlobalId"),
                                              property_strings(glb, "class"), strict=True):
            assert object_id == f"fzk.{guid}"
            tiled[guid] = ifc_class
    expected = _drawn_products(path)
    assert set(tiled) == expected and summary["elements_in_tiles"] == len(expected) == 90
    assert tiled["2XPyKWY018sA1ygZKgQPtU"] == "IfcWallStandardCase"


CONTAINERS = {"IfcSite", "IfcBuilding", "IfcBuildingStorey", "IfcSpace"}


def test_containment_in_the_fzk_house_answers_its_room_storey_and_building(engine: Engine,
                                                                           settings: Settings) -> None:
    """Which room, storey and building am I in: `/query/at` on the ingested house, thinnest height range first.
    Elements whose footprint and height range hold the point come too (a sloped rafter over the attic room)."""
    ingest_ifc(engine, shared_data(FZK), "fzk")
    with engine.connect() as conn:
        rooms = conn.execute(text(
            "SELECT id, ST_X(p), ST_Y(p), (zmin + zmax) / 2, parent_id FROM (SELECT id, zmin, zmax, parent_id, "
            "ST_PointOnSurface(footprint) AS p FROM twin_objects WHERE kind = 'IfcSpace') AS s")).all()
        kinds = dict(conn.execute(text("SELECT id, kind FROM twin_objects")).all())
        storeys = dict(conn.execute(text("SELECT id, name FROM twin_objects WHERE kind = 'IfcBuildingStorey'")).all())
        building = conn.execute(text("SELECT id FROM twin_objects WHERE kind = 'IfcBuilding'")).scalar_one()
    assert len(rooms) == 7 and set(storeys.values()) == {"Erdgeschoss", "Dachgeschoss"}
    with serving(settings, Database(engine)) as base:
        for room, lon, lat, h, storey in rooms:
            answer = httpx.get(f"{base}/query/at", params={"lon": lon, "lat": lat, "h": h}).json()
            containers = [f["id"] for f in answer["features"] if kinds[f["id"]] in CONTAINERS]
            assert containers == [room, storey, building], [kinds[i] for i in containers]
            assert all(f["properties"]["zmin"] <= h <= f["properties"]["zmax"] for f in answer["features"])
        outside = httpx.get(f"{base}/query/at", params={"lon": rooms[0][1], "lat": rooms[0][2], "h": 150}).json()
    assert outside["features"] == []


def test_fzk_floors_have_rooms_doors_exits_and_the_stair(engine: Engine, settings: Settings) -> None:
    ingest_ifc(engine, shared_data(FZK), "fzk")
    with engine.connect() as conn:
        building = conn.execute(text("SELECT id FROM twin_objects WHERE kind = 'IfcBuilding'")).scalar_one()
    with serving(settings, Database(engine)) as base:
        response = httpx.get(f"{base}/buildings/{building}/floors")
        missing = httpx.get(f"{base}/buildings/nothing/floors")
    assert response.status_code == 200 and missing.status_code == 404
    floors = response.json()["floors"]
    assert [f["name"] for f in floors] == ["Erdgeschoss", "Dachgeschoss"]
    ground = Counter(f["properties"]["kind"] for f in floors[0]["features"])
    assert ground["walkable"] == 1 and ground["space"] == 6 and ground["door"] == 3 and ground["exit"] == 2
    assert ground["stair"] == 1
    stair = next(f for f in floors[1]["features"] if f["properties"]["kind"] == "stair")
    assert stair["properties"]["storey"] == floors[0]["storey"] and stair["properties"]["to_storey"] == floors[1][
        "storey"]
    doors = [f for f in floors[0]["features"] if f["properties"]["kind"] == "door"]
    spaces = {f["id"] for f in floors[0]["features"] if f["properties"]["kind"] == "space"}
    for door in doors:
        assert {door["properties"]["from_space"], door["properties"]["to_space"]} <= spaces
        assert 0.6 < door["properties"]["width"] < 1.5
    walkable = floors[0]["features"][0]
    assert walkable["geometry"]["type"] == "MultiPolygon" and 40 < walkable["properties"]["area"] < 150


def test_duplex_ifc2x3_lands_in_chicago_with_spaces_doors_and_stairs(engine: Engine) -> None:
    path = shared_data(DUPLEX)
    summary = ingest_ifc(engine, path, "duplex")
    assert summary["objects"] == 295 and summary["schema"] == "IFC2X3"
    lon, lat, _ = summary["georef"]["origin"]
    assert lat == pytest.approx(41.874, abs=1e-3) and lon == pytest.approx(-87.639, abs=1e-3)
    assert summary["elements_in_tiles"] == len(_drawn_products(path))
    with engine.connect() as conn:
        building = conn.execute(text("SELECT id FROM twin_objects WHERE kind = 'IfcBuilding'")).scalar_one()
    floors = buildings.read_floors(engine, building)["floors"]
    by_name = {f["name"]: Counter(x["properties"]["kind"] for x in f["features"]) for f in floors}
    assert by_name["Level 1"]["space"] == 10 and by_name["Level 2"]["space"] == 10
    assert by_name["Level 1"]["exit"] >= 2 and by_name["Level 2"]["door"] >= 6
    level1 = next(f for f in floors if f["name"] == "Level 1")
    stairs = [x for x in level1["features"] if x["properties"]["kind"] == "stair"]
    level2 = next(f for f in floors if f["name"] == "Level 2")["storey"]
    assert len(stairs) == 2 and all(s["properties"]["to_storey"] == level2 for s in stairs)
    assert all(s["properties"]["from_space"] and s["properties"]["to_space"] for s in stairs)
    assert_valid_glbs(_glbs(engine, "duplex"))


def test_utm_sample_objects_stand_at_the_map_conversion_height(engine: Engine) -> None:
    summary = ingest_ifc(engine, shared_data(UTM), "utm")
    assert summary["georef"]["source"] == "IfcMapConversion" and summary["source_crs"] == "EPSG:25832"
    assert any("Scale 1000" in w for w in summary["warnings"])
    with engine.connect() as conn:
        proxy = conn.execute(text("SELECT zmin, zmax FROM twin_objects WHERE kind = 'IfcBuildingElementProxy'")).one()
    assert proxy.zmin == pytest.approx(113.7) and proxy.zmax == pytest.approx(117.7)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    source = shared_data(UTM).read_text()
    truncated = tmp_path / "truncated.ifc"
    truncated.write_bytes(shared_data(FZK).read_bytes()[:1_000_000])
    not_ifc = tmp_path / "notes.ifc"
    not_ifc.write_text("this is not a building model\n")
    schema = tmp_path / "schema.ifc"
    schema.write_text(source.replace("IFC4X3_ADD2", "IFC2X2_FINAL"))
    empty = tmp_path / "empty.ifc"
    empty.write_text(source.replace("#149= IFCBUILDINGELEMENTPROXY('0rBru4syGxGOZb$M8kVJuS',#100005,"
                                    "'Geographic Position',$,$,#121,#5037,$,$);",
                                    "#149= IFCBUILDINGELEMENTPROXY('0rBru4syGxGOZb$M8kVJuS',#100005,"
                                    "'Geographic Position',$,$,#121,$,$,$);"))
    nowhere = tmp_path / "nowhere.ifc"
    nowhere.write_text(source.replace("#2= IFCMAPCONVERSION(#100011,#1,458657.30,5438232.25,113.7,0.270600445976,"
                                      "0.962691746426,1000.);", "")
                       .replace("(49,5,43,983700),(8,26,1,247300),113.7", "$,$,$"))
    return {"truncated": (truncated, "truncated"), "not IFC": (not_ifc, "not an IFC file"),
            "schema": (schema, "IFC2X2"), "no geometry": (empty, "no product with geometry"),
            "no georeferencing": (nowhere, "--origin")}


def test_bad_input_fails_clearly_and_leaves_the_database_as_it_was(engine: Engine, tmp_path: Path) -> None:
    ingest_ifc(engine, shared_data(UTM), "keep")
    before = _counts(engine)
    for label, (path, message) in _bad_files(tmp_path).items():
        for name in ("keep", "fresh"):
            with pytest.raises(IngestError, match=message):
                ingest_ifc(engine, path, name)
            assert _counts(engine) == before, label


def test_a_failure_while_storing_floors_rolls_back_everything(engine: Engine, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    ingest_ifc(engine, shared_data(FZK), "fzk")
    before = _counts(engine)

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(buildings, "write_floors", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_ifc(engine, shared_data(FZK), "fzk")
    assert _counts(engine) == before


def test_reingesting_an_ifc_replaces_the_dataset_cleanly(engine: Engine) -> None:
    first = ingest_ifc(engine, shared_data(FZK), "house")
    counts = _counts(engine)
    again = ingest_ifc(engine, shared_data(FZK), "house")
    assert _counts(engine) == counts
    assert {k: v for k, v in first.items() if k != "seconds"} == {k: v for k, v in again.items() if k != "seconds"}
    ingest_ifc(engine, shared_data(FZK), "house-moved", GeorefOptions(origin=(13.4, 52.5, 30.0)))
    assert _counts(engine)["twin_objects"] == 2 * counts["twin_objects"]


def test_cli_ingests_an_ifc_and_reports_bad_files_with_exit_code_2(settings: Settings, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["ingest", "ifc", str(shared_data(UTM)), "--name", "utm", "--json"],
                    settings_factory=lambda: settings)
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["objects"] == 4 and summary["georef"]["crs"] == "EPSG:25832"
    code = cli.main(["ingest", "ifc", str(shared_data(FZK)), "--name", "moved", "--origin", "13.4,52.5",
                     "--rotation", "15", "--json"], settings_factory=lambda: settings)
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["georef"]["source"] == "--origin" and summary["georef"]["rotation_deg"] == 15
    nowhere = _bad_files(tmp_path)["no georeferencing"][0]
    code = cli.main(["ingest", "ifc", str(nowhere), "--name", "x", "--json"], settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    assert code == 2 and "--crs" in json.loads(out)["error"] and "--origin" in err


def test_a_model_opened_before_the_database_is_ingested_like_its_path(engine: Engine) -> None:
    from ingest_bim.model import open_geometry

    by_path = ingest_ifc(engine, shared_data(FZK), "by-path")
    opened = ingest_ifc(engine, open_geometry(shared_data(FZK)), "opened")
    for key in ("objects", "tiles", "elements_in_tiles", "floors", "connections", "schema"):
        assert opened[key] == by_path[key]
    with engine.connect() as conn:
        sources = dict(conn.execute(text("SELECT name, source FROM datasets")).all())
        guids = [set(conn.execute(text("SELECT attributes->>'GlobalId' FROM twin_objects WHERE dataset_id = :d"),
                                  {"d": d}).scalars()) for d in ("by-path", "opened")]
    assert sources == {"by-path": "AC20-FZK-Haus.ifc", "opened": "AC20-FZK-Haus.ifc"}
    assert guids[0] == guids[1] and len(guids[0]) == 127


def test_the_command_line_starts_opening_the_model_before_loading_the_rest(tmp_path: Path) -> None:
    """`citytwin ingest ifc` starts opening the model before settings, SQLAlchemy or psycopg load, so that they
    load while the file parses and the iterator computes."""
    probe = (
        "import sys\n"
        "import ingest_bim.model as model\n"
        "from twin import cli\n"
        "def start(path, cores=None):\n"
        "    loaded = sorted(m for m in ('pydantic', 'sqlalchemy', 'psycopg', 'pyproj', 'shapely', 'rich')"
        " if m in sys.modules)\n"
        "    print('LOADED', ','.join(loaded))\n"
        "    raise SystemExit(0)\n"
        "model.ModelOpening.start = start\n"
        "cli.main(['ingest', 'ifc', sys.argv[1], '--name', 'probe'])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(shared_data(FZK))], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert "LOADED \n" in result.stdout


def test_the_model_parses_while_the_command_line_loads_its_settings(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    entered, finished, overlapped = threading.Event(), threading.Event(), []
    real_open = model.open_model

    def open_model(path: Path) -> ifcopenshell.file:
        entered.set()
        time.sleep(0.5)  # the settings are asked for meanwhile
        opened = real_open(path)
        finished.set()
        return opened

    def settings_factory() -> Settings:
        overlapped.append(entered.wait(10) and not finished.is_set())
        return settings

    monkeypatch.setattr(model, "open_model", open_model)
    code = cli.main(["ingest", "ifc", str(shared_data(FZK)), "--name", "parsed-meanwhile", "--json"],
                    settings_factory=settings_factory)
    assert code == 0 and overlapped == [True]


def test_an_unreachable_database_is_a_clear_error_even_with_the_iterator_running() -> None:
    """The model is opened (its iterator computing) before the database: a database that does not answer is an
    error message and exit code 2, and the iterator is stopped before the interpreter exits (no crash)."""
    url = f"postgresql://citytwin:secret@127.0.0.1:{free_port()}/citytwin"
    result = subprocess.run([sys.executable, "-m", "twin.cli", "ingest", "ifc", str(shared_data(FZK)), "--name", "x",
                             "--json"], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1], env={**os.environ, "CITYTWIN_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "cannot connect to the database" in json.loads(result.stdout)["error"]
    assert "Traceback" not in result.stderr and "secret" not in result.stdout + result.stderr
