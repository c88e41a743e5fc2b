"""The drill panel in headless Chromium, on a fire plan for the FZK house: a drill started from the panel pushes
frames whose people move (point primitives read back from the scene, Cesium's clock kept at the run's t), pausing
stops the frames, seeking back plays kept frames again, a finished run replays from its CZML export on Cesium's
clock (entities loaded, their positions changing as the clock moves) and over the websocket, and two runs are
compared in the panel. A gas leak beside the house draws its plume's zones and replays them from CZML."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.test_viewer_browser import ARTIFACTS, PageLog, browser, new_page, open_viewer  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser

PLAN = "fzk-fire"
GAS_PLAN = "fzk-gas"
VIEWPORT = {"width": 960, "height": 640}  # small: SwiftShader draws every frame


def fire_plan(floors: dict[str, Any]) -> dict[str, Any]:
    """The demo's fire plan on the house, with people quick to start walking and a short run."""
    from scenes.demo_plans import fire_plan as demo_fire_plan

    plan = demo_fire_plan(floors, None, None)
    evacuation = {"density": {floor["storey"]: 0.1 for floor in floors["floors"]},
                  "premovement": {"dist": "lognormal", "mean_s": 2, "sd_s": 1, "max_s": 6}}
    schemes = [{**scheme, "evacuation": evacuation} for scheme in plan["schemes"] if scheme["id"] == "all-exits"]
    return {**plan, "id": PLAN, "name": "Fire in the FZK house", "schemes": schemes,
            "time": {**plan["time"], "mode": "real_time", "duration_s": 300}}


def gas_plan(lon: float, lat: float) -> dict[str, Any]:
    """A gas main leaking beside the house, its plume drifting east; frames every 5 s."""
    return {"id": GAS_PLAN, "name": "Gas leak by the FZK house",
            "incident": {"kind": "gas_leak", "location": [lon, lat - 0.0003, 0.5]},
            "time": {"mode": "real_time", "frame_interval_s": 5.0, "duration_s": 300},
            "gas": {"substance": "methane", "release_kg_s": 2.0, "height_m": 0.5,
                    "wind": {"speed_m_s": 3.0, "direction_deg": 270, "stability": "D"}},
            "schemes": [{"id": "steady-wind"}]}


@pytest.fixture(scope="module")
def house(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[str, dict[str, str]]]:
    """A live server with the FZK house, a fire plan for it and a gas leak beside it; with each plan the server
    could not take (no simulator for its hazard yet), why."""
    from tests.conftest import populated_server
    from tests.helpers.data import shared_data
    from twin.ingest import ingest_ifc

    def populate(engine: Any) -> None:
        ingest_ifc(engine, shared_data("ifc/AC20-FZK-Haus.ifc"), "fzk")

    with populated_server(server_url, template_database, tmp_path_factory.mktemp("drill-house"), populate) as (
            base_url, engine):
        with engine.connect() as conn:
            building: str = conn.execute(text("SELECT id FROM twin_objects WHERE dataset_id = 'fzk' "
                                              "AND kind = 'IfcBuilding' ORDER BY id LIMIT 1")).scalar_one()
        floors = httpx.get(f"{base_url}/buildings/{building}/floors", timeout=30).json()
        lon, lat = httpx.get(f"{base_url}/objects/{building}").json()["geometry"]["coordinates"][0][0][:2]
        missing = {}
        for plan in (fire_plan(floors), gas_plan(lon, lat)):
            answer = httpx.post(f"{base_url}/plans", json=plan, timeout=60)
            if answer.status_code == 422 and "no simulator runs" in answer.text:
                missing[plan["id"]] = answer.json()["detail"]["message"]
            else:
                assert answer.status_code == 201, answer.text
        yield base_url, missing


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:  # noqa: F811 - the shared browser fixture
    yield from new_page(browser, viewport=VIEWPORT)


def drills(page: Any, expression: str) -> Any:
    return page.evaluate(f"() => {{ const d = window.citytwin.drills; return {expression}; }}")


