"""`citytwin sensors import|list|delete`: CSV and point layers in any CRS, row errors, and a running server that
learns of the change without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from ingest_gis.sensor_layers import SensorLayerOptions, read_sensor_layer
from tests.conftest import populated_server
from tests.helpers.city import DLAT, DLON, EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON, add_house_and_street
from twin import cli
from twin.settings import Settings

WEST_ROOM_CENTRE = (HOUSE_LON + 0.25 * DLON, HOUSE_LAT + 0.5 * DLAT)
CSV = f"""id,kind,lon,lat,h,object_id,name,unit,floor,vendor,thresholds
GAS-W,gas,{WEST_ROOM_CENTRE[0]},{WEST_ROOM_CENTRE[1]},4.5,,West gas,,1,Acme,
SMK-B,smoke,,,,house.b,Building smoke,,,Acme,
TMP-E,temperature,{EAST_ROOM_CENTRE[0]},{EAST_ROOM_CENTRE[1]},4,,,°C,1,,"{{""levels"": {{""red"": 40}}}}"
BAD-KIND,volcano,13.43,52.53,0,,,,,,
BAD-LAT,gas,13.43,95,0,,,,,,
BAD-NUM,gas,13.43,north,0,,,,,,
GAS-W,gas,13.43,52.53,0,,,,,,
,gas,13.43,52.53,0,,,,,,
BAD-RULE,gas,13.43,52.53,0,,,,,,{{broken
"""


def run(argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = cli.main(argv, settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def stored(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, kind, object_id, name, attributes, ST_X(position), ST_Y(position), "
                                 "ST_Z(position) FROM sensors")).all()
    return {r[0]: {"kind": r[1], "object_id": r[2], "name": r[3], "attributes": r[4], "position": r[5:]}
            for r in rows}


def test_a_csv_imports_its_good_rows_and_names_each_bad_row_with_its_reason(
        engine: Engine, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_house_and_street(engine)
    path = tmp_path / "sensors.csv"
    path.write_text(CSV, encoding="utf-8")
    code, summary, _ = run(["sensors", "import", str(path), "--json"], settings, capsys)
    assert code == 1  # some rows were refused; the good ones are in
    assert summary["stored"] == 3 and summary["bound"] == 3
    reasons = {r["row"]: r["reason"] for r in summary["refused"]}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10]
    assert "unknown sensor kind" in reasons[5] and "lat must lie" in reasons[6] and "lat must be a number" in reasons[7]
    assert "repeats row 2" in reasons[8] and "id is missing" in reasons[9] and "thresholds is not JSON" in reasons[10]
    sensors = stored(engine)
    assert set(sensors) == {"GAS-W", "SMK-B", "TMP-E"}
    assert sensors["GAS-W"]["object_id"] == "house.s1.west" and sensors["TMP-E"]["object_id"] == "house.s1.east"
    assert sensors["SMK-B"]["object_id"] == "house.b" and sensors["SMK-B"]["position"] == (None, None, None)
    assert sensors["GAS-W"]["attributes"] == {"floor": 1, "vendor": "Acme"} and sensors["GAS-W"]["name"] == "West gas"
    code, listed, _ = run(["sensors", "list", "--json"], settings, capsys)
    assert code == 0 and [s["id"] for s in listed] == ["GAS-W", "SMK-B", "TMP-E"]
    assert listed[2]["thresholds"]["levels"] == {"red": 40.0}
    code, _, err = run(["sensors", "list"], settings, capsys)
    assert code == 0 and "house.s1.west  West gas" in err and "3 sensors" in err


def test_a_geojson_layer_in_a_projected_crs_lands_in_wgs84_bound_by_its_3d_points(
        engine: Engine, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_house_and_street(engine)
    to_utm = Transformer.from_crs(4326, 25833, always_xy=True)
    east = to_utm.transform(*EAST_ROOM_CENTRE)
    west = to_utm.transform(*WEST_ROOM_CENTRE)
    layer = {"type": "FeatureCollection",
             "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25833"}},
             "features": [
                 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [*east, 4.2]},
                  "properties": {"code": "CAM-E", "type": "camera", "stream_url": "rtsp://cam.local/e", "heading": 90,
                                 "fov": 60, "installed": True}},
                 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [*west, 1.0]},
                  "properties": {"code": "WL-W", "type": "water_level", "h": 7.5}},
                 {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[list(east), list(west),
                                                                                       [east[0], west[1]],
                                                                                       list(east)]]},
                  "properties": {"code": "AREA", "type": "gas"}},
                 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [*east, 4.2]},
                  "properties": {"code": "CAM-BAD", "type": "camera", "stream_url": "file:///etc/passwd"}}]}
    path = tmp_path / "sensors.geojson"
    path.write_bytes(orjson.dumps(layer))
    code, summary, _ = run(["sensors", "import", str(path), "--id-attr", "code", "--kind-attr", "type", "--json"],
                           settings, capsys)
    assert code == 1 and summary["source_crs"] == "EPSG:25833"
    assert [(r["row"], r["reason"][:30]) for r in summary["refused"]] == [
        (3, "geometry is a Polygon; sensors"), (4, "stream_url must be an rtsp/rtm")]
    sensors = stored(engine)
    lon, lat, h = sensors["CAM-E"]["position"]
    assert abs(lon - EAST_ROOM_CENTRE[0]) < 1e-7 and abs(lat - EAST_ROOM_CENTRE[1]) < 1e-7 and h == pytest.approx(4.2)
    assert sensors["CAM-E"]["object_id"] == "house.s1.east"
    assert sensors["CAM-E"]["attributes"] == {"stream_url": "rtsp://cam.local/e", "heading": 90, "fov": 60,
                                              "installed": True}
    assert sensors["WL-W"]["position"][2] == pytest.approx(7.5) and sensors["WL-W"]["object_id"] == "house.s2"


def test_csv_coordinates_in_another_crs_are_reprojected_with_crs(tmp_path: Path) -> None:
    x, y = Transformer.from_crs(4326, 25833, always_xy=True).transform(*EAST_ROOM_CENTRE)
    path = tmp_path / "utm.csv"
    path.write_text(f"id;kind;x;y;h\nT-1;temperature;{x:.3f};{y:.3f};4\n", encoding="utf-8")
    rows = read_sensor_layer(path, SensorLayerOptions(crs="25833"))
    (number, sensor), = rows.rows
    assert number == 2 and rows.errors == [] and rows.source_crs == "EPSG:25833"
    assert sensor["position"][0] == pytest.approx(EAST_ROOM_CENTRE[0], abs=1e-7)


def test_a_missing_file_or_id_column_is_an_error_with_exit_code_2(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["sensors", "import", str(tmp_path / "none.csv"), "--json"], settings, capsys)
    assert code == 2 and "no such file" in out["error"]
    path = tmp_path / "noid.csv"
    path.write_text("name,kind\nx,gas\n", encoding="utf-8")
    code, out, err = run(["sensors", "import", str(path)], settings, capsys)
    assert code == 2 and "no 'id' column" in err


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the server did not catch up"
        time.sleep(0.1)


def test_a_running_server_sees_imported_changed_and_deleted_sensors_without_a_restart(
        server_url: str, template_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with populated_server(server_url, template_database, tmp_path / "server", add_house_and_street) as (base, engine):
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False), data_dir=tmp_path / "cli")
        assert httpx.get(f"{base}/sensors/GAS-W").status_code == 404
        path = tmp_path / "sensors.csv"
        path.write_text(CSV, encoding="utf-8")
        assert run(["sensors", "import", str(path)], settings, capsys)[0] == 1
        eventually(lambda: httpx.get(f"{base}/sensors/GAS-W").status_code == 200)
        assert httpx.get(f"{base}/sensors/GAS-W").json()["object_id"] == "house.s1.west"
        listed = httpx.get(f"{base}/sensors", params={"object": "house.b"}).json()
        assert {s["id"] for s in listed["sensors"]} == {"GAS-W", "SMK-B", "TMP-E"}
        reading = httpx.post(f"{base}/readings", json=[{"sensor": "GAS-W", "value": 3.0}]).json()
        assert reading["accepted"] == 1

        path.write_text("id,kind,object_id,name\nGAS-W,gas,house.s1.east,moved\n", encoding="utf-8")
        assert run(["sensors", "import", str(path)], settings, capsys)[0] == 0
        eventually(lambda: httpx.get(f"{base}/sensors/GAS-W").json()["object_id"] == "house.s1.east")
        assert httpx.get(f"{base}/sensors/GAS-W").json()["name"] == "moved"

        code, _, err = run(["sensors", "delete", "GAS-W", "NOPE"], settings, capsys)
        assert code == 1 and "deleted GAS-W" in err and "no sensor NOPE" in err
        eventually(lambda: httpx.get(f"{base}/sensors/GAS-W").status_code == 404)
        assert httpx.get(f"{base}/sensors/SMK-B").status_code == 200
