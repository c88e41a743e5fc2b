"""The viewer on a city model and a point cloud together: LoD2 CityJSON houses and the AHN3 lidar of the same
ground in Delft render side by side, and clicking a house shows its CityJSON attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.test_viewer_browser import (  # noqa: F401 - browser and page are fixtures
    ARTIFACTS,
    FIND_FEATURE_JS,
    SNAPSHOT_JS,
    PageLog,
    browser,
    open_viewer,
    page,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def delft(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server with 16 generated LoD2 houses (CityJSON, EPSG:7415) on the AHN3 point cloud's ground."""
    from bench.cityjson import generate
    from ingest_gis.cityjson import CityJsonOptions
    from ingest_gis.pointcloud import PointCloudOptions
    from tests.conftest import populated_server
    from tests.helpers.data import shared_data
    from twin.ingest import ingest_cityjson, ingest_pointcloud

    folder = tmp_path_factory.mktemp("delft")
    houses = {**generate(16), "transform": {"scale": [0.001, 0.001, 0.001], "translate": [84990.0, 447430.0, 0.0]}}
    (folder / "houses.city.json").write_bytes(orjson.dumps(houses))
    def populate(engine: Any) -> None:
        ingest_cityjson(engine, folder / "houses.city.json", CityJsonOptions("houses"))
        ingest_pointcloud(engine, shared_data("pointcloud/ahn3_cropped_2.laz"),
                          PointCloudOptions("ahn3", crs="28992"))

    data_dir = folder / "data"
    with populated_server(server_url, template_database, data_dir, populate) as (base_url, _):
        yield base_url


def test_lod2_houses_and_a_point_cloud_render_together_and_a_house_shows_its_attributes(page: Any,  # noqa: F811
                                                                                      delft: str) -> None:
    log = PageLog(page, delft)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 2 and state["failed"] == 0, state
    kinds = page.evaluate("window.citytwin.layers.map(l => l.info.kind).sort()")
    assert kinds == ["cityjson", "pointcloud"]
    page.evaluate("window.citytwin.settle()")
    snapshot = page.evaluate(SNAPSHOT_JS, "together")
    assert snapshot["colours"] >= 30, f"canvas looks blank: {snapshot}"
    visible = page.evaluate("window.citytwin.tilesets.map(t => t.root.contentReady || t.tilesLoaded)")
    assert all(visible), visible

    hit = page.evaluate(FIND_FEATURE_JS)
    assert hit["x"] is not None and hit["id"].startswith("houses."), hit
    page.mouse.click(hit["x"], hit["y"])
    page.wait_for_selector("#inspector[data-state=loaded], #inspector[data-state=error]")
    assert page.get_attribute("#inspector", "data-state") == "loaded"
    assert page.text_content("#inspector-id") == hit["id"]
    attributes = page.text_content("#inspector-attributes") or ""
    assert "function" in attributes and ("residential" in attributes or "garage" in attributes), attributes
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-citymodel-pointcloud.png"))
    assert not log.page_errors, f"uncaught page errors: {log.page_errors}"
    assert not log.console_errors, f"console errors: {log.console_errors}"
