"""The viewer on an IFC model in headless Chromium: the FZK house renders, a real click on an element opens the
inspector with its GlobalId and property-set values, IfcSpace volumes stay hidden and the storey filter works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.test_viewer_browser import (  # noqa: F401 - browser and page are fixtures
    ARTIFACTS,
    SNAPSHOT_DIFF_JS,
    SNAPSHOT_JS,
    PageLog,
    browser,
    open_viewer,
    page,
)

pytestmark = pytest.mark.browser

# Like FIND_FEATURE_JS, but only building elements (not the site's terrain), steady under ±3 px.
FIND_ELEMENT_JS = """
() => {
  const { viewer, pickAt } = window.citytwin;
  const rect = viewer.canvas.getBoundingClientRect();
  const points = [];
  for (let i = 1; i < 40; i++) {
    for (let j = 1; j < 40; j++) points.push([(rect.width * i) / 40, (rect.height * j) / 40]);
  }
  const cx = rect.width / 2, cy = rect.height / 2;
  points.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
  for (const [x, y] of points) {
    if (document.elementFromPoint(rect.left + x, rect.top + y) !== viewer.canvas) continue;
    const hit = pickAt(x, y);
    if (!hit || !hit.id || ["IfcSite", "IfcSpace"].includes(hit.properties.class)) continue;
    const steady = [[-3, 0], [3, 0], [0, -3], [0, 3]].every(([dx, dy]) => pickAt(x + dx, y + dy)?.id === hit.id);
    if (steady) return { x: rect.left + x, y: rect.top + y, id: hit.id, properties: hit.properties };
  }
  return { x: null };
}
"""

ANY_SPACE_JS = """
() => {
  const { viewer, pickAt } = window.citytwin;
  const rect = viewer.canvas.getBoundingClientRect();
  for (let i = 1; i < 40; i++) for (let j = 1; j < 40; j++) {
    const hit = pickAt((rect.width * i) / 40, (rect.height * j) / 40);
    if (hit && hit.properties.class === "IfcSpace") return true;
  }
  return false;
}
"""


@pytest.fixture(scope="module")
def house(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A live server whose only layer is the FZK house."""
    from tests.conftest import populated_server
    from tests.helpers.data import shared_data
    from twin.ingest import ingest_ifc

    def populate(engine: Any) -> None:
        ingest_ifc(engine, shared_data("ifc/AC20-FZK-Haus.ifc"), "fzk")

    data_dir = tmp_path_factory.mktemp("house")
    with populated_server(server_url, template_database, data_dir, populate) as (base_url, engine):
        yield base_url, engine


def test_fzk_house_renders_and_picking_shows_globalid_and_property_sets(page: Any,  # noqa: F811 - the shared page fixture
    house: Any) -> None:
    base_url, engine = house
    log = PageLog(page, base_url)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1 and state["failed"] == 0, state
    snapshot = page.evaluate(SNAPSHOT_JS, "house")
    assert snapshot["colours"] >= 30, f"canvas looks blank: {snapshot}"

    hit = page.evaluate(FIND_ELEMENT_JS)
    assert hit["x"] is not None, "no building element pickable on screen"
    props = hit["properties"]
    assert hit["id"] == f"fzk.{props['GlobalId']}" and props["class"].startswith("Ifc")
    with engine.connect() as conn:
        attributes = conn.execute(text("SELECT attributes FROM twin_objects WHERE id = :i"), {"i": hit["id"]}
                                  ).scalar_one()
    page.mouse.click(hit["x"], hit["y"])
    page.wait_for_selector("#inspector[data-state=loaded]")
    assert page.text_content("#inspector-id") == hit["id"]
    assert page.text_content("#inspector-kind") == props["class"]
    assert page.text_content('#inspector-attributes tr[data-key="GlobalId"] td') == props["GlobalId"]
    pset, name, value = next((p, n, v) for p, values in attributes["psets"].items() for n, v in values.items()
                             if isinstance(v, str | int | float) and not isinstance(v, bool))
    row = page.locator(f'#inspector-attributes tr[data-key="psets › {pset} › {name}"] td')
    assert row.count() == 1, page.inner_html("#inspector-attributes")
    shown = row.text_content()
    assert shown == (str(round(value * 100) / 100).removesuffix(".0") if isinstance(value, float) else str(value))
    if attributes.get("storey"):
        assert page.text_content('#inspector-attributes tr[data-key="storey"] td') == attributes["storey"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-ifc.png"))

    # spaces are hidden by default: nothing on screen picks as an IfcSpace
    assert page.evaluate(ANY_SPACE_JS) is False

    # the storey filter lists both storeys; showing only the ground floor changes the picture
    page.wait_for_function("() => window.citytwin.storeys.length === 2")
    assert [s["name"] for s in page.evaluate("window.citytwin.storeys")] == ["Erdgeschoss", "Dachgeschoss"]
    assert page.is_visible("#storey-select")
    page.select_option("#storey-select", label="Erdgeschoss only")
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "ground")
    assert page.evaluate(SNAPSHOT_DIFF_JS, ["house", "ground"]) > 0.005
    page.select_option("#storey-select", label="up to Dachgeschoss")
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "all")
    assert page.evaluate(SNAPSHOT_DIFF_JS, ["ground", "all"]) > 0.002
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
