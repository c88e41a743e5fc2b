"""The viewer on the ground and under it, in the real headless Chromium, on one small generated city (a hills DEM
400 m across, two houses ingested with `--ground terrain`, a gas and a drainage pipe under them) opened once:
buildings stand on the served terrain (the globe's height under each building against its base) and the terrain
switch lays the globe flat; underground mode keeps the camera below the translucent surface, where a pick from
below hits the gas pipe in its APWA yellow; the language switch turns the panels to Chinese. A Chinese browser
opens in Chinese, on base imagery from settings that a tile server in the test serves and sees asked with the
token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from PIL import Image
from pyproj import Transformer
from sqlalchemy import Engine, text

from ingest_gis.network_kinds import COLORS
from tests.test_viewer_browser import (  # noqa: F401 - browser is a fixture
    ARTIFACTS,
    SNAPSHOT_JS,
    PageLog,
    browser,
    open_viewer,
)
from tiles.terrain.scheme import mesh_error

pytestmark = pytest.mark.browser

HOUSE_M = 20.0
HOUSE_CORNERS = [(458_080.0, 5_438_560.0), (458_260.0, 5_438_620.0)]  # UTM 32N, on two slopes of the hills
PIPE_ENDS = {"gas": ((458_040.0, 5_438_700.0), (458_360.0, 5_438_700.0)),  # UTM 32N, 0.5 m pipes
             "drainage": ((458_040.0, 5_438_480.0), (458_360.0, 5_438_480.0))}
VIEWPORT = {"width": 640, "height": 400}  # SwiftShader draws every pixel on the CPU: a small window is quick
TILE_RGB = (200, 40, 170)  # the colour of every tile the test's imagery server serves

# Waits (frame by frame, at most 60 s) until the globe has a height under each point from a tile of `minLevel` or
# deeper and, when `complete`, every tile it wants for the view, and the tilesets are loaded; then the globe's
# heights at the points and the level of the tile drawn there.
GLOBE_HEIGHTS_JS = """
async ([points, complete, minLevel]) => {
  const { viewer, Cesium } = window.citytwin;
  const { globe } = viewer.scene;
  const places = points.map(([lon, lat]) => Cesium.Cartographic.fromDegrees(lon, lat));
  const levelAt = (carto) => {
    const tile = globe._surface._tilesToRender.find((t) => Cesium.Rectangle.contains(t.rectangle, carto));
    return tile ? tile.level : -1; // the quadtree tile drawn there in the last frame
  };
  const frame = () => new Promise((resolve) => {
    const remove = viewer.scene.postRender.addEventListener(() => { remove(); resolve(); });
    viewer.scene.requestRender();
  });
  const ready = () => (globe.tilesLoaded || !complete)
    && places.every((c) => globe.getHeight(c) !== undefined && levelAt(c) >= minLevel);
  const started = performance.now();
  await frame();
  while (!ready() && performance.now() - started < 60000) await frame();
  await window.citytwin.settle();
  return places.map((carto) => {
    const h = globe.getHeight(carto);
    return h === undefined ? null : [h, levelAt(carto)];
  });
}
"""

# Points the camera at a place (lon, lat, height) from `range` metres at `pitch` degrees (above 0: from below).
LOOK_AT_JS = """
([lon, lat, height, pitch, range]) => {
  const { viewer, Cesium } = window.citytwin;
  const target = Cesium.Cartesian3.fromDegrees(lon, lat, height);
  viewer.camera.lookAt(target, new Cesium.HeadingPitchRange(0.4, Cesium.Math.toRadians(pitch), range));
  viewer.camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
  viewer.scene.requestRender();
}
"""

# The feature drawn at a place (lon, lat, height), picked at its window position: its id and its colour.
PICK_AT_JS = """
([lon, lat, height]) => {
  const { viewer, Cesium } = window.citytwin;
  viewer.render();
  const at = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, Cesium.Cartesian3.fromDegrees(lon, lat,
    height));
  const hit = at && viewer.scene.pick(at);
  if (!(hit instanceof Cesium.Cesium3DTileFeature)) return null;
  return { id: hit.getProperty("id"), color: hit.color.toCssHexString() };
}
"""

# Where the camera is against the globe's surface under it (m above it; below 0: under the ground).
CAMERA_ABOVE_GROUND_JS = """
() => {
  const { viewer } = window.citytwin;
  viewer.render();
  const at = viewer.camera.positionCartographic;
  return at.height - viewer.scene.globe.getHeight(at);
}
"""


# The canvas's centre in page pixels, where no panel lies over it.
CANVAS_CENTRE_JS = """
() => {
  const canvas = window.citytwin.viewer.canvas;
  const rect = canvas.getBoundingClientRect();
  const [x, y] = [rect.left + rect.width / 2, rect.top + rect.height / 2];
  if (document.elementFromPoint(x, y) !== canvas) throw new Error("a panel covers the canvas's centre");
  return [x, y];
}
"""


@dataclass
class GroundCity:
    base_url: str
    houses: dict[str, tuple[float, list[tuple[float, float]]]]  # id → (base height, lon/lat corners)
    pipes: dict[str, tuple[str, tuple[float, float, float]]]  # network type → (pipe id, its middle lon/lat/z)


def _lines_geojson(ends: tuple[tuple[float, float], tuple[float, float]], to_lonlat: Transformer) -> bytes:
    lon, lat = to_lonlat.transform([p[0] for p in ends], [p[1] for p in ends])
    return orjson.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "main"},
         "geometry": {"type": "LineString", "coordinates": list(zip(lon, lat, strict=True))}}]})


@pytest.fixture(scope="module")
def ground_city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[GroundCity]:
    """A live server with a small hills terrain (40 × 40 cells of 10 m), two houses ingested with `--ground
    terrain` and a gas and a drainage pipe laid under that terrain."""
    from ingest_gis.footprints import FootprintOptions
    from ingest_gis.network import NetworkOptions
    from ingest_gis.terrain import TerrainOptions, write_geotiff
    from tests.conftest import populated_server
    from tests.test_terrain import hills
    from twin.ingest import ingest_footprints
    from twin.networks.ingest import ingest_network
    from twin.terrain.ingest import ingest_terrain

    folder = tmp_path_factory.mktemp("ground")
    z, gt = hills(size=40)
    tif = write_geotiff(folder / "hills.tif", z, gt, "EPSG:25832")  # type: ignore[arg-type]
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    features = []
    for n, (x, y) in enumerate(HOUSE_CORNERS):
        xs, ys = [x, x + HOUSE_M, x + HOUSE_M, x, x], [y, y, y + HOUSE_M, y + HOUSE_M, y]
        lon, lat = to_lonlat.transform(xs, ys)
        features.append({"type": "Feature", "id": f"h{n}", "properties": {"height": 12},
                         "geometry": {"type": "Polygon", "coordinates": [list(zip(lon, lat, strict=True))]}})
    (folder / "houses.geojson").write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    for kind, ends in PIPE_ENDS.items():
        (folder / f"{kind}.geojson").write_bytes(_lines_geojson(ends, to_lonlat))

    def populate(engine: Engine) -> None:
        ingest_terrain(engine, tif, TerrainOptions("hills"))
        ingest_footprints(engine, folder / "houses.geojson", FootprintOptions("houses"), ground="terrain")
        for kind in PIPE_ENDS:
            ingest_network(engine, folder / f"{kind}.geojson", NetworkOptions(kind, kind, default_diameter=0.5),
                           ground="terrain")

    with populated_server(server_url, template_database, folder / "data", populate) as (base_url, engine):
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, zmin, ST_AsGeoJSON(footprint)::json FROM twin_objects "
                                     "WHERE dataset_id = 'houses'")).all()
            pipes = conn.execute(text(
                "SELECT network_id, id, ST_X(m), ST_Y(m), ST_Z(m) FROM (SELECT network_id, id, "
                "ST_3DLineInterpolatePoint(geom, 0.5) AS m FROM network_pipes) AS middles")).all()
        houses = {r[0]: (float(r[1]), [tuple(p) for p in r[2]["coordinates"][0][:4]]) for r in rows}
        yield GroundCity(base_url, houses, {r[0]: (r[1], (r[2], r[3], r[4])) for r in pipes})


@pytest.fixture(scope="module")
def city_page(browser: Any, ground_city: GroundCity) -> Iterator[tuple[Any, PageLog]]:  # noqa: F811
    """One page of an English browser on the ground city, opened once for the module's tests."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(30_000)
    log = PageLog(page, ground_city.base_url)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 3 and state["failed"] == 0, state
    yield page, log
    context.close()


