"""The viewer on a point cloud in headless Chromium: Autzen's pnts tiles render where the cloud is, in its own
colours, and hiding the layer removes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_viewer_browser import (  # noqa: F401 - browser and page are fixtures
    ARTIFACTS,
    SNAPSHOT_JS,
    PageLog,
    browser,
    open_viewer,
    page,
)

pytestmark = pytest.mark.browser

# Canvas position of the point cloud's bounding-sphere centre.
CLOUD_CENTRE_JS = """
() => {
  const { viewer, tilesets } = window.citytwin;
  const p = viewer.scene.cartesianToCanvasCoordinates(tilesets[0].boundingSphere.center);
  return p ? { x: p.x, y: p.y, width: viewer.canvas.width, height: viewer.canvas.height } : null;
}
"""

# In a square of half-size `r` around (x, y) of a snapshot: the fraction of pixels that are not the black
# background, and how many distinct colours they have.
REGION_JS = """
([name, x, y, r]) => {
  const pixels = window.__snapshots[name];
  const width = window.citytwin.viewer.canvas.width, height = window.citytwin.viewer.canvas.height;
  const colours = new Set();
  let drawn = 0, total = 0;
  for (let j = Math.max(0, Math.round(y - r)); j < Math.min(height, Math.round(y + r)); j++) {
    for (let i = Math.max(0, Math.round(x - r)); i < Math.min(width, Math.round(x + r)); i++) {
      const k = 4 * (j * width + i);
      if (pixels[k] + pixels[k + 1] + pixels[k + 2] > 24) {
        drawn++;
        colours.add((pixels[k] << 16) | (pixels[k + 1] << 8) | pixels[k + 2]);
      }
      total++;
    }
  }
  return { drawn: drawn / total, colours: colours.size };
}
"""

# Only the tilesets on a black background: no globe, sky or atmosphere (their imagery varies between frames).
BLACK_BACKGROUND_JS = """
() => {
  const { viewer } = window.citytwin;
  const scene = viewer.scene;
  scene.globe.show = false;
  scene.skyAtmosphere.show = false;
  scene.skyBox.show = false;
  if (scene.sun) scene.sun.show = false;
  if (scene.moon) scene.moon.show = false;
  scene.backgroundColor = scene.backgroundColor.constructor.BLACK.clone();
}
"""


@pytest.fixture(scope="module")
def autzen(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server whose only layer is the Autzen point cloud."""
    from ingest_gis.pointcloud import PointCloudOptions
    from tests.conftest import populated_server
    from tests.helpers.data import shared_data
    from twin.ingest import ingest_pointcloud

    def populate(engine: Any) -> None:
        ingest_pointcloud(engine, shared_data("pointcloud/autzen_trim.laz"), PointCloudOptions("autzen"))

    data_dir = tmp_path_factory.mktemp("autzen")
    with populated_server(server_url, template_database, data_dir, populate) as (base_url, _):
        yield base_url


def test_autzen_point_cloud_renders_where_it_lies_in_its_own_colours(page: Any,  # noqa: F811 - the shared page fixture
    autzen: str) -> None:
    log = PageLog(page, autzen)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1 and state["failed"] == 0, state
    assert page.evaluate("window.citytwin.tilesets[0].style") is None  # RGB, not the building height style
    page.evaluate("window.citytwin.settle()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    centre = page.evaluate(CLOUD_CENTRE_JS)
    assert centre is not None and 0 < centre["x"] < centre["width"] and 0 < centre["y"] < centre["height"], centre

    page.screenshot(path=str(ARTIFACTS / "viewer-pointcloud.png"))
    page.evaluate(BLACK_BACKGROUND_JS)
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "shown")
    x, y, width, height = centre["x"], centre["y"], centre["width"], centre["height"]
    cloud = page.evaluate(REGION_JS, ["shown", x, y, 60])
    assert cloud["drawn"] > 0.5, f"only {cloud['drawn']:.1%} of the pixels around the cloud are points"
    assert cloud["colours"] > 200, f"{cloud['colours']} colours: the points do not show their RGB"
    for corner in ((40, 40), (width - 40, 40), (40, height - 40), (width - 40, height - 40)):
        assert page.evaluate(REGION_JS, ["shown", *corner, 30])["drawn"] == 0, f"points drawn at {corner}"
    page.locator('#layer-list li[data-tileset-id="autzen"] input[type=checkbox]').uncheck()
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "hidden")
    assert page.evaluate(REGION_JS, ["hidden", x, y, 60])["drawn"] == 0, "hidden points still drawn"
    assert not log.page_errors, f"uncaught page errors: {log.page_errors}"
    assert not log.console_errors, f"console errors: {log.console_errors}"
    assert not log.foreign_requests, f"viewer reached outside its server: {log.foreign_requests[:5]}"
