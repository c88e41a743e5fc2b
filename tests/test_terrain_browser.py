"""CesiumJS itself reads the terrain in the real headless Chromium: `CesiumTerrainProvider.fromUrl` on a served
terrain, the most detailed heights at points (Cesium's own quantized-mesh decoder, availability and mesh
workers) against the DEM, with the vertex normals extension asked for and sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import Engine

from ingest_gis.terrain import TerrainOptions, write_geotiff
from tests.conftest import serving
from tests.test_terrain import hills
from tests.test_viewer_browser import CHROMIUM, CHROMIUM_ARGS
from tiles.terrain.scheme import mesh_error
from twin.db import Database
from twin.settings import Settings
from twin.terrain.ingest import ingest_terrain

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

SAMPLE_JS = """
async ([points]) => {
  window.CESIUM_BASE_URL = "/viewer/cesium/";
  const Cesium = await import("/viewer/cesium/index.js");
  const provider = await Cesium.CesiumTerrainProvider.fromUrl("/tilesets/hills/", { requestVertexNormals: true });
  const positions = points.map(([lon, lat]) => Cesium.Cartographic.fromDegrees(lon, lat));
  const sampled = await Cesium.sampleTerrainMostDetailed(provider, positions);
  return { normals: provider.hasVertexNormals, heights: sampled.map((c) => c.height),
           levels: provider.availability.computeMaximumLevelAtPosition(positions[0]) };
}
"""


def test_cesium_reads_the_terrain_and_its_heights_match_the_dem(settings: Settings, engine: Engine,
                                                                tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    if not (settings.web_viewer_dir / "node_modules/cesium/Build/Cesium/index.js").exists():
        pytest.skip("the viewer's Cesium build is not installed (npm ci in web_viewer)")
    z, gt = hills()
    tif = write_geotiff(tmp_path / "hills.tif", z, gt, "EPSG:25832")  # type: ignore[arg-type]
    summary = ingest_terrain(engine, tif, TerrainOptions("hills"))
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(458_100, 459_100, 12), rng.uniform(5_437_700, 5_438_700, 12)
    lon, lat = to_lonlat.transform(xs, ys)
    points = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    accepts: list[str] = []
    with serving(settings, Database(engine)) as base, sync_api.sync_playwright() as p:
        expected = httpx.post(f"{base}/terrain/heights", json={"points": points}).json()["heights"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: accepts.append(r.headers.get("accept", "")) if r.url.split("?")[0]
                    .endswith(".terrain") else None)
            page.goto(f"{base}/health")
            result: dict[str, Any] = page.evaluate(SAMPLE_JS, [points])
        finally:
            browser.close()
    assert result["normals"] is True and result["levels"] == summary["max_zoom"]
    assert accepts and all("octvertexnormals" in a for a in accepts)
    tolerance = mesh_error(summary["max_zoom"]) + 0.3  # the mesh error, plus the DEM bending between samples
    assert np.abs(np.array(result["heights"]) - np.array(expected)).max() <= tolerance
