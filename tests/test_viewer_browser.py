"""End-to-end test of the web viewer in headless Chromium (WebGL on SwiftShader).

Drives the real viewer against a live server with the Berlin footprints
dataset: the city must render, a real mouse click on a building must open the
inspector with that building's id, layers must toggle, and the page must stay
offline (no request leaves our own server).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = os.environ.get("CITYTWIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).parent / "artifacts"
READY_TIMEOUT_MS = 120_000

# Canvas points ordered from the centre outwards, keeping only those where the
# canvas itself is on top (not a panel), and the first one whose pick - and
# that of its close neighbours - is a tile feature with an `id`.
FIND_FEATURE_JS = """
() => {
  const { viewer, pickAt } = window.citytwin;
  const canvas = viewer.canvas;
  const rect = canvas.getBoundingClientRect();
  const points = [];
  const n = 48;
  for (let i = 1; i < n; i++) {
    for (let j = 1; j < n; j++) {
      points.push([(rect.width * i) / n, (rect.height * j) / n]);
    }
  }
  const cx = rect.width / 2, cy = rect.height / 2;
  points.sort((a, b) => Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy));
  let tried = 0;
  for (const [x, y] of points) {
    if (document.elementFromPoint(rect.left + x, rect.top + y) !== canvas) continue;
    tried++;
    const hit = pickAt(x, y);
    if (!hit || !hit.id) continue;
    const steady = [[-3, 0], [3, 0], [0, -3], [0, 3]].every(([dx, dy]) => {
      const near = pickAt(x + dx, y + dy);
      return near && near.id === hit.id;
    });
    if (steady) return { x: rect.left + x, y: rect.top + y, id: hit.id, properties: hit.properties, tried };
  }
  return { x: null, tried };
}
"""

# Renders a frame and copies the WebGL canvas in the same task (before the
# drawing buffer is cleared), keeps it under `name`, and counts its colours.
SNAPSHOT_JS = """
(name) => {
  const { viewer } = window.citytwin;
  viewer.scene.requestRender();
  viewer.render();
  const { width, height } = viewer.canvas;
  const copy = new OffscreenCanvas(width, height).getContext("2d");
  copy.drawImage(viewer.canvas, 0, 0);
  const pixels = copy.getImageData(0, 0, width, height).data;
  (window.__snapshots ||= {})[name] = pixels;
  const colours = new Set();
  for (let i = 0; i < pixels.length; i += 4) {
    colours.add(((pixels[i] >> 3) << 10) | ((pixels[i + 1] >> 3) << 5) | (pixels[i + 2] >> 3));
  }
  return { width, height, colours: colours.size };
}
"""

# Fraction of pixels that differ clearly between two snapshots.
SNAPSHOT_DIFF_JS = """
([a, b]) => {
  const pa = window.__snapshots[a], pb = window.__snapshots[b];
  let changed = 0;
  for (let i = 0; i < pa.length; i += 4) {
    const d = Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]);
    if (d > 24) changed++;
  }
  return changed / (pa.length / 4);
}
"""


class PageLog:
    """Everything the page reported that a test may want to assert on."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.foreign_requests: list[str] = []
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", self._on_console)
        page.on("request", self._on_request)

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            url = (msg.location or {}).get("url", "")
            self.console_errors.append(f"{msg.text} ({url})" if url else msg.text)

    def _on_request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.base_url + "/") or url.startswith(("data:", "blob:"))):
            self.foreign_requests.append(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A page in its own browser context (30 s default timeout), closed after use: `yield from` it in a fixture."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    yield from new_page(browser, viewport=VIEWPORT)


def open_viewer(page: Any, log: PageLog) -> dict[str, Any]:
    """Load the viewer and wait (bounded) until it is ready or has failed; returns how it settled."""
    page.goto(log.base_url + "/")
    try:
        page.wait_for_function("() => Boolean(window.citytwin && window.citytwin.ready)", timeout=30_000)
    except sync_api.TimeoutError:
        pytest.fail(f"viewer script never started; page errors: {log.page_errors}")
    try:
        page.wait_for_function("() => window.citytwin.state !== 'loading'", timeout=READY_TIMEOUT_MS)
    except sync_api.TimeoutError:
        pytest.fail(f"viewer still loading after {READY_TIMEOUT_MS} ms; page errors: {log.page_errors}")
    result: dict[str, Any] = page.evaluate(
        "() => window.citytwin.ready.then(r => ({ ok: true, ...r }), e => ({ ok: false, error: String(e) }))",
    )
    return result


def test_viewer_renders_city_and_inspects_clicked_building(page: Any, live_city: Any) -> None:
    log = PageLog(page, live_city.base_url)
    state = open_viewer(page, log)
    assert state["ok"], f"viewer failed to start: {state.get('error')}; page errors: {log.page_errors}"
    assert state["tilesets"] >= 1 and state["failed"] == 0, state
    assert page.is_hidden("#error-banner"), page.text_content("#error-text")
    assert page.evaluate("window.WebGL2RenderingContext && !!window.citytwin.viewer.scene.context.webgl2")

    # The layer panel lists the ingested tileset, checked.
    layer = page.locator(f'#layer-list li[data-tileset-id="{live_city.tileset_id}"]')
    assert layer.count() == 1, page.inner_html("#layer-list")
    checkbox = layer.locator("input[type=checkbox]")
    assert checkbox.is_checked()

    # Not a blank canvas: shaded, height-coloured buildings over the ground give many colours.
    snapshot = page.evaluate(SNAPSHOT_JS, "shown")
    assert snapshot["width"] > 0 and snapshot["colours"] >= 30, f"canvas looks blank: {snapshot}"

    # Find a building on screen and click it with the real mouse.
    hit = page.evaluate(FIND_FEATURE_JS)
    assert hit["x"] is not None, f"no building pickable on screen ({hit['tried']} points tried)"
    feature_id = hit["id"]
    assert feature_id in set(live_city.object_ids), f"picked id {feature_id!r} is not an ingested object"

    page.mouse.click(hit["x"], hit["y"])
    inspector = page.locator("#inspector")
    inspector.wait_for(state="visible")
    page.wait_for_selector("#inspector[data-state=loaded], #inspector[data-state=error]")
    assert inspector.get_attribute("data-state") == "loaded", page.text_content("#inspector-message")
    assert inspector.get_attribute("data-object-id") == feature_id
    assert page.text_content("#inspector-id") == feature_id
    assert (page.text_content("#inspector-kind") or "").strip() not in ("", "—")
    assert page.locator("#inspector-attributes tbody tr").count() >= 1
    inspected = page.evaluate("window.citytwin.lastInspected")
    assert inspected["id"] == feature_id and inspected["object"]["id"] == feature_id
    page.evaluate("window.citytwin.settle()")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer.png"))

    # Hiding the layer removes the buildings from both picking and the picture.
    checkbox.uncheck()
    assert page.evaluate("window.citytwin.tilesets.every(t => !t.show)")
    assert page.evaluate("([x, y]) => window.citytwin.pickAt(x, y)", [hit["x"], hit["y"]]) is None
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "hidden")
    checkbox.check()
    page.evaluate("window.citytwin.settle()")
    page.evaluate(SNAPSHOT_JS, "reshown")
    changed = page.evaluate(SNAPSHOT_DIFF_JS, ["hidden", "reshown"])
    assert changed > 0.005, f"toggling the layer changed only {changed:.2%} of the pixels"
    assert page.evaluate("([x, y]) => window.citytwin.pickAt(x, y)?.id", [hit["x"], hit["y"]]) == feature_id

    # Escape closes the inspector.
    page.keyboard.press("Escape")
    inspector.wait_for(state="hidden")

    assert not log.page_errors, f"uncaught page errors: {log.page_errors}"
    assert not log.console_errors, f"console errors: {log.console_errors}"
    assert not log.foreign_requests, f"viewer reached outside its server: {log.foreign_requests[:5]}"

    # An unknown id shows an error in the inspector instead of failing.
    page.evaluate("window.citytwin.inspect('citytwin-test.no-such-object')")
    page.wait_for_selector("#inspector[data-state=error]")
    assert page.text_content("#inspector-id") == "citytwin-test.no-such-object"
    assert not log.page_errors, f"uncaught page errors: {log.page_errors}"


