"""Opening a big layer in the viewer: N generated buildings in our viewer against the same tileset in a bare CesiumJS
page with nothing of ours (the limit), both in headless Chromium (SwiftShader) from the same server.

Measured in one run on this machine, for each page: time from navigation to the first rendered frame that draws a
building, to the frame where every tile the view needs is in, the tiles loaded then, and while styling by `height`
(our planner's style vs. a plain Cesium3DTileStyle of the same classes) the time from a style change to its frame
and the frame times after it. Both pages show the same view: the bare page gets our viewer's opening camera.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.footprints import generate
from bench.processes import wait_url
from ingest_gis.footprints import FootprintOptions
from twin.db import open_database
from twin.ingest import ingest_footprints
from twin.localhost import free_port
from twin.settings import Settings

CHROMIUM = os.environ.get("CITYTWIN_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--use-gl=angle", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking"]
VIEWPORT: Any = {"width": 1280, "height": 800}
BARE_PATH = "/bench-bare-cesium.html"  # answered by the browser itself (a route), not by our server

# The same probe in both pages: once a viewer exists, every frame is timed and the first frame that draws a
# tileset's commands, and the first after it with every tileset's tiles in, are noted (ms since navigation).
PROBE_JS = """
(() => {
  const probe = (window.__probe = { firstFrame: null, loaded: null, tiles: 0, frames: [] });
  const viewerOf = () => window.__bareViewer || (window.citytwin && window.citytwin.viewer);
  const hook = () => {
    const viewer = viewerOf();
    if (!viewer) return requestAnimationFrame(hook);
    const scene = viewer.scene;
    let before = 0;
    scene.preRender.addEventListener(() => { before = performance.now(); });
    scene.postRender.addEventListener(() => {
      probe.frames.push(performance.now() - before);
      const tilesets = [];
      for (let i = 0; i < scene.primitives.length; i++) {
        const p = scene.primitives.get(i);
        if (p instanceof window.__Cesium3DTileset) tilesets.push(p);
      }
      if (!tilesets.length) return scene.requestRender();
      const drawn = tilesets.some((t) => t.statistics.numberOfCommands > 0);
      if (drawn && probe.firstFrame === null) probe.firstFrame = performance.now();
      if (probe.firstFrame !== null && probe.loaded === null && tilesets.every((t) => !t.show || t.tilesLoaded)) {
        probe.loaded = performance.now();
        probe.tiles = tilesets.reduce((n, t) => n + t.statistics.numberOfTilesWithContentReady, 0);
      }
      if (probe.loaded === null) scene.requestRender();
    });
  };
  hook();
})();
"""

BARE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<link rel="stylesheet" href="/viewer/cesium/Widgets/widgets.css">
<style>html, body, #c { margin: 0; width: 100%; height: 100%; overflow: hidden; }</style></head>
<body><div id="c"></div><script type="module">
window.CESIUM_BASE_URL = "/viewer/cesium/";
const Cesium = await import("/viewer/cesium/index.js");
window.__Cesium3DTileset = Cesium.Cesium3DTileset;
const q = new URLSearchParams(location.search);
const viewer = new Cesium.Viewer("c", {
  baseLayer: Cesium.ImageryLayer.fromProviderAsync(
    Cesium.TileMapServiceImageryProvider.fromUrl("/viewer/cesium/Assets/Textures/NaturalEarthII")),
  terrainProvider: new Cesium.EllipsoidTerrainProvider(), baseLayerPicker: false, geocoder: false, animation: false,
  timeline: false, sceneModePicker: false, navigationHelpButton: false, fullscreenButton: false, infoBox: false,
  selectionIndicator: false, homeButton: false, requestRenderMode: true, maximumRenderTimeChange: Infinity });
window.__bareViewer = viewer;
window.__Cesium = Cesium;
const c = q.get("camera").split(",").map(Number);
viewer.camera.setView({ destination: Cesium.Cartesian3.fromDegrees(c[0], c[1], c[2]),
  orientation: { heading: Cesium.Math.toRadians(c[3]), pitch: Cesium.Math.toRadians(c[4]), roll: 0 } });
window.__tileset = await Cesium.Cesium3DTileset.fromUrl(q.get("tileset"));
viewer.scene.primitives.add(window.__tileset);
viewer.scene.requestRender();
</script></body></html>"""