def test_buildings_stand_on_the_served_terrain_and_the_switch_lays_the_globe_flat(
        city_page: tuple[Any, PageLog], ground_city: GroundCity) -> None:
    page, log = city_page
    terrain = page.evaluate("""() => { const { viewer, Cesium, ground } = window.citytwin;
        return { cesium: viewer.terrainProvider instanceof Cesium.CesiumTerrainProvider,
                 normals: viewer.terrainProvider.hasVertexNormals, name: ground.terrain && ground.terrain.id,
                 depthTest: viewer.scene.globe.depthTestAgainstTerrain }; }""")
    assert terrain == {"cesium": True, "normals": True, "name": "hills", "depthTest": True}
    assert page.is_checked("#terrain-toggle") and page.text_content("#terrain-name") == "hills"

    max_zoom = page.evaluate("window.citytwin.ground.terrain.max_zoom")
    corners = [c for _, cs in sorted(ground_city.houses.values()) for c in cs]
    middle = (sum(c[0] for c in corners) / len(corners), sum(c[1] for c in corners) / len(corners))
    page.evaluate(LOOK_AT_JS, [*middle, min(ground_city.houses.values())[0], -85.0, 300.0])  # both houses, from above
    sampled = page.evaluate(GLOBE_HEIGHTS_JS, [[list(p) for p in corners], True, 0])
    assert None not in sampled, sampled
    errors: list[tuple[float, int]] = []
    for n, (house, (base, _)) in enumerate(sorted(ground_city.houses.items())):
        here = sampled[4 * n: 4 * n + 4]
        ground = [h for h, _ in here]
        level = min(min(lv for _, lv in here), max_zoom)  # deeper levels are the deepest one upsampled
        # the globe's mesh at the level drawn lies within that level's mesh error of the DEM the base came from:
        # it stands on its lowest corner (not floating), no corner is above its base (not buried at one side)
        tolerance = mesh_error(level) + 0.01
        lowest = min(ground)
        errors.append((round(abs(lowest - base), 3), level))
        assert abs(lowest - base) <= tolerance, (house, base, here)
        assert all(g >= base - tolerance for g in ground), (house, base, here)
        lon, lat = (sum(p[i] for p in ground_city.houses[house][1]) / 4 for i in (0, 1))
        hit = page.evaluate(PICK_AT_JS, [lon, lat, base + 6])
        assert hit is not None and hit["id"] == house, (house, hit)
    assert min(ground_city.houses.values())[0] > 95  # on the ellipsoid these houses would float 95 m up
    print(f"globe height under the houses' lowest corners vs their bases (m, level drawn): {errors}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-terrain.png"))

    page.uncheck("#terrain-toggle")
    flat = page.evaluate(GLOBE_HEIGHTS_JS, [[list(corners[0])], False, 14])[0]  # tiles fine enough to be flat
    assert page.evaluate("window.citytwin.viewer.terrainProvider instanceof "
                         "window.citytwin.Cesium.EllipsoidTerrainProvider")
    assert flat[0] == pytest.approx(0.0, abs=0.01)
    page.check("#terrain-toggle")
    assert page.evaluate("window.citytwin.viewer.terrainProvider === window.citytwin.ground.provider")
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    assert not log.foreign_requests, log.foreign_requests[:5]