def test_viewer_shows_error_banner_when_tilesets_fail(page: Any, live_city: Any) -> None:
    log = PageLog(page, live_city.base_url)
    tilesets_url = page.context.request.get(live_city.base_url.rstrip("/") + "/viewer/config.json").json()[
        "tilesets_url"
    ]
    page.route(
        f"**{tilesets_url}",
        lambda route: route.fulfill(status=503, json={"detail": "database unavailable"}),
    )
    state = open_viewer(page, log)
    assert not state["ok"]
    banner = page.locator("#error-banner")
    banner.wait_for(state="visible")
    assert "database unavailable" in (page.text_content("#error-text") or "")
    assert page.get_attribute("#status", "data-state") == "error"
    assert not log.page_errors, f"uncaught page errors: {log.page_errors}"


@pytest.fixture(scope="module")
def implicit_city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A live server whose only layer is Berlin as a Draco-compressed, implicitly tiled quadtree."""
    from ingest_gis.footprints import FootprintOptions
    from tests.conftest import populated_server
    from tests.helpers.data import shared_data
    from tiles.encoding import Compression
    from twin.ingest import ingest_footprints

    def populate(engine: Any) -> None:
        ingest_footprints(engine, shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"),
                          FootprintOptions(name="implicit"), max_features_per_tile=60,
                          compression=Compression.DRACO, implicit=True)

    data_dir = tmp_path_factory.mktemp("implicit")
    with populated_server(server_url, template_database, data_dir, populate) as (base_url, _):
        yield base_url


def test_a_compressed_implicitly_tiled_layer_renders_and_picks(page: Any, implicit_city: str) -> None:
    log = PageLog(page, implicit_city)
    state = open_viewer(page, log)
    assert state["ok"] and state["tilesets"] == 1 and state["failed"] == 0, state
    assert page.evaluate("window.citytwin.tilesets[0].root.hasImplicitContent === true || "
                         "window.citytwin.tilesets[0].root.implicitTileset !== undefined")
    page.evaluate("window.citytwin.settle()")
    snapshot = page.evaluate(SNAPSHOT_JS, "implicit")
    assert snapshot["colours"] >= 30, f"canvas looks blank: {snapshot}"
    hit = page.evaluate(FIND_FEATURE_JS)
    assert hit["x"] is not None and hit["id"].startswith("implicit."), hit
    page.screenshot(path=str(ARTIFACTS / "viewer-implicit.png"))
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