# Style changes and the frames after each: `restyle(i)` sets style i (0: none); returns [change → frame ms] and
# the frame times of the following frames (ms). A frame is timed until the GPU has drawn it: WebGL only queues
# commands for Chromium's GPU process, so without waiting (a 1-pixel readPixels, which returns once every command
# before it has run) a frame's GPU time would land on whichever later call finds the queue full (seconds-long
# "frames" in one page and none in the other for the same work). Work left from the opening is drained first;
# `left` is the wait for what is still queued after the last frame (nothing, so about 0 ms).
STYLING_JS = """
async ([rounds, after]) => {
  const viewer = window.__bareViewer || window.citytwin.viewer;
  const gl = viewer.canvas.getContext("webgl2") || viewer.canvas.getContext("webgl");
  const pixel = new Uint8Array(4);
  const drawn = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
  const changes = [], frames = [];
  drawn();
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await window.__restyle(i % 2 ? 0 : 1);
    viewer.scene.requestRender();
    viewer.render();
    drawn();
    changes.push(performance.now() - t0);
    for (let k = 0; k < after; k++) {
      const t = performance.now();
      viewer.scene.requestRender();
      viewer.render();
      drawn();
      frames.push(performance.now() - t);
    }
  }
  const t = performance.now();
  drawn();
  return { changes, frames, left: performance.now() - t };
}
"""

# Our page: the Cesium3DTileset class is known once the viewer has loaded Cesium.
OUR_TILESET_CLASS_JS = """
window.__Cesium3DTileset = function () {};
(() => { const hook = () => { const c = window.citytwin;
  if (c && c.Cesium) window.__Cesium3DTileset = c.Cesium.Cesium3DTileset;
  else requestAnimationFrame(hook); }; hook(); })();
"""

OUR_RESTYLE_JS = """
() => {
  const c = window.citytwin;
  const layer = c.layers.find((l) => l.info.id === "bench");
  window.__restyle = (on) => c.planner.styleBy(layer, on ? "height" : "");
}
"""

# The same graduated classes our planner made, as one Cesium3DTileStyle (the limit of styling in CesiumJS).
BARE_RESTYLE_JS = """
(classes) => {
  const Cesium = window.__Cesium, tileset = window.__tileset;
  const conditions = classes.filter((c) => c.min !== undefined).reverse()
    .map((c) => [`\\${height} >= ${c.min}`, `color('${c.color}')`]);
  conditions.push(["true", "color('#bbbbbb')"]);
  window.__restyle = (on) => {
    tileset.style = on ? new Cesium.Cesium3DTileStyle({ color: { conditions } }) : undefined; };
}
"""


def _open(page: Any, url: str, timeout_ms: int) -> dict[str, Any]:
    """Navigate, wait for the probe's loaded frame; the probe's figures (ms since navigation start)."""
    page.goto(url)
    page.wait_for_function("() => window.__probe && window.__probe.loaded !== null", timeout=timeout_ms)
    probe: dict[str, Any] = page.evaluate("() => window.__probe")
    return probe


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):7.1f} ms, p95 {p95:7.1f} ms, max {ordered[-1]:7.1f} ms"