def test_underground_mode_keeps_the_camera_below_the_surface_where_a_pick_hits_the_pipe_in_its_colour(
        city_page: tuple[Any, PageLog], ground_city: GroundCity) -> None:
    page, log = city_page
    assert page.evaluate("window.citytwin.layers.filter((l) => l.info.kind === 'network').length") == 2
    page.check("#underground-toggle")
    globe = page.evaluate("""() => { const { globe, screenSpaceCameraController } = window.citytwin.viewer.scene;
        return { translucent: globe.translucency.enabled, alpha: globe.translucency.frontFaceAlpha,
                 collisions: screenSpaceCameraController.enableCollisionDetection }; }""")
    assert globe == {"translucent": True, "alpha": 0.35, "collisions": False}
    assert page.is_enabled("#underground-opacity")
    for kind in ("gas", "drainage"):
        pipe, (lon, lat, z) = ground_city.pipes[kind]
        page.evaluate(LOOK_AT_JS, [lon, lat, z, 70.0, 40.0])  # from 38 m below the pipe, looking up at it
        page.evaluate(GLOBE_HEIGHTS_JS, [[[lon, lat]], True, 0])  # the globe and the tilesets loaded for this view
        if kind == "gas":  # the user zooms in a notch: with collisions on, the camera would jump above ground
            x, y = page.evaluate(CANVAS_CENTRE_JS)
            page.mouse.move(x, y)
            page.mouse.wheel(0, -120)
            page.evaluate(GLOBE_HEIGHTS_JS, [[[lon, lat]], True, 0])
            below = page.evaluate(CAMERA_ABOVE_GROUND_JS)
            assert below < -10, below  # the camera stays under the ground, not pushed back above it
        hit = page.evaluate(PICK_AT_JS, [lon, lat, z])
        assert hit is not None and hit["id"] == pipe, (kind, hit)
        assert hit["color"] == "#{:02x}{:02x}{:02x}".format(*COLORS[kind][:3]), (kind, hit)  # APWA: yellow, green
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-underground.png"))
    page.uncheck("#underground-toggle")
    assert page.evaluate("window.citytwin.viewer.scene.globe.translucency.enabled") is False
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)


