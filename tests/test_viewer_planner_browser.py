"""The viewer as planners use it, in headless Chromium on the demo city (the generated district with its towers and
the generated IFC office in its park): zoom-to frames the building whole with the district faded, a storey view
cuts away what is above the storey and labels its rooms, styling by `year_built` paints picked features in their
legend class, a filter hides what it should, search finds an address and flies there, sections (horizontal, along
a drawn line, a clipping polygon) remove what they should until removed, distance, height and area are measured,
and a shared link reopens the same view, layers, style, filter, storey and selection; the saved PNG is the canvas.
One page on one server serves every test (in file order); screenshots go to tests/artifacts/."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pyproj import Geod, Transformer
from shapely.geometry import Point, Polygon
from sqlalchemy import text

from tests.test_viewer_browser import (  # noqa: F401 - browser is a fixture
    ARTIFACTS,
    SNAPSHOT_DIFF_JS,
    SNAPSHOT_JS,
    PageLog,
    browser,
    open_viewer,
)

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1280, "height": 800}

# Picks on a grid over the canvas (where the canvas is on top): [{x, y, id, storey, class}] of the hits.
GRID_PICKS_JS = """
(n) => {
  const { viewer, pickAt } = window.citytwin;
  const rect = viewer.canvas.getBoundingClientRect();
  const hits = [];
  for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
    const x = (rect.width * i) / n, y = (rect.height * j) / n;
    if (document.elementFromPoint(rect.left + x, rect.top + y) !== viewer.canvas) continue;
    const hit = pickAt(x, y);
    hits.push({ x, y, id: hit ? hit.id : null, storey: hit ? hit.properties.storey ?? null : null,
                cls: hit ? hit.properties.class ?? null : null });
  }
  return hits;
}
"""

# World positions of the building surfaces seen on a grid (or those given), as signed distances (m) to the plane of
# clipping owner `owner` (positive: the kept side); with no owner, the positions themselves.
PLANE_SIDES_JS = """
([n, owner, given]) => {
  const { viewer, Cesium, planner } = window.citytwin;
  const scene = viewer.scene;
  let points = given;
  if (!points) {
    scene.requestRender();
    viewer.render();
    const rect = viewer.canvas.getBoundingClientRect();
    points = [];
    for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
      const x = (rect.width * i) / n, y = (rect.height * j) / n;
      if (document.elementFromPoint(rect.left + x, rect.top + y) !== viewer.canvas) continue;
      const hit = planner.pick(new Cesium.Cartesian2(x, y));
      if (!(hit instanceof Cesium.Cesium3DTileFeature)) continue;
      if (!String(hit.getProperty("id")).startsWith("rathaus.")) continue;
      const p = scene.pickPosition(new Cesium.Cartesian2(x, y));
      if (p) points.push([p.x, p.y, p.z]);
    }
  }
  if (!owner) return points;
  const { point, normal } = planner.clipping.owners.get(owner).planes[0];
  return points.map(([x, y, z]) => Cesium.Cartesian3.dot(normal,
    Cesium.Cartesian3.subtract(new Cesium.Cartesian3(x, y, z), point, new Cesium.Cartesian3())));
}
"""

# Awaits in the page are bounded (page.evaluate itself waits for ever): `within(promise, what)`.
WITHIN_JS = """
window.within = (promise, what, ms = 60000) => Promise.race([promise, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms))]);
"""

NOTHING_CLIPPED_JS = """
() => window.citytwin.tilesets.every((t) => !window.citytwin.planner.clipping.constructor.clips(t))
"""

ZOOM_TO_DISTRICT_JS = """
async () => {
  const c = window.citytwin;
  document.querySelector('#layer-list li[data-tileset-id="demo"] button.zoom').click();
  await within(c.planner.framing, "the flight");
  await within(c.settle(60000), "the tiles");
}
"""

# Fraction of pixels of a PNG (base64) that differ clearly from a kept snapshot.
PNG_DIFF_JS = """
async ([png, name]) => {
  const image = await createImageBitmap(await (await fetch(`data:image/png;base64,${png}`)).blob());
  const copy = new OffscreenCanvas(image.width, image.height).getContext("2d");
  copy.drawImage(image, 0, 0);
  const pa = copy.getImageData(0, 0, image.width, image.height).data, pb = window.__snapshots[name];
  if (pa.length !== pb.length) return 1;
  let changed = 0;
  for (let i = 0; i < pa.length; i += 4) {
    const d = Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]);
    if (d > 24) changed++;
  }
  return changed / (pa.length / 4);
}
"""

ZOOM_TO_BUILDING_JS = """
async () => {
  const c = window.citytwin;
  document.querySelector('#layer-list li[data-tileset-id="rathaus"] button.zoom').click();
  await within(c.planner.framing, "the flight");
  await within(c.settle(60000), "the tiles");
  const layer = c.layers.find((l) => l.info.id === "rathaus");
  const rect = c.viewer.canvas.getBoundingClientRect();
  return { inView: c.planner.inView(layer.tileset.boundingSphere), centre: c.pickAt(rect.width / 2, rect.height / 2) };
}
"""


@pytest.fixture(scope="module")
def demo(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server with the demo district (`demo`) and the demo office building (`rathaus`) in its park."""
    import orjson

    from ingest_gis.footprints import FootprintOptions
    from scenes.demo_building import generate_building
    from scenes.demo_district import GRID_ANGLE_DEG, generate_district, park_centre
    from tests.conftest import populated_server
    from twin.ingest import ingest_footprints, ingest_ifc

    folder = tmp_path_factory.mktemp("planner")
    district, building = folder / "district.geojson", folder / "building.ifc"
    district.write_bytes(orjson.dumps(generate_district()))
    generate_building(building, *park_centre(), grid_angle_deg=GRID_ANGLE_DEG)

    def populate(engine: Any) -> None:
        ingest_footprints(engine, district, FootprintOptions(name="demo"))
        ingest_ifc(engine, building, "rathaus")

    with populated_server(server_url, template_database, folder, populate) as (base_url, engine):
        yield base_url, engine