def _ours(browser: Any, base_url: str, *, rounds: int, after: int, timeout_ms: int) -> dict[str, Any]:
    """Our viewer opened in a fresh context: the probe's figures, styling, its opening camera and style classes."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.add_init_script(PROBE_JS + OUR_TILESET_CLASS_JS)
    try:
        probe = _open(page, base_url + "/", timeout_ms)
        page.wait_for_function("() => window.citytwin.state !== 'loading'", timeout=timeout_ms)
        camera = page.evaluate("() => window.citytwin.planner.viewState().camera")
        page.evaluate(OUR_RESTYLE_JS)
        styling = page.evaluate(STYLING_JS, [rounds, after])
        page.evaluate("() => window.__restyle(1)")
        classes = page.evaluate("() => window.citytwin.planner.styled.style.classes")
        return {**probe, **styling, "camera": camera, "classes": classes}
    finally:
        context.close()


def measure(base_url: str, *, rounds: int = 6, after: int = 5, timeout_ms: int = 1_800_000) -> dict[str, Any]:
    """Open the `bench` layer in our viewer and in the bare page; their figures."""
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # a first, unmeasured opening warms the server (tiles read from PostGIS once) and gives the view
            warm = _ours(browser, base_url, rounds=1, after=1, timeout_ms=timeout_ms)
            camera, classes = warm["camera"], warm["classes"]
            cam = ",".join(str(camera[k]) for k in ("lon", "lat", "height", "heading", "pitch"))
            tileset_url = base_url + "/tilesets/bench/tileset.json"
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            bare_url = base_url + BARE_PATH  # a predicate: a glob's "*" stops at the "/" of the query's URL
            page.route(lambda url: url.startswith(bare_url), lambda route: route.fulfill(
                status=200, content_type="text/html", body=BARE_PAGE))
            page.add_init_script(PROBE_JS)
            bare = _open(page, f"{base_url}{BARE_PATH}?camera={cam}&tileset={tileset_url}", timeout_ms)
            page.evaluate(BARE_RESTYLE_JS, classes)
            results["bare"] = {**bare, **page.evaluate(STYLING_JS, [rounds, after])}
            context.close()
            results["ours"] = _ours(browser, base_url, rounds=rounds, after=after, timeout_ms=timeout_ms)
        finally:
            browser.close()
    return results


def report(n: int, results: dict[str, Any]) -> None:
    ours, bare = results["ours"], results["bare"]
    print(f"viewer load, {n:,} buildings, {VIEWPORT['width']}×{VIEWPORT['height']} headless Chromium (SwiftShader)")
    print(f"{'':<28}{'our viewer':>14}{'bare CesiumJS':>16}{'ratio':>8}")
    for label, key in (("first rendered frame (ms)", "firstFrame"), ("all tiles of the view (ms)", "loaded")):
        print(f"{label:<28}{ours[key]:>14,.0f}{bare[key]:>16,.0f}{ours[key] / bare[key]:>7.2f}×")
    print(f"{'tiles loaded':<28}{ours['tiles']:>14,}{bare['tiles']:>16,}")
    mine, theirs = statistics.median(ours["changes"]), statistics.median(bare["changes"])
    print(f"{'style change → frame (ms)':<28}{mine:>14.1f}{theirs:>16.1f}{mine / theirs:>7.2f}×")
    print(f"frames while styling, ours: {_summary(ours['frames'])}")
    print(f"frames while styling, bare: {_summary(bare['frames'])}")


def run(n: int, *, rounds: int = 6, timeout_s: float = 1800) -> dict[str, Any]:
    """Generate and ingest N buildings into a private cluster, serve them, open both pages; their figures."""
    with tempfile.TemporaryDirectory(prefix="citytwin-viewer-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data")
        source = root / "city.geojson"
        source.write_bytes(orjson.dumps(generate(n)))
        database = open_database(settings)
        start = time.perf_counter()
        ingest_footprints(database.engine, source, FootprintOptions("bench"))
        print(f"ingested {n:,} generated footprints in {time.perf_counter() - start:.1f} s")
        database.close(stop_embedded=False)
        port = free_port()
        env = {**os.environ, "CITYTWIN_DATA_DIR": str(root / "data")}
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_url(f"http://127.0.0.1:{port}/health")
            return measure(f"http://127.0.0.1:{port}", rounds=rounds, timeout_ms=int(timeout_s * 1000))
        finally:
            server.terminate()
            server.wait(timeout=30)
            open_database(settings, run_migrations=False).close(stop_embedded=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="buildings in the layer (default 100,000)")
    parser.add_argument("--rounds", type=int, default=6, help="style changes on each page")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds each page may take to load (default 1800)")
    args = parser.parse_args(argv)
    report(args.n, run(args.n, rounds=args.rounds, timeout_s=args.timeout))


if __name__ == "__main__":
    main()