PANEL_TEXT_JS = """
() => {
  const text = (selector) => document.querySelector(selector).textContent;
  return { layers: text("#layers h2"), status: text("#status"), ground: text("#ground h3"),
    height: document.getElementById("legend").previousElementSibling.textContent,
    dataset: text('[data-i18n="inspector.dataset"]'), storey: text("#storey-select option"), live: text("#time-label"),
    lang: document.documentElement.lang, gas: text('[data-network-type="gas"]') };
}
"""


def test_the_language_switch_turns_the_panels_to_chinese_and_back(city_page: tuple[Any, PageLog],
                                                                  ground_city: GroundCity) -> None:
    page, log = city_page
    assert page.input_value("#language-select") == "en"  # the browser speaks en-US
    english = page.evaluate(PANEL_TEXT_JS)
    assert english == {"layers": "Layers", "status": "3 layers", "ground": "Ground", "height": "Height",
                       "dataset": "Dataset", "storey": "All storeys", "live": "now", "lang": "en", "gas": "gas"}
    page.select_option("#language-select", "zh-CN")
    chinese = page.evaluate(PANEL_TEXT_JS)
    assert chinese == {"layers": "图层", "status": "3 个图层", "ground": "地面", "height": "高度", "dataset": "数据集",
                       "storey": "全部楼层", "live": "现在", "lang": "zh-CN", "gas": "燃气"}
    # text a panel writes later comes in the current language, and object data stays as it is
    page.evaluate("document.getElementById('drill-runs-empty').textContent = 'Nothing yet (暂无)'")
    page.wait_for_function("document.getElementById('drill-runs-empty').textContent === '暂无'")
    house = sorted(ground_city.houses)[0]
    page.evaluate("(id) => window.citytwin.inspect(id)", house)
    page.wait_for_selector("#inspector[data-state=loaded]")
    assert page.text_content("#inspector-id") == house
    page.reload()
    page.wait_for_function("() => window.citytwin && window.citytwin.state !== 'loading'")
    assert page.input_value("#language-select") == "zh-CN"  # remembered
    assert page.evaluate(PANEL_TEXT_JS)["layers"] == "图层"
    page.select_option("#language-select", "en")
    assert page.evaluate(PANEL_TEXT_JS) == english
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)


@contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A tiny XYZ tile server on a free loopback port: every /tiles/{z}/{x}/{y}.png is a tile of TILE_RGB; yields
    its URL and the paths it was asked for."""
    png = BytesIO()
    Image.new("RGB", (256, 256), TILE_RGB).save(png, "PNG")
    body = png.getvalue()
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            ok = urlsplit(self.path).path.startswith("/tiles/")
            self.send_response(200 if ok else 404)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# The share of the canvas in the served tiles' colour (lit and under the atmosphere: red and blue well above green,
# which neither the bundled imagery nor the bare globe has).
TILE_SHARE_JS = """
() => {
  const pixels = window.__snapshots.imagery;
  let hits = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i] > pixels[i + 1] + 60 && pixels[i + 2] > pixels[i + 1] + 60) hits++;
  }
  return hits / (pixels.length / 4);
}
"""


def test_a_chinese_browser_opens_in_chinese_on_imagery_from_settings_asked_with_its_token(
        browser: Any, settings: Any, engine: Engine) -> None:  # noqa: F811
    from tests.conftest import serving
    from twin.db import Database
    from twin.settings import Settings

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        page = context.new_page()
        with tile_server() as (tiles_url, asked):
            configured = Settings(database_url=settings.database_url, data_dir=settings.data_dir,
                                  imagery_type="xyz", imagery_url=tiles_url + "/tiles/{z}/{x}/{y}.png?tk={token}",
                                  imagery_token="secret-tk", imagery_max_level=1)
            with serving(configured, Database(engine)) as base_url:
                log = PageLog(page, base_url)
                state = open_viewer(page, log)
                assert state["ok"] and state["tilesets"] == 0, state
                assert page.input_value("#language-select") == "zh-CN"
                assert page.text_content("#layers h2") == "图层" and page.text_content("#status") == "0 个图层"
                assert page.is_visible("#terrain-none") and page.text_content("#terrain-none") == "未导入地形"
                assert page.evaluate("window.citytwin.config.imagery.url") == (tiles_url + "/tiles/{z}/{x}/{y}.png"
                                                                               "?tk=secret-tk")
                page.wait_for_function("() => window.citytwin.viewer.imageryLayers.get(0).ready")
                page.wait_for_function("() => window.citytwin.viewer.scene.globe.tilesLoaded", timeout=60_000)
                assert page.evaluate(SNAPSHOT_JS, "imagery")["colours"] >= 2
                share = page.evaluate(TILE_SHARE_JS)
                assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
                assert log.foreign_requests and all(u.startswith(tiles_url + "/tiles/") for u in log.foreign_requests)
        assert asked, "the imagery server was never asked"
        for path in asked:  # every tile asked with the token, at a level the settings allow
            parts = urlsplit(path)
            level = int(parts.path.split("/")[2])
            assert parse_qs(parts.query) == {"tk": ["secret-tk"]} and 0 <= level <= 1, path
        assert share > 0.2, share  # the globe is drawn with the served tiles
    finally:
        context.close()