def wait_for(page: Any, condition: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => {{ const d = window.citytwin.drills; return {condition}; }}", timeout=timeout)


def wait_for_end(base: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = httpx.get(f"{base}/drills/runs/{run_id}").json()
        if run["status"] in ("finished", "stopped", "failed"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not end")


def test_a_drill_started_in_the_panel_moves_people_pauses_seeks_replays_and_compares(
        tab: Any, house: tuple[str, dict[str, str]]) -> None:
    page, (base, missing) = tab, house
    if PLAN in missing:
        pytest.skip(f"this server runs no fire drills yet: {missing[PLAN]}")
    log = PageLog(page, base)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1, state
    page.wait_for_function("() => window.citytwin.drills !== null")
    page.click("#drill-toggle")
    page.wait_for_selector(f'#drill-plan option[value="{PLAN}"]', state="attached")
    page.select_option("#drill-plan", PLAN)
    page.wait_for_selector('#drill-scheme option[value="all-exits"]', state="attached")
    page.select_option("#drill-scheme", "all-exits")
    page.select_option("#drill-speed", "2")

    # Started from the panel, the run's frames come over the websocket and its people move between frames.
    page.click("#drill-start")
    wait_for(page, "d.selectedRun !== null && d.frames >= 2")
    run_id = drills(page, "d.selectedRun")
    assert drills(page, "d.peopleShown()") > 0, drills(page, "JSON.stringify(d.lastFrame).slice(0, 300)")
    before = drills(page, "{ t: d.lastT, at: d.positions(8) }")
    wait_for(page, f"d.lastT > {before['t']} + 4")
    after = drills(page, "{ t: d.lastT, at: d.positions(8), clock: d.clockSeconds() }")
    assert after["at"] != before["at"], "nobody moved in 4 simulated seconds"
    assert abs(after["clock"] - after["t"]) < 1e-3  # Cesium's clock shows the frame's time
    assert "moving" in page.text_content("#drill-counts") and page.text_content("#drill-t").startswith("t = ")
    if drills(page, "(d.lastFrame.smoke || []).length"):  # the fire's smoke per space, drawn as volumes
        wait_for(page, "d.view.smoke.spaces().length > 0")
    camera = page.evaluate("() => window.citytwin.viewer.camera.positionWC.clone()")
    page.click("#drill-zoom")  # flies to the drill's people
    page.wait_for_function("(c) => { const p = window.citytwin.viewer.camera.positionWC; "
                           "return Math.hypot(p.x - c.x, p.y - c.y, p.z - c.z) > 1; }", arg=camera)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-drill.png"))

    # Paused, the frames stop.
    page.click("#drill-pause")
    wait_for(page, "d.run.status === 'paused'")
    page.wait_for_timeout(500)  # a frame on its way when the pause was taken
    frames = drills(page, "d.frames")
    page.wait_for_timeout(1500)
    assert drills(page, "d.frames") == frames

    # Seeking back, then resuming, plays the kept frames from there again.
    paused_at = drills(page, "d.lastT")
    page.evaluate("() => { window.citytwin.drills.seen = []; }")
    page.fill("#drill-seek-t", "1")
    page.click("#drill-seek")
    page.click("#drill-resume")
    wait_for(page, f"d.seen.some((t) => t <= 1.5) && d.lastT < {paused_at}")

    # Faster, it finishes; the runs list shows it ended.
    page.select_option("#drill-speed", "200")
    row = page.locator(f'#drill-runs li[data-run="{run_id}"][data-status="finished"]')
    row.wait_for(timeout=60_000)

    # The finished run replays from its CZML on Cesium's clock: entities loaded, positions changing with the clock.
    page.select_option("#drill-speed", "2")
    row.locator("button", has_text="CZML").click()
    wait_for(page, "d.mode === 'czml' && d.czmlEntityCount() > 0")
    assert page.is_visible("#drill-timeline .cesium-timeline-main")
    page.fill("#drill-seek-t", "3")
    page.click("#drill-seek")
    start = drills(page, "{ s: d.clockSeconds(), at: d.czmlPositions(8) }")
    assert any(start["at"]), start
    wait_for(page, f"d.clockSeconds() > {start['s']} + 2")
    assert drills(page, "d.czmlPositions(8)") != start["at"]

    # Over the websocket, the stored frames replay with the panel drawing them.
    row.locator("button", has_text="WS").click()
    wait_for(page, "d.mode === 'replay' && d.frames >= 3")
    assert drills(page, "d.peopleShown()") > 0

    # Two ended runs compared in the panel: key figures side by side and the page with plots.
    other = httpx.post(f"{base}/plans/{PLAN}/runs", json={"scheme": "all-exits", "seed": 2, "speed": 200},
                       timeout=60).json()
    assert wait_for_end(base, other["id"])["status"] == "finished"
    page.click("#drill-runs-refresh")
    for run in (run_id, other["id"]):
        page.locator(f'#drill-runs li[data-run="{run}"] .drill-run-compare').check()
    page.click("#drill-compare")
    page.wait_for_selector('#drill-figures tr[data-figure="rset_s"]')
    href = page.get_attribute("#drill-compare-link", "href") or ""
    assert f"a={run_id}" in href and f"b={other['id']}" in href
    assert httpx.get(base + href).status_code == 200
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)


def test_a_gas_leak_started_in_the_panel_draws_its_zones_and_replays_them_from_czml(
        tab: Any, house: tuple[str, dict[str, str]]) -> None:
    page, (base, missing) = tab, house
    if GAS_PLAN in missing:
        pytest.skip(f"this server runs no gas drills yet: {missing[GAS_PLAN]}")
    log = PageLog(page, base)
    assert open_viewer(page, log)["ok"]
    page.wait_for_function("() => window.citytwin.drills !== null")
    page.click("#drill-toggle")
    page.wait_for_selector(f'#drill-plan option[value="{GAS_PLAN}"]', state="attached")
    page.select_option("#drill-plan", GAS_PLAN)
    page.wait_for_selector('#drill-scheme option[value="steady-wind"]', state="attached")
    page.select_option("#drill-speed", "50")
    page.click("#drill-start")
    # The plume's threshold zones arrive with the frames and are drawn as polygons.
    wait_for(page, "d.selectedRun !== null && d.frames >= 1 && (d.lastFrame.zones || []).length > 0")
    wait_for(page, "d.view.zones.entities.values.length > 0")
    assert drills(page, "d.lastFrame.zones[0].hazard") == "gas"
    run_id = drills(page, "d.selectedRun")
    row = page.locator(f'#drill-runs li[data-run="{run_id}"][data-status="finished"]')
    row.wait_for(timeout=60_000)
    # Replayed from the CZML export, the zones are entities on Cesium's clock.
    row.locator("button", has_text="CZML").click()
    wait_for(page, "d.mode === 'czml' && d.czmlEntityCount() > 0")
    zones = drills(page, "d.timeline.czml.entities.values.filter((e) => e.id.startsWith('zone-gas')).length")
    assert zones > 0
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
