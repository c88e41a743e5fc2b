"""The live twin in the viewer, in headless Chromium: a reading posted over HTTP that crosses red turns the building
holding its room red (the tile feature's colour, read back from the Cesium tileset), the alarm appears in the panel,
and acknowledging it there records who did; the time slider replays the hour before (no alarm yet) and Live
comes back to now; a dropped socket resumes from its last sequence; a re-tiled layer is reloaded.

The data is three footprint blocks and one room object under the first (the room has no tile feature of its own,
so the building is coloured through the room's parent chain)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from shapely.geometry import Polygon
from sqlalchemy import text

from tests.test_viewer_browser import PageLog, browser, new_page, open_viewer  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser

LON, LAT = 13.40, 52.52
M_LON, M_LAT = 1 / 67_900, 1 / 111_260  # degrees per metre at 52.5° N
RED = "#e5322d"
VIEWPORT = {"width": 960, "height": 640}  # smaller than the other viewer tests': SwiftShader draws every frame


def block(key: str, east_m: float, height: float) -> dict[str, Any]:
    x1, y1 = LON + east_m * M_LON, LAT
    x2, y2 = x1 + 30 * M_LON, y1 + 30 * M_LAT
    return {"type": "Feature", "properties": {"id": key, "height": height},
            "geometry": {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}}


@pytest.fixture(scope="module")
def city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Any]]:
    """A server with blocks a, b, c (footprints) and a room `blocks.a.room` whose parent is block a."""
    from ingest_gis.footprints import FootprintOptions
    from tests.conftest import populated_server
    from twin.ingest import ingest_footprints

    data_dir = tmp_path_factory.mktemp("live-blocks")
    source = Path(data_dir) / "blocks.geojson"
    source.write_bytes(orjson.dumps({"type": "FeatureCollection",
                                     "features": [block("a", 0, 20), block("b", 50, 12), block("c", 100, 30)]}))

    def populate(engine: Any) -> None:
        ingest_footprints(engine, source, FootprintOptions(name="blocks", height_attr="height"))
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO twin_objects (id, dataset_id, kind, name, parent_id, footprint, zmin, zmax, attributes) "
                "SELECT 'blocks.a.room', dataset_id, 'space', 'Boiler room', id, footprint, 0, 3, '{}'::jsonb "
                "FROM twin_objects WHERE id = 'blocks.a'"))

    with populated_server(server_url, template_database, data_dir, populate) as (base_url, engine):
        sensors = [
            {"id": "GAS-A-ROOM", "kind": "gas", "object_id": "blocks.a.room",
             "position": [LON + 15 * M_LON, LAT + 15 * M_LAT, 1.5],
             "thresholds": {"direction": "above", "levels": {"yellow": 10, "red": 25}, "hysteresis": 2,
                            "min_duration_s": 0}},
            {"id": "WL-STREET", "kind": "water_level", "position": [LON + 40 * M_LON, LAT - 10 * M_LAT, 0]},
        ]
        answer = httpx.post(f"{base_url}/sensors", json=sensors)
        assert answer.status_code == 201, answer.text
        httpx.post(f"{base_url}/readings", json=[{"sensor": "GAS-A-ROOM", "value": 3.0},
                                                 {"sensor": "WL-STREET", "value": 0.02}])
        yield base_url, engine


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:  # noqa: F811 - the shared browser fixture
    yield from new_page(browser, viewport=VIEWPORT)


def feature_colours(tab: Any, object_id: str) -> list[str]:
    """The colours of the loaded tile features of an object, read back from the Cesium tileset."""
    colours: list[str] = tab.evaluate("(id) => window.citytwin.live.featureColors(id)", object_id)
    return colours


def test_a_reading_crossing_red_turns_its_building_red_and_the_alarm_is_acknowledged_in_the_panel(
        tab: Any, city: tuple[str, Any]) -> None:
    page, (blocks, engine) = tab, city
    log = PageLog(page, blocks)
    page.add_init_script("localStorage.setItem('citytwin.acknowledger', 'duty officer Li')")
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1 and state["failed"] == 0, state
    page.wait_for_function("() => window.citytwin.live && window.citytwin.live.socket.state === 'live'")
    assert page.get_attribute("#live-indicator", "data-state") == "live"
    assert page.text_content("#live-indicator") == "● Live"  # "● Live (实时)": its English side in an en browser
    page.wait_for_function("() => window.citytwin.live.sensors.byId.size === 2")  # the points of both sensors
    assert page.evaluate("window.citytwin.live.sensors.colorOf('GAS-A-ROOM')") == "online"
    # The building's features in the loaded tiles (once, in a CI run at load ≈15, not yet there when the opening
    # had settled).
    page.wait_for_function("() => window.citytwin.live.featureColors('blocks.a').length > 0")
    before = feature_colours(page, "blocks.a")
    assert RED not in before, before
    assert page.locator("#alarm-list li").count() == 0

    answer = httpx.post(f"{blocks}/readings", json=[{"sensor": "GAS-A-ROOM", "value": 31.0}])
    assert answer.json()["accepted"] == 1, answer.text

    # The building of the room turns red in the tiles, with no reload; its neighbours keep their colours.
    page.wait_for_function("() => window.citytwin.live.featureColors('blocks.a').includes('#e5322d')",
                           timeout=10_000)
    assert feature_colours(page, "blocks.a") == [RED]
    assert RED not in feature_colours(page, "blocks.b")
    assert page.evaluate("window.citytwin.live.sensors.colorOf('GAS-A-ROOM')") == "red"

    # The alarm is in the panel, on the room, and acknowledging it there records who did.
    item = page.locator('#alarm-list li[data-sensor="GAS-A-ROOM"]')
    item.wait_for()
    assert item.get_attribute("data-level") == "red" and item.get_attribute("data-object") == "blocks.a.room"
    assert page.input_value("#alarm-name") == "duty officer Li"  # remembered from an earlier visit
    page.fill("#alarm-name", "officer Wang")
    item.locator(".alarm-ack-button").click()
    item.locator(".alarm-ack").wait_for()
    assert item.locator(".alarm-ack").text_content() == "✓ officer Wang"
    alarms = httpx.get(f"{blocks}/alarms").json()["alarms"]
    assert [(a["sensor"], a["acknowledged_by"]) for a in alarms] == [("GAS-A-ROOM", "officer Wang")]
    assert page.evaluate("localStorage.getItem('citytwin.acknowledger')") == "officer Wang"

    # The inspector of the building lists the room's sensor with its value and a history chart.
    page.evaluate("window.citytwin.inspect('blocks.a')")
    page.wait_for_selector('#inspector-sensor-list tr[data-sensor="GAS-A-ROOM"]')
    assert "31" in (page.text_content('#inspector-sensor-list tr[data-sensor="GAS-A-ROOM"] .sensor-value') or "")
    page.wait_for_selector("#inspector-chart[data-state=loaded] svg")
    assert int(page.get_attribute("#inspector-chart svg", "data-points") or 0) >= 1

    # A dropped connection comes back and resumes from its last sequence: what happened meanwhile arrives.
    page.evaluate("window.citytwin.live.socket.socket.close()")
    httpx.post(f"{blocks}/readings", json=[{"sensor": "WL-STREET", "value": 0.04}])
    page.wait_for_function("() => window.citytwin.live.socket.resumed === 1 && "
                           "window.citytwin.live.state.readings.get('WL-STREET').value === 0.04")
    assert page.evaluate("window.citytwin.live.socket.state") == "live"

    # The time slider replays the past over the websocket: an hour ago the building had no alarm; Live is now.
    page.evaluate("""() => { const s = document.getElementById('time-slider');
                             s.value = '0'; s.dispatchEvent(new Event('change')); }""")
    page.wait_for_function("() => window.citytwin.live.socket.state === 'paused'")
    page.wait_for_function("() => !window.citytwin.live.featureColors('blocks.a').includes('#e5322d')")
    assert page.locator("#alarm-list li").count() == 0
    page.click("#time-live")
    page.wait_for_function("() => window.citytwin.live.socket.state === 'live'")
    page.wait_for_function("() => window.citytwin.live.featureColors('blocks.a').includes('#e5322d')")
    assert page.locator("#alarm-list li .alarm-ack").text_content() == "✓ officer Wang"

    # A re-tiled dataset (the tileset-changed notice on the live `tilesets` channel) is reloaded: a new block shows.
    from ingest_gis.records import ObjectRecord
    from twin.retile import update_objects

    new = block("d", 150, 15)["geometry"]["coordinates"][0]
    update_objects(engine, "blocks", [ObjectRecord("blocks.d", "building", None, Polygon(new), 0, 15, {"id": "d"})])
    page.wait_for_function("() => window.citytwin.reloads === 1", timeout=20_000)
    assert page.evaluate("window.citytwin.live.featureColors('blocks.d').length") == 1
    assert feature_colours(page, "blocks.a") == [RED]  # the reloaded layer keeps its alarm colours

    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    assert not log.foreign_requests, log.foreign_requests


def test_the_viewer_is_told_each_alarm_objects_kind_and_parent_chain(city: tuple[str, Any]) -> None:
    base_url, _engine = city
    config = httpx.get(f"{base_url}/viewer/config.json").json()
    answer = httpx.get(base_url + config["ancestors_url"], params={"ids": ["blocks.a.room", "blocks.b", "nope"]})
    assert answer.json() == {"objects": {
        "blocks.a.room": {"kind": "space", "ancestors": [{"id": "blocks.a", "kind": "building"}]},
        "blocks.b": {"kind": "building", "ancestors": []}}}