@pytest.fixture(scope="module")
def tab(browser: Any, demo: Any) -> Iterator[tuple[Any, PageLog]]:  # noqa: F811 - the shared browser fixture
    """One viewer page for the module's tests (opening the demo city is the slow part); each test checks the log."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.add_init_script(WITHIN_JS)
    log = PageLog(page, demo[0])
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 2 and state["failed"] == 0, state
    print(f"screenshots in {ARTIFACTS}")
    yield page, log
    context.close()


@pytest.fixture
def clean_log(tab: Any) -> Iterator[None]:
    """After a test: no page errors, no console errors, no request that left our server."""
    yield
    log = tab[1]
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    assert not log.foreign_requests, log.foreign_requests[:5]


def open_planner(page: Any) -> None:
    if page.get_attribute("#planner", "data-state") != "open":
        page.click("#planner-toggle")
    page.wait_for_selector("#planner-body", state="visible")


def settle(page: Any) -> None:
    """Wait (bounded) until every shown tileset has the tiles of the view."""
    page.evaluate("""() => within(window.citytwin.settle(60000), "the tiles").catch((error) => {
        const panel = document.querySelector(".cesium-widget-errorPanel");
        throw new Error(`${error.message}${panel ? `; Cesium stopped rendering: ${panel.textContent}` : ""}`);
    })""")


ECEF_TO_LON_LAT = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def lon_lat(xyz: list[float]) -> tuple[float, float]:
    lon, lat, _ = ECEF_TO_LON_LAT.transform(xyz[0], xyz[1], xyz[2])
    return lon, lat


def click_canvas(page: Any, x: float, y: float) -> None:
    """A click at a window point where the canvas, not a panel, is on top."""
    on_top = page.evaluate("([x, y]) => document.elementFromPoint(x, y) === window.citytwin.viewer.canvas", [x, y])
    assert on_top, f"a panel covers the canvas at {x}, {y}"
    page.mouse.click(x, y)


def canvas_centre(page: Any) -> tuple[float, float]:
    box = page.locator("#cesium-container canvas").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.mark.usefixtures("clean_log")
def test_zoom_to_the_building_frames_it_whole_over_a_faded_district_and_a_storey_view_cuts_above_it(
        tab: Any, demo: Any) -> None:
    page, _ = tab
    framed = page.evaluate(ZOOM_TO_BUILDING_JS)
    assert framed["inView"], "the building's bounding sphere is not inside the canvas"
    assert framed["centre"] and framed["centre"]["id"].startswith("rathaus."), framed["centre"]
    hits = page.evaluate(GRID_PICKS_JS, 24)
    building = [h for h in hits if h["id"] and h["id"].startswith("rathaus.")]
    assert len(building) >= 0.15 * len(hits), f"the building covers only {len(building)} of {len(hits)} grid points"
    assert not any(h["id"] and h["id"].startswith("demo.") for h in hits), "a faded district building was picked"
    assert page.evaluate("""() => { const c = window.citytwin, P = c.planner;
        return P.look.isFaded(c.layers.find((l) => l.info.id === "demo"))
            && !P.look.isFaded(c.layers.find((l) => l.info.id === "rathaus")); }""")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-framed.png"))
    page.evaluate(SNAPSHOT_JS, "framed")

    # storey 1. OG only: the roof and the storeys above are cut away, the room under the pointer is labelled
    above = {h["storey"] for h in building} - {"EG", "1. OG"}
    assert above, "nothing above the first floor was visible before the storey view"
    page.select_option("#storey-select", label="1. OG only")
    page.wait_for_function("() => window.citytwin.planner.storeyView.current?.top > 0")
    page.wait_for_timeout(1800)  # the flight to the plan view
    settle(page)
    with demo[1].connect() as conn:
        next_floor = conn.execute(text("SELECT min(zmin) FROM twin_objects WHERE dataset_id = 'rathaus' "
                                       "AND kind = 'IfcBuildingStorey' AND name = '2. OG'")).scalar_one()
    assert page.evaluate("window.citytwin.planner.storeyView.current.top") == pytest.approx(next_floor)
    hits = page.evaluate(GRID_PICKS_JS, 24)
    storeys = {h["storey"] for h in hits if h["id"] and h["id"].startswith("rathaus.")}
    assert storeys == {"1. OG"}, f"picks in the storey view hit storeys {storeys}"
    label = page.evaluate("""(hits) => { const P = window.citytwin.planner;
        for (const h of hits) { const t = P.hover.labelAt(h.x, h.y); if (t) return t; } return null; }""",
                          [h for h in hits if h["id"]])
    assert label and label.endswith("· 1. OG"), label
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-storey.png"))

    # all storeys again: nothing cut, the roof picks again from above
    page.select_option("#storey-select", value="")  # "All storeys", in whichever language the page shows
    settle(page)
    assert page.evaluate(NOTHING_CLIPPED_JS)
    hits = page.evaluate(GRID_PICKS_JS, 24)
    assert {h["storey"] for h in hits if h["id"] and h["id"].startswith("rathaus.")} - {"EG", "1. OG"}


@pytest.mark.usefixtures("clean_log")
def test_sections_horizontal_along_a_drawn_line_and_by_polygon_remove_what_they_should_until_removed(
        tab: Any) -> None:
    page, _ = tab
    page.evaluate(ZOOM_TO_BUILDING_JS)
    before = page.evaluate(GRID_PICKS_JS, 20)
    roof = [h for h in before if h["cls"] == "IfcRoof"]
    assert roof, "the roof is not in view"
    page.evaluate(SNAPSHOT_JS, "whole")
    open_planner(page)
    page.fill("#section-height", "5")
    page.click("#section-horizontal")
    page.wait_for_selector("#section-list li[data-kind=horizontal]")
    settle(page)
    after = page.evaluate(GRID_PICKS_JS, 20)
    assert not any(h["cls"] == "IfcRoof" for h in after), "the roof is still picked above a section at 5 m"
    assert {h["storey"] for h in after if h["id"]} <= {"EG", "1. OG"}
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-section.png"))

    page.click("#section-list li[data-kind=horizontal] .section-remove")
    settle(page)
    page.evaluate(SNAPSHOT_JS, "restored")
    assert page.evaluate(SNAPSHOT_DIFF_JS, ["whole", "restored"]) < 0.002

    # a vertical section along a line drawn across the building: what is seen lies behind the cut
    cx, cy = canvas_centre(page)
    front = page.evaluate(PLANE_SIDES_JS, [20, None])
    whole_points = [Point(lon_lat(p)) for p in front]
    page.click("#section-vertical")
    click_canvas(page, cx - 70, cy)  # the planner panel covers the canvas farther left
    click_canvas(page, cx + 220, cy)
    page.wait_for_selector("#section-list li[data-kind=vertical]")
    settle(page)
    owner = page.get_attribute("#section-list li[data-kind=vertical]", "data-section")
    sides = page.evaluate(PLANE_SIDES_JS, [20, owner])
    assert len(sides) >= 20, sides
    assert min(sides) > -0.05, f"a building surface {min(sides):.2f} m in front of the vertical section is drawn"
    before_sides = page.evaluate(PLANE_SIDES_JS, [20, owner, front])
    assert sum(d < -0.5 for d in before_sides) >= 5, "nothing stood in front of the section line before it"
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-vertical-section.png"))
    page.click("#section-list li[data-kind=vertical] .section-remove")
    settle(page)
    assert page.evaluate(NOTHING_CLIPPED_JS)

    # a clipping polygon around the view's centre: what stands inside it is gone
    page.click("#section-polygon")
    for dx, dy in ((-60, -60), (60, -60), (60, 60), (-60, 60)):
        click_canvas(page, cx + dx, cy + dy)
    page.click("#draw-finish")
    page.wait_for_selector("#section-list li[data-kind=polygon]")
    settle(page)
    # seen from the side, the cut's far walls show through the hole: no surface seen lies inside the polygon
    owner = page.get_attribute("#section-list li[data-kind=polygon]", "data-section")
    ring = page.evaluate("""(owner) => window.citytwin.planner.clipping.owners.get(owner).polygons[0]
        .map((p) => [p.x, p.y, p.z])""", owner)
    hole = Polygon([lon_lat(p) for p in ring])
    inside = hole.buffer(-4e-6)  # ≈ 0.3–0.4 m inside the polygon's edge
    seen = [Point(lon_lat(p)) for p in page.evaluate(PLANE_SIDES_JS, [20, None])]
    assert sum(hole.contains(p) for p in whole_points) >= 3, "the polygon was drawn where no building was seen"
    assert seen and not any(inside.contains(p) for p in seen), "a surface inside the clipping polygon is drawn"
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-polygon-section.png"))
    page.click("#section-list li[data-kind=polygon] .section-remove")
    settle(page)
    page.evaluate(SNAPSHOT_JS, "again")
    assert page.evaluate(SNAPSHOT_DIFF_JS, ["whole", "again"]) < 0.002


# Canvas points (window coordinates) where nothing but the ground is under the pointer, with their lon/lat.
GROUND_POINTS_JS = """
(n) => {
  const { viewer, Cesium } = window.citytwin;
  const rect = viewer.canvas.getBoundingClientRect();
  const found = [];
  for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) {
    const x = (rect.width * i) / n, y = (rect.height * j) / n;
    if (document.elementFromPoint(rect.left + x, rect.top + y) !== viewer.canvas) continue;
    const position = new Cesium.Cartesian2(x, y);
    if (viewer.scene.pick(position)) continue;
    const ground = viewer.camera.pickEllipsoid(position);
    if (!ground) continue;
    const c = Cesium.Cartographic.fromCartesian(ground);
    found.push({ x: rect.left + x, y: rect.top + y, lon: Cesium.Math.toDegrees(c.longitude),
                 lat: Cesium.Math.toDegrees(c.latitude) });
  }
  return found;
}
"""


def measured(page: Any, kind: str, points: list[tuple[float, float]]) -> float:
    """Measure `kind` with real clicks at window points; the value shown."""
    page.click(f"#measure-{kind}")
    for x, y in points:
        click_canvas(page, x, y)
    if kind != "height":
        page.click("#draw-finish")
    page.wait_for_function(f"() => window.citytwin.planner.measure.last?.kind === {kind!r}")
    value: float = page.evaluate("window.citytwin.planner.measure.last.value")
    return value


@pytest.mark.usefixtures("clean_log")
def test_measuring_gives_distance_area_on_the_ground_and_the_height_of_the_roof(tab: Any, demo: Any) -> None:
    page, _ = tab
    page.evaluate(ZOOM_TO_BUILDING_JS)
    open_planner(page)
    ground = page.evaluate(GROUND_POINTS_JS, 16)
    assert len(ground) >= 8, ground
    geod = Geod(ellps="WGS84")
    # the two ground points farthest apart, and the widest quadrilateral of corners
    a = min(ground, key=lambda g: g["x"] + g["y"])
    b = max(ground, key=lambda g: g["x"] + g["y"])
    distance = measured(page, "distance", [(a["x"], a["y"]), (b["x"], b["y"])])
    expected = geod.inv(a["lon"], a["lat"], b["lon"], b["lat"])[2]
    assert distance == pytest.approx(expected, rel=2e-3), (distance, expected)
    assert page.text_content("#measure-result").startswith("Distance ")

    corners = [min(ground, key=lambda g: g["x"] + g["y"]), max(ground, key=lambda g: g["x"] - g["y"]),
               max(ground, key=lambda g: g["x"] + g["y"]), min(ground, key=lambda g: g["x"] - g["y"])]
    area = measured(page, "area", [(c["x"], c["y"]) for c in corners])
    expected_area = abs(geod.polygon_area_perimeter([c["lon"] for c in corners], [c["lat"] for c in corners])[0])
    assert area == pytest.approx(expected_area, rel=5e-3), (area, expected_area)

    # from the ground beside the building up to its roof: the roof's top in PostGIS
    cx, cy = canvas_centre(page)
    roof = page.evaluate("() => window.citytwin.pickAt(window.citytwin.viewer.canvas.clientWidth / 2, "
                         "window.citytwin.viewer.canvas.clientHeight / 2)")
    assert roof and roof["properties"]["class"] == "IfcRoof", roof
    with demo[1].connect() as conn:
        top = conn.execute(text("SELECT zmax FROM twin_objects WHERE id = :i"), {"i": roof["id"]}).scalar_one()
    height = measured(page, "height", [(a["x"], a["y"]), (cx, cy)])
    assert height == pytest.approx(top, abs=0.15), (height, top)
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-measure.png"))
    page.click("#measure-clear")
    assert page.evaluate("window.citytwin.planner.measure.last") is None


def legend(page: Any) -> list[tuple[str, str]]:
    return page.evaluate("""() => [...document.querySelectorAll('#planner-legend li[data-color]')]
        .map((li) => [li.dataset.color, li.textContent])""")


@pytest.mark.usefixtures("clean_log")
def test_styling_by_year_built_paints_features_in_their_legend_class_and_a_filter_hides_the_rest(
        tab: Any, demo: Any) -> None:
    page, _ = tab
    base_url, engine = demo
    page.evaluate(ZOOM_TO_DISTRICT_JS)
    open_planner(page)
    page.select_option("#planner-layer", "demo")
    page.wait_for_selector("#planner-property option[value=year_built]", state="attached")
    page.select_option("#planner-property", "year_built")
    page.wait_for_selector("#planner-legend li[data-color]")
    settle(page)
    classes = legend(page)
    ranges = []
    for color, label in classes:
        if "–" in label:
            low, high = label.replace("<", "").split("–")
            ranges.append((float(low), float(high), label.strip().find("<") >= 0, color))
    assert len(ranges) >= 3, classes
    with engine.connect() as conn:
        years = dict(conn.execute(text("SELECT id, (attributes->>'year_built')::float FROM twin_objects "
                                       "WHERE dataset_id = 'demo'")).all())
    hits = [h for h in page.evaluate(GRID_PICKS_JS, 24) if h["id"] and h["id"].startswith("demo.")]
    checked = 0
    for hit in hits[:40]:
        seen = page.evaluate("([x, y]) => window.citytwin.planner.colorAt(x, y)", [hit["x"], hit["y"]])
        year = years[hit["id"]]
        if year is None:
            expected = next(color for color, label in classes if label.startswith("no value"))
        else:
            expected = next(color for low, high, open_top, color in ranges
                            if low <= year and (year < high if open_top else year <= high))
        assert seen["color"] == expected, (hit["id"], year, seen, classes)
        checked += 1
    assert checked >= 10
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-year-built.png"))

    # a filter on attributes only PostGIS holds: what is left shown is exactly what matches
    page.fill("#planner-filter", "year_built < 1950 and use = 'residential'")
    page.click("#planner-filter-apply")
    page.wait_for_function("() => /objects match/.test(document.querySelector('#planner-filter-message').textContent)")
    settle(page)
    with engine.connect() as conn:
        matching = set(conn.execute(text("SELECT id FROM twin_objects WHERE dataset_id = 'demo' AND "
                                         "(attributes->>'year_built')::float < 1950 AND "
                                         "attributes->>'use' = 'residential'")).scalars())
    assert page.text_content("#planner-filter-message").startswith(f"{len(matching)} objects")
    shown = [h["id"] for h in page.evaluate(GRID_PICKS_JS, 24) if h["id"] and h["id"].startswith("demo.")]
    assert shown and set(shown) <= matching, set(shown) - matching
    # a table column filters in the tiles; a typing error is named under the field
    page.fill("#planner-filter", "height >= 30")
    page.click("#planner-filter-apply")
    page.wait_for_function("() => /in the tiles/.test(document.querySelector('#planner-filter-message').textContent)")
    settle(page)
    tall = [h for h in page.evaluate(GRID_PICKS_JS, 24) if h["id"] and h["id"].startswith("demo.")]
    assert tall
    with engine.connect() as conn:
        heights = dict(conn.execute(text("SELECT id, zmax - zmin FROM twin_objects WHERE dataset_id = 'demo'")).all())
    assert all(heights[h["id"]] >= 30 - 1e-3 for h in tall)
    page.fill("#planner-filter", "year_built <")
    page.click("#planner-filter-apply")
    page.wait_for_selector("#planner-filter-message.error")
    assert "expected a value" in page.text_content("#planner-filter-message")
    page.fill("#planner-filter", "yeer_built < 1950")
    page.click("#planner-filter-apply")
    page.wait_for_function("() => /unknown property 'yeer_built'/.test("
                           "document.querySelector('#planner-filter-message').textContent)")
    assert httpx.get(f"{base_url}/viewer/config.json").json()["ogc_items_url_template"].endswith("/items")


@pytest.mark.usefixtures("clean_log")
def test_search_finds_an_address_flies_there_and_a_shared_link_reopens_the_view(
        tab: Any, browser: Any, demo: Any) -> None:  # noqa: F811 - the shared browser fixture
    page, _ = tab
    open_planner(page)
    page.fill("#planner-filter", "")
    page.click("#planner-filter-clear")
    page.fill("#planner-search", "Hafenstraße 7")
    page.click("#planner-search-go")
    page.wait_for_selector("#planner-search-results li")
    first = page.locator("#planner-search-results li").first
    object_id = first.get_attribute("data-id")
    with demo[1].connect() as conn:
        address = conn.execute(text("SELECT attributes->>'address' FROM twin_objects WHERE id = :i"),
                               {"i": object_id}).scalar_one()
    assert address == "Hafenstraße 7"
    first.locator("button").click()
    highlighted = page.evaluate("within(window.citytwin.planner.going, 'the flight to the result')")
    assert highlighted is True, "the found building was not highlighted"
    page.wait_for_selector("#inspector[data-state=loaded]")
    assert page.text_content("#inspector-id") == object_id
    assert page.evaluate("window.citytwin.planner.inView(window.citytwin.planner.framedSphere)")
    centre = page.evaluate("() => window.citytwin.planner.colorAt(window.citytwin.viewer.canvas.clientWidth / 2, "
                           "window.citytwin.viewer.canvas.clientHeight / 2)")
    assert centre and centre["id"] == object_id and centre["color"] == "#ffff00", centre  # highlighted
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-search.png"))

    # a view to share: styled by use, filtered on the server, a storey chosen, the district hidden
    page.select_option("#planner-layer", "demo")
    page.wait_for_selector("#planner-property option[value=use]", state="attached")
    page.select_option("#planner-property", "use")
    page.wait_for_selector("#planner-legend li[data-color]")
    page.fill("#planner-filter", "year_built >= 1950")
    page.click("#planner-filter-apply")
    page.wait_for_function("() => /objects match/.test(document.querySelector('#planner-filter-message').textContent)")
    page.select_option("#storey-select", label="EG only")
    page.wait_for_function("() => window.citytwin.planner.storeyView.current?.top > 0")
    page.uncheck('#layer-list li[data-tileset-id="demo"] input[type=checkbox]')
    page.wait_for_function("() => /storey=only/.test(location.hash) && /hide=demo/.test(location.hash)"
                           " && /style=use/.test(location.hash) && /filter=/.test(location.hash)"
                           " && /selected=/.test(location.hash)")
    page.wait_for_timeout(1800)  # the flight to the plan view
    settle(page)
    link = page.evaluate("window.citytwin.planner.link()")
    state = page.evaluate("window.citytwin.planner.viewState()")
    assert state["hidden"] == ["demo"] and state["storey"] == {"storey": "EG", "mode": "only"}, state
    page.evaluate(SNAPSHOT_JS, "shared")
    shared_picture = page.evaluate("window.citytwin.planner.picture()")

    # the saved picture is the canvas
    with page.expect_download() as download:
        page.click("#share-picture")
    png = download.value.path().read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == tuple(page.evaluate("[window.citytwin.viewer.canvas.width, "
                                                  "window.citytwin.viewer.canvas.height]"))
    assert len(base64.b64decode(shared_picture.split(",")[1])) > 10_000
    assert page.evaluate(PNG_DIFF_JS, [base64.b64encode(png).decode(), "shared"]) < 0.002, "the PNG is not the canvas"
    page.screenshot(path=str(ARTIFACTS / "viewer-planner-shared.png"))

    context = browser.new_context(viewport=VIEWPORT)
    other = context.new_page()
    other.set_default_timeout(60_000)
    other.add_init_script(WITHIN_JS)
    try:
        log = PageLog(other, demo[0])
        other.goto(link)
        other.wait_for_function("() => window.citytwin && window.citytwin.state !== 'loading'", timeout=120_000)
        opened = other.evaluate("() => ({ state: window.citytwin.state, errors: window.citytwin.errors })")
        assert opened["state"] == "ready", (opened, log.page_errors, log.console_errors)
        other.wait_for_selector("#inspector[data-state=loaded]")
        assert other.text_content("#inspector-id") == object_id
        reopened = other.evaluate("window.citytwin.planner.viewState()")
        for key in ("lon", "lat"):
            assert reopened["camera"][key] == pytest.approx(state["camera"][key], abs=1e-6)
        assert reopened["camera"]["height"] == pytest.approx(state["camera"]["height"], abs=0.05)
        for key in ("heading", "pitch"):  # degrees: 0 and 360 are the same heading
            turn = (reopened["camera"][key] - state["camera"][key] + 180) % 360 - 180
            assert turn == pytest.approx(0, abs=0.05), (key, reopened["camera"][key], state["camera"][key])
        assert {k: v for k, v in reopened.items() if k != "camera"} == {k: v for k, v in state.items()
                                                                         if k != "camera"}
        assert not other.is_checked('#layer-list li[data-tileset-id="demo"] input[type=checkbox]')
        assert other.evaluate("document.querySelectorAll('#planner-legend li[data-color]').length") == len(legend(page))
        assert other.text_content("#planner-filter-message") == page.text_content("#planner-filter-message")
        assert other.evaluate("window.citytwin.planner.storeyView.current.top") == pytest.approx(
            page.evaluate("window.citytwin.planner.storeyView.current.top"))
        settle(other)
        other.evaluate(SNAPSHOT_JS, "reopened")
        other.screenshot(path=str(ARTIFACTS / "viewer-planner-link.png"))
        (ARTIFACTS / "viewer-planner-shared-canvas.png").write_bytes(base64.b64decode(shared_picture.split(",")[1]))
        reopened_picture = other.evaluate("window.citytwin.planner.picture()")
        (ARTIFACTS / "viewer-planner-link-canvas.png").write_bytes(base64.b64decode(reopened_picture.split(",")[1]))
        # the plan view's space floors lie on their slabs: their z-fighting alone changes ≈1.6 % of the pixels
        # between two openings of the same camera (kept as *-canvas.png); another camera changes far more
        assert other.evaluate(PNG_DIFF_JS, [shared_picture.split(",")[1], "reopened"]) < 0.03, "another picture"
        assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    finally:
        context.close()


PANEL_IDS = ["layers", "planner", "cockpit", "alarms", "inspector", "event-panel", "drills", "live-panel"]
# The shown panels' boxes: [[id, left, top, right, bottom]].
PANELS_JS = """(ids) => ids.flatMap((id) => {
  const panel = document.getElementById(id);
  if (!panel || panel.hidden) return [];
  const r = panel.getBoundingClientRect();
  return r.width && r.height ? [[id, r.left, r.top, r.right, r.bottom]] : [];
})"""


def covered(panels: list[list[Any]]) -> list[tuple[str, str]]:
    """The pairs of panels that lie over each other, of those the planner's layout answers for: the planner and
    the cockpit with every other, the layers with the alarms."""
    pairs = []
    for i, (a, *box_a) in enumerate(panels):
        for b, *box_b in panels[i + 1:]:
            if not ({a, b} & {"planner", "cockpit"} or {a, b} == {"layers", "alarms"}):
                continue
            if min(box_a[2], box_b[2]) > max(box_a[0], box_b[0]) and min(box_a[3], box_b[3]) > max(box_a[1], box_b[1]):
                pairs.append((a, b))
    return pairs


@pytest.mark.usefixtures("clean_log")
def test_the_open_planner_leaves_the_cockpit_layers_alarms_and_inspector_uncovered_on_laptop_screens(
        tab: Any) -> None:
    page = tab[0]
    open_planner(page)
    page.fill("#planner-search", "Hafenstraße 7")  # a found building opens the inspector on the right
    page.click("#planner-search-go")
    page.locator("#planner-search-results li button").first.click()
    page.wait_for_selector("#inspector[data-state=loaded]")
    if page.get_attribute("#drills", "data-state") != "open":
        page.click("#drill-toggle")  # the open drill panel, bottom right
    try:
        for width in (1280, 1100):
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_function("(w) => window.innerWidth === w", arg=width)
            panels = page.evaluate(PANELS_JS, PANEL_IDS)
            assert {"layers", "planner", "cockpit", "inspector", "drills"} <= {p[0] for p in panels}, panels
            assert not covered(panels), (width, covered(panels), panels)
            page.screenshot(path=str(ARTIFACTS / f"viewer-planner-panels-{width}.png"))
    finally:
        page.click("#drill-toggle")
        page.set_viewport_size(VIEWPORT)
