"""The viewer on the ground, in the real headless Chromium: the served terrain under the globe (with vertex
normals) and buildings standing on it (the globe's height under each building against its base), the terrain
switch, the language switch turning the panels to Chinese, and base imagery from settings with its token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.test_viewer_browser import (  # noqa: F401 - browser and page are fixtures
    ARTIFACTS,
    SNAPSHOT_JS,
    VIEWPORT,
    PageLog,
    browser,
    open_viewer,
    page,
)
from tiles.terrain.scheme import mesh_error

pytestmark = pytest.mark.browser

HOUSE_M = 20.0
# UTM 32N corners of the houses: a 3 × 2 row across the slopes of the hills
HOUSE_CORNERS = [(458_300.0 + 160 * i, 5_438_500.0 - 200 * j) for i in range(3) for j in range(2)]

# Waits until the globe has every tile it wants for the view, then the globe's heights at the given points.
GLOBE_HEIGHTS_JS = """
async (points) => {
  const { viewer, Cesium } = window.citytwin;
  const { globe } = viewer.scene;
  const started = performance.now();
  while (!globe.tilesLoaded && performance.now() - started < 60000) {
    viewer.scene.requestRender();
    await new Promise((r) => setTimeout(r, 100));
  }
  await window.citytwin.settle();
  const rendered = globe._surface._tilesToRender; // the quadtree tiles drawn this frame
  return points.map(([lon, lat]) => {
    const carto = Cesium.Cartographic.fromDegrees(lon, lat);
    const h = globe.getHeight(carto);
    const tile = rendered.find((t) => Cesium.Rectangle.contains(t.rectangle, carto));
    return h === undefined ? null : [h, tile ? tile.level : null];
  });
}
"""

LOOK_AT_JS = """
([lon, lat, height, range]) => {
  const { viewer, Cesium } = window.citytwin;
  const target = Cesium.Cartesian3.fromDegrees(lon, lat, height);
  viewer.camera.lookAt(target, new Cesium.HeadingPitchRange(0.4, -0.5, range));
  viewer.camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
  viewer.scene.requestRender();
}
"""

# The feature drawn at a place (lon, lat, height): picked at its window position.
PICK_AT_JS = """
([lon, lat, height]) => {
  const { viewer, Cesium, pickAt } = window.citytwin;
  const at = Cesium.SceneTransforms.worldToWindowCoordinates(viewer.scene, Cesium.Cartesian3.fromDegrees(lon, lat,
    height));
  const hit = at && pickAt(at.x, at.y);
  return hit ? hit.id : null;
}
"""


@dataclass
class GroundCity:
    base_url: str
    houses: dict[str, tuple[float, list[tuple[float, float]]]]  # id → (base height, lon/lat corners)


@pytest.fixture(scope="module")
def ground_city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[GroundCity]:
    """A live server with the hills terrain (90–130 m) and six houses ingested with `--ground terrain`."""
    from ingest_gis.footprints import FootprintOptions
    from ingest_gis.terrain import TerrainOptions, write_geotiff
    from tests.conftest import populated_server
    from tests.test_terrain import hills
    from twin.ingest import ingest_footprints
    from twin.terrain.ingest import ingest_terrain

    folder = tmp_path_factory.mktemp("ground")
    z, gt = hills()
    tif = write_geotiff(folder / "hills.tif", z, gt, "EPSG:25832")  # type: ignore[arg-type]
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    features = []
    for n, (x, y) in enumerate(HOUSE_CORNERS):
        xs, ys = [x, x + HOUSE_M, x + HOUSE_M, x, x], [y, y, y + HOUSE_M, y + HOUSE_M, y]
        lon, lat = to_lonlat.transform(xs, ys)
        features.append({"type": "Feature", "id": f"h{n}", "properties": {"height": 12},
                         "geometry": {"type": "Polygon", "coordinates": [list(zip(lon, lat, strict=True))]}})
    (folder / "houses.geojson").write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))

    def populate(engine: Engine) -> None:
        ingest_terrain(engine, tif, TerrainOptions("hills"))
        ingest_footprints(engine, folder / "houses.geojson", FootprintOptions("houses"), ground="terrain")

    with populated_server(server_url, template_database, folder / "data", populate) as (base_url, engine):
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, zmin, ST_AsGeoJSON(footprint)::json FROM twin_objects")).all()
        houses = {r[0]: (float(r[1]), [tuple(p) for p in r[2]["coordinates"][0][:4]]) for r in rows}
        yield GroundCity(base_url, houses)


def test_buildings_stand_on_the_served_terrain_and_the_switch_lays_the_globe_flat(page: Any,  # noqa: F811
                                                                                  ground_city: GroundCity) -> None:
    log = PageLog(page, ground_city.base_url)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1 and state["failed"] == 0, state
    terrain = page.evaluate("""() => { const { viewer, Cesium, ground } = window.citytwin;
        return { cesium: viewer.terrainProvider instanceof Cesium.CesiumTerrainProvider,
                 normals: viewer.terrainProvider.hasVertexNormals, name: ground.terrain && ground.terrain.id,
                 depthTest: viewer.scene.globe.depthTestAgainstTerrain }; }""")
    assert terrain == {"cesium": True, "normals": True, "name": "hills", "depthTest": True}
    assert page.is_checked("#terrain-toggle") and page.text_content("#terrain-name") == "hills"

    max_zoom = page.evaluate("window.citytwin.ground.terrain.max_zoom")
    errors: list[tuple[float, int]] = []
    for house, (base, corners) in sorted(ground_city.houses.items()):
        lon = sum(p[0] for p in corners) / 4
        lat = sum(p[1] for p in corners) / 4
        page.evaluate(LOOK_AT_JS, [lon, lat, base, 120.0])
        sampled = page.evaluate(GLOBE_HEIGHTS_JS, [list(p) for p in corners])
        assert None not in sampled, (house, sampled)
        ground = [h for h, _ in sampled]
        level = min(min(lv for _, lv in sampled), max_zoom)  # deeper levels are the deepest one upsampled
        # the globe's mesh at the level drawn lies within that level's mesh error of the DEM the base came from:
        # it stands on its lowest corner (not floating), no corner is above its base (not buried at one side)
        tolerance = mesh_error(level) + 0.01
        lowest = min(ground)
        errors.append((abs(lowest - base), level))
        assert abs(lowest - base) <= tolerance, (house, base, sampled)
        assert all(g >= base - tolerance for g in ground), (house, base, sampled)
        hit = page.evaluate(PICK_AT_JS, [lon, lat, base + 6])
        assert hit == house, (house, hit)
    assert max(ground_city.houses.values())[0] > 100  # on the ellipsoid these houses would float 100 m up
    print(f"globe height under the houses' lowest corners vs their bases (m, level drawn): {errors}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-terrain.png"))

    page.uncheck("#terrain-toggle")
    _, corners = next(iter(ground_city.houses.values()))
    flat = page.evaluate(GLOBE_HEIGHTS_JS, [list(corners[0])])[0]
    assert page.evaluate("window.citytwin.viewer.terrainProvider instanceof "
                         "window.citytwin.Cesium.EllipsoidTerrainProvider")
    assert flat[0] == pytest.approx(0.0, abs=0.01)
    page.check("#terrain-toggle")
    assert page.evaluate("window.citytwin.viewer.terrainProvider === window.citytwin.ground.provider")
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    assert not log.foreign_requests, log.foreign_requests[:5]


PANEL_TEXT_JS = """
() => {
  const text = (selector) => document.querySelector(selector).textContent;
  return { layers: text("#layers h2"), status: text("#status"), ground: text("#ground h3"),
    height: document.getElementById("legend").previousElementSibling.textContent,
    dataset: text('[data-i18n="inspector.dataset"]'), storey: text("#storey-select option"), live: text("#time-label"),
    lang: document.documentElement.lang, gas: text('[data-network-type="gas"]') };
}
"""


def test_the_language_switch_turns_the_panels_to_chinese_and_back(page: Any,  # noqa: F811
                                                                  ground_city: GroundCity) -> None:
    log = PageLog(page, ground_city.base_url)
    state = open_viewer(page, log)
    assert state["ok"], state
    assert page.input_value("#language-select") == "en"  # the browser speaks en-US
    english = page.evaluate(PANEL_TEXT_JS)
    assert english == {"layers": "Layers", "status": "1 layer", "ground": "Ground", "height": "Height",
                       "dataset": "Dataset", "storey": "All storeys", "live": "now", "lang": "en", "gas": "gas"}
    page.select_option("#language-select", "zh-CN")
    chinese = page.evaluate(PANEL_TEXT_JS)
    assert chinese == {"layers": "图层", "status": "1 个图层", "ground": "地面", "height": "高度", "dataset": "数据集",
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


def test_a_chinese_browser_opens_in_chinese_on_imagery_from_settings_with_its_token(
        browser: Any, settings: Any, engine: Engine) -> None:  # noqa: F811
    from tests.conftest import serving
    from twin.db import Database
    from twin.settings import Settings

    # an XYZ template with a token, served here by the bundled imagery's own files (the token rides along)
    configured = Settings(database_url=settings.database_url, data_dir=settings.data_dir, imagery_type="xyz",
                          imagery_url="/viewer/cesium/Assets/Textures/NaturalEarthII/{z}/{x}/{reverseY}.jpg"
                                      "?tk={token}", imagery_token="secret-tk", imagery_max_level=2)
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        page = context.new_page()
        with serving(configured, Database(engine)) as base_url:
            log = PageLog(page, base_url)
            tiles: list[str] = []
            page.on("requestfinished", lambda r: tiles.append(r.url) if "NaturalEarthII/" in r.url else None)
            state = open_viewer(page, log)
            assert state["ok"] and state["tilesets"] == 0, state
            assert page.input_value("#language-select") == "zh-CN"
            assert page.text_content("#layers h2") == "图层" and page.text_content("#status") == "0 个图层"
            assert page.is_visible("#terrain-none") and page.text_content("#terrain-none") == "未导入地形"
            page.wait_for_function("() => window.citytwin.viewer.imageryLayers.get(0).ready")
            provider = page.evaluate("""() => { const p = window.citytwin.viewer.imageryLayers.get(0).imageryProvider;
                return { template: p.url, cls: p.constructor.name, max: p.maximumLevel }; }""")
            assert provider["max"] == 2 and provider["template"].endswith("?tk=secret-tk"), provider
            page.wait_for_function("() => window.citytwin.viewer.scene.globe.tilesLoaded", timeout=60_000)
            assert tiles and all(u.endswith(".jpg?tk=secret-tk") for u in tiles), tiles[:5]
            assert page.evaluate(SNAPSHOT_JS, "imagery")["colours"] >= 30
            assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
            assert not log.foreign_requests, log.foreign_requests[:5]
    finally:
        context.close()


def test_imagery_settings_missing_a_part_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from twin.imagery import imagery_config
    from twin.settings import Settings

    cases: list[tuple[dict[str, Any], str]] = [({"imagery_url": "https://t{s}.tianditu.gov.cn/img_w/wmts?tk={token}"},
                            "CITYTWIN_IMAGERY_TOKEN is not set"),
                           ({"imagery_url": "https://x/{z}/{x}/{y}.png", "imagery_token": "k"}, "has no {token}"),
                           ({"imagery_type": "xyz", "imagery_url": "https://x/tiles.png"}, "needs {z}, {x}"),
                           ({"imagery_type": "wmts", "imagery_url": "https://x/wmts"}, "CITYTWIN_IMAGERY_LAYER"),
                           ({"imagery_url": "https://t{s}.x/{z}/{x}/{y}.png"}, "CITYTWIN_IMAGERY_SUBDOMAINS"),
                           ({"imagery_type": "bing"}, "imagery_type")]
    for wrong, message in cases:
        with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
            Settings(data_dir=tmp_path, **wrong)
    tianditu = Settings(data_dir=tmp_path, imagery_type="wmts", imagery_token="k1",
                        imagery_url="https://t{s}.tianditu.gov.cn/img_w/wmts?tk={token}", imagery_subdomains="01234567",
                        imagery_layer="img", imagery_tile_matrix_set="w", imagery_format="tiles")
    assert imagery_config(tianditu) == {
        "type": "wmts", "url": "https://t{s}.tianditu.gov.cn/img_w/wmts?tk=k1", "bundled": False, "maximum_level": 18,
        "tiling": "mercator", "credit": "", "subdomains": list("01234567"), "layer": "img", "style": "default",
        "tile_matrix_set": "w", "format": "tiles"}
    assert imagery_config(Settings(data_dir=tmp_path)) == {
        "type": "tms", "url": "/viewer/cesium/Assets/Textures/NaturalEarthII", "bundled": True}
