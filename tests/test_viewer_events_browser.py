"""Events in the viewer, in headless Chromium: an event reported by clicking a roof shows its marker there (red,
pinned with the roof's height and the building's id), its panel lists the nearest fire station by road with the
route drawn; a transition the server refuses shows its reason; assigning and closing it from the panel updates
the marker and the cockpit counts. Then 10,000 open events (inserted straight into the database) render
clustered, and the page stays responsive (re-clustering and frame times printed, not asserted).

The data: three footprint blocks, a fire station, a hospital and hydrants as points, a small road network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.test_viewer_browser import PageLog, browser, new_page, open_viewer  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser

LON, LAT = 13.40, 52.52
M_LON, M_LAT = 1 / 67_900, 1 / 111_260  # degrees per metre at 52.5° N
VIEWPORT = {"width": 960, "height": 640}
ROOF_M = 20


def at(x: float, y: float) -> list[float]:
    return [LON + x * M_LON, LAT + y * M_LAT]


def block(key: str, east_m: float, height: float) -> dict[str, Any]:
    (x1, y1), (x2, y2) = at(east_m, 0), at(east_m + 30, 30)
    return {"type": "Feature", "properties": {"id": key, "height": height},
            "geometry": {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}}


def point(x: float, y: float, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": {"type": "Point", "coordinates": at(x, y)}}


def road(*xy: tuple[float, float], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"highway": "residential", **properties},
            "geometry": {"type": "LineString", "coordinates": [at(x, y) for x, y in xy]}}


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture(scope="module")
def city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, Any]]:
    """One server for the module: blocks a, b, c, resources, roads and two actors."""
    from ingest_gis.footprints import FootprintOptions
    from ingest_gis.points import PointOptions
    from ingest_gis.roads import RoadOptions
    from tests.conftest import populated_server
    from twin.events.roads_store import ingest_roads
    from twin.ingest import ingest_footprints, ingest_points

    data_dir = Path(tmp_path_factory.mktemp("event-city"))
    blocks = write(data_dir / "blocks.geojson", [block("a", 0, ROOF_M), block("b", 50, 12), block("c", 100, 30)])
    resources = write(data_dir / "resources.geojson", [
        point(-200, 150, kind="fire_station", name="Station 3"), point(300, -40, kind="hospital", name="Clinic"),
        point(20, -25, kind="hydrant", id="h1"), point(80, -25, kind="hydrant", id="h2")])
    roads = write(data_dir / "roads.geojson", [road((-200, -20), (300, -20), name="Main"),
                                                road((-200, 200), (-200, -20), name="Station road")])

    def populate(engine: Any) -> None:
        ingest_footprints(engine, blocks, FootprintOptions(name="blocks", height_attr="height"))
        ingest_points(engine, resources, PointOptions(name="resources"))
        ingest_roads(engine, roads, RoadOptions(name="streets"))

    with populated_server(server_url, template_database, data_dir, populate) as (base_url, engine):
        for actor, body in (("officer-li", {"name": "Officer Li", "kind": "person"}),
                            ("brigade-3", {"name": "Fire brigade 3", "kind": "unit"})):
            assert httpx.put(f"{base_url}/actors/{actor}", json=body).status_code == 200
        yield base_url, engine


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:  # noqa: F811 - the shared browser fixture
    yield from new_page(browser, viewport=VIEWPORT)


def start(page: Any, log: PageLog) -> None:
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 2 and state["failed"] == 0, state  # blocks and resources
    page.wait_for_function("() => window.citytwin.events && window.citytwin.events.listed >= 1 "
                           "&& window.citytwin.events.cockpit.loads >= 1")


def window_xy(page: Any, lon: float, lat: float, h: float) -> tuple[float, float]:
    """Where a point is on the page, checked to be on the canvas and not under a panel."""
    xy: dict[str, Any] = page.evaluate("""([lon, lat, h]) => {
        const { Cesium, viewer } = window.citytwin;
        const world = Cesium.Cartesian3.fromDegrees(lon, lat, h);
        const p = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, world);
        const r = viewer.scene.canvas.getBoundingClientRect();
        const x = p.x + r.left, y = p.y + r.top;
        return { x, y, tag: document.elementFromPoint(x, y).tagName };
    }""", [lon, lat, h])
    assert xy["tag"] == "CANVAS", xy
    return xy["x"], xy["y"]


def counts(page: Any) -> dict[str, int]:
    found: dict[str, int] = page.evaluate("window.citytwin.events.cockpit.counts()")
    return found


def wait_counts(page: Any, expected: dict[str, int]) -> None:
    page.wait_for_function("""(want) => { const c = window.citytwin.events.cockpit.counts();
        return Object.entries(want).every(([k, v]) => c[k] === v); }""", arg=expected, timeout=10_000)


def transition(page: Any, label: str, status: str) -> None:
    page.click(f"#event-buttons button:has-text('{label}')")
    page.wait_for_function("(s) => document.getElementById('event-panel').dataset.status === s", arg=status)


def test_an_event_reported_at_a_clicked_roof_is_assigned_and_closed_from_its_panel(
        tab: Any, city: tuple[str, Any]) -> None:
    page, (base_url, _engine) = tab, city
    log = PageLog(page, base_url)
    start(page, log)
    before = counts(page)

    # Report mode: a click on block a's roof picks the point; the form sends kind, severity and title.
    page.click("#event-report-toggle")
    centre = at(15, 15)
    x, y = window_xy(page, centre[0], centre[1], ROOF_M)
    page.mouse.click(x, y)
    page.wait_for_selector("#event-report-form:not([hidden])")
    assert "blocks.a" in (page.text_content("#event-report-where") or "")
    page.select_option("#event-report-kind", "fire")
    page.select_option("#event-report-severity", "red")
    page.fill("#event-report-title", "smoke from the roof")
    page.click("#event-report-submit")
    page.wait_for_function("() => window.citytwin.events.selected !== null")
    event_id = page.evaluate("window.citytwin.events.selected")

    stored = httpx.get(f"{base_url}/events/{event_id}").json()
    assert (stored["kind"], stored["severity"], stored["title"], stored["object_id"], stored["source"]) == \
        ("fire", "red", "smoke from the roof", "blocks.a", "manual")
    lon, lat, h = stored["location"]
    assert abs(lon - centre[0]) / M_LON < 3 and abs(lat - centre[1]) / M_LAT < 3, stored["location"]
    assert abs(h - ROOF_M) < 1.5, h  # pinned on the roof, not the ground

    # Its marker is there, red and not in a cluster; the panel shows it with its history; the cockpit counts it.
    marker = page.evaluate("(id) => window.citytwin.events.markerOf(id)", event_id)
    assert marker["severity"] == "red" and marker["shown"] and not marker["clustered"], marker
    page.wait_for_selector("#event-panel[data-state=loaded][data-status=reported]")
    assert page.text_content("#event-title") == "smoke from the roof"
    assert page.locator("#event-history li[data-action=reported]").count() == 1
    wait_counts(page, {"open": before["open"] + 1, "severity-red": before["severity-red"] + 1,
                       "status-reported": before["status-reported"] + 1})

    # The nearest fire station comes by road, its route drawn; the hospital and hydrants are listed too.
    page.wait_for_selector("#event-nearby li[data-kind=fire_station][data-route=drawn]")
    assert "Station 3" in (page.text_content("#event-nearby li[data-kind=fire_station]") or "")
    assert page.locator("#event-nearby li[data-kind=hospital]").count() == 1
    assert page.locator("#event-nearby li[data-kind=hydrant]").count() == 2
    assert page.evaluate("window.citytwin.events.panel.routes.count") >= 1

    # Closing the panel and clicking the marker opens it again.
    page.click("#event-close")
    assert page.evaluate("window.citytwin.events.selected") is None
    page.evaluate("window.citytwin.viewer.scene.requestRender()")
    x, y = window_xy(page, lon, lat, h)
    page.mouse.click(x, y)
    page.wait_for_selector(f"#event-panel[data-event-id='{event_id}'][data-state=loaded]")

    # A transition the server refuses (assigning without an assignee) shows its reason and changes nothing.
    page.select_option("#event-actor", "officer-li")
    page.click("#event-buttons button:has-text('Assign')")
    page.wait_for_selector("#event-message:not([hidden])")
    assert "assignee" in (page.text_content("#event-message") or "")
    assert httpx.get(f"{base_url}/events/{event_id}").json()["status"] == "reported"

    # Assigning to the brigade: the marker stays, the cockpit moves it from reported to assigned.
    page.select_option("#event-assignee", "brigade-3")
    transition(page, "Assign", "assigned")
    assert page.text_content("#event-fields dd[data-field=assignee]") == "brigade-3"
    assert page.is_hidden("#event-message")
    wait_counts(page, {"status-reported": before["status-reported"], "status-assigned": before["status-assigned"] + 1})
    assert page.evaluate("(id) => window.citytwin.events.markerOf(id).status", event_id) == "assigned"

    # Handle, verify, close: the marker goes, the cockpit's open count is back and one more is closed today.
    transition(page, "Handle", "handling")
    transition(page, "Verify", "verifying")
    page.fill("#event-note", "fire out, roof checked")
    transition(page, "Close", "closed")
    assert page.evaluate("(id) => window.citytwin.events.markerOf(id)", event_id) is None
    wait_counts(page, {"open": before["open"], "severity-red": before["severity-red"],
                       "status-closed": before["status-closed"] + 1})
    actions = [li.get_attribute("data-action") for li in page.locator("#event-history li").all()]
    assert actions == ["reported", "assigned", "handling", "verifying", "closed"]
    assert page.is_enabled("#event-buttons button:has-text('Close')") is False
    history = httpx.get(f"{base_url}/events/{event_id}").json()["history"]
    assert history[-1]["note"] == "fire out, roof checked" and history[1]["assignee"] == "brigade-3"

    # Events changed by others arrive over the websocket: one pinned only on block c shows on its top, and
    # goes when it is cancelled.
    received = page.evaluate("window.citytwin.events.received")
    answer = httpx.post(f"{base_url}/events", json={"kind": "structural", "severity": "yellow", "object_id": "blocks.c",
                                                     "title": "cracked facade"})
    assert answer.status_code == 201, answer.text
    other = answer.json()["event"]["id"]
    page.wait_for_function("(id) => window.citytwin.events.markerOf(id) !== null", arg=other)
    marker = page.evaluate("(id) => window.citytwin.events.markerOf(id)", other)
    assert marker["severity"] == "yellow" and abs(marker["position"][2] - 30) < 0.5, marker  # block c's top
    assert abs(marker["position"][0] - at(115, 15)[0]) / M_LON < 1, marker
    assert httpx.post(f"{base_url}/events/{other}/transitions", json={"to": "cancelled", "actor": "officer-li"}
                      ).status_code == 200
    page.wait_for_function("(id) => window.citytwin.events.markerOf(id) === null", arg=other)
    assert page.evaluate("window.citytwin.events.received") >= received + 2
    wait_counts(page, {"open": before["open"], "status-cancelled": before["status-cancelled"] + 1})

    refused = f"status of 400 (Bad Request) ({base_url}/events/{event_id}/transitions)"
    unexpected = [e for e in log.console_errors if not e.endswith(refused)]  # the refusal asked for above
    assert not log.page_errors and not unexpected, (log.page_errors, log.console_errors)
    assert not log.foreign_requests, log.foreign_requests


def test_ten_thousand_open_events_render_clustered_without_the_page_hanging(
        tab: Any, city: tuple[str, Any]) -> None:
    page, (base_url, engine) = tab, city
    with engine.begin() as conn:  # spread over about 2 × 2 km around the blocks
        conn.execute(text("""
            INSERT INTO events (kind, severity, source, title, location, reported_at, updated_at, deadline)
            SELECT (ARRAY['fire','gas_leak','water_logging','other'])[1 + i % 4],
                   (ARRAY['blue','yellow','orange','red'])[1 + (i / 4) % 4], 'manual', 'bulk ' || i,
                   ST_SetSRID(ST_MakePoint(:lon + (random() - 0.5) * 0.03, :lat + (random() - 0.5) * 0.018, 0), 4326),
                   now(), now(), now() + interval '1 day'
            FROM generate_series(1, 10000) AS i"""), {"lon": LON, "lat": LAT})
    log = PageLog(page, base_url)
    start(page, log)
    page.wait_for_function("() => window.citytwin.events.stats().markers >= 10000")
    page.evaluate("""() => { const { Cesium, viewer } = window.citytwin;
        viewer.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(13.40, 52.52, 4000) }); }""")
    # Seen from 4 km up all of them are on screen: nearly every one is in a cluster.
    page.wait_for_function("() => window.citytwin.events.stats().clustered > 9000", timeout=10_000)
    stats = page.evaluate("window.citytwin.events.stats()")
    assert stats["markers"] == 10000, stats
    assert stats["shown"] + stats["clustered"] == stats["markers"], stats
    assert stats["clusters"] < 1000, stats  # a count per crowded screen cell, not one per event

    # Frames while the camera moves (each move re-clusters, throttled), next to the same moves with the event
    # primitives hidden (the peer: the city alone); the page answers throughout.
    moves = """(hidden) => new Promise((done) => {
        const { viewer } = window.citytwin;
        const markers = window.citytwin.events.markers;
        for (const p of [markers.points, markers.clusterPoints, markers.labels]) p.show = !hidden;
        const frames = [];
        let last = performance.now();
        const step = (n) => {
            viewer.camera.moveRight(hidden ? -15 : 15);
            viewer.camera.zoomIn(hidden ? -10 : 10);
            viewer.scene.render();
            const now = performance.now();
            frames.push(now - last);
            last = now;
            if (n > 0) requestAnimationFrame(() => step(n - 1));
            else done({ frames, stats: window.citytwin.events.stats() });
        };
        requestAnimationFrame(() => step(20));
    })"""
    shown = page.evaluate(moves, False)
    peer = page.evaluate(moves, True)
    page.evaluate("""() => { const m = window.citytwin.events.markers;
        for (const p of [m.points, m.clusterPoints, m.labels]) p.show = true; }""")

    def p50(frames: list[float]) -> float:
        return sorted(frames[1:])[len(frames) // 2]

    print(f"\n10,000 events: {shown['stats']['clusters']} clusters, {shown['stats']['shown']} single markers; "
          f"frame p50 {p50(shown['frames']):.1f} ms (max {max(shown['frames'][1:]):.1f}) vs "
          f"{p50(peer['frames']):.1f} ms without the markers (×{p50(shown['frames']) / p50(peer['frames']):.2f}); "
          f"re-clustering {shown['stats']['lastClusterMs']:.1f} ms ({shown['stats']['reclusters']} so far)")
    assert shown["stats"]["reclusters"] > stats["reclusters"]  # the camera moves re-clustered the markers
    assert shown["stats"]["clustered"] > 9000, shown["stats"]
    assert page.evaluate("1 + 1") == 2

    # Clicking a cluster flies closer to its events: the biggest one not under a panel.
    page.wait_for_function("() => window.citytwin.events.stats().clusters > 0")
    target = page.evaluate("""() => { const { Cesium, viewer } = window.citytwin;
        const r = viewer.scene.canvas.getBoundingClientRect();
        const seen = (cluster) => {
            const p = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, cluster.position);
            return p && document.elementFromPoint(p.x + r.left, p.y + r.top) === viewer.scene.canvas;
        };
        const big = [...window.citytwin.events.markers.clusters].sort((a, b) => b.ids.length - a.ids.length)
            .find(seen);
        const c = Cesium.Cartographic.fromCartesian(big.position);
        return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), c.height,
                viewer.camera.positionCartographic.height]; }""")
    x, y = window_xy(page, target[0], target[1], target[2])
    page.mouse.click(x, y)
    page.wait_for_function("(h) => window.citytwin.viewer.camera.positionCartographic.height < h * 0.8",
                           arg=target[3], timeout=15_000)
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)


def test_the_viewer_is_told_every_events_url_and_each_answers(city: tuple[str, Any]) -> None:
    base_url, _engine = city
    config = httpx.get(f"{base_url}/viewer/config.json").json()
    assert httpx.get(base_url + config["events_url"]).status_code == 200
    actors = {a["id"] for a in httpx.get(base_url + config["actors_url"]).json()["actors"]}
    assert {"officer-li", "brigade-3"} <= actors, actors  # with the built-in `system` actor
    assert "by_status" in httpx.get(base_url + config["cockpit_url"]).json()["events"]
    event = httpx.post(base_url + config["events_url"], json={"kind": "other", "location": at(0, -30),
                                                               "title": "bench left on the road"}).json()["event"]
    one = httpx.get(base_url + config["event_url_template"].replace("{id}", str(event["id"]))).json()
    assert [h["action"] for h in one["history"]] == ["reported"]
    nearby = httpx.get(base_url + config["event_nearby_url_template"].replace("{id}", str(event["id"])),
                       params={"kinds": config["event_nearby_kinds"], "k": 3})
    assert set(nearby.json()["resources"]) == {"fire_station", "hospital", "hydrant"}
    moved = httpx.post(base_url + config["event_transitions_url_template"].replace("{id}", str(event["id"])),
                       json={"to": "closed", "actor": "officer-li"})
    assert moved.status_code == 409 and moved.json()["detail"]["allowed"] == ["assigned", "cancelled"]
