// CityTwin viewer entry point: config → Cesium → tilesets → picking/inspector.
import { fetchJson, loadConfig } from "./config.js";
import { loadCesium } from "./cesium-loader.js";
import { onLanguageChange, setUpLanguages, t } from "./i18n.js";
import { Ground } from "./ground.js";
import { createNetworkStyle, prepareNetworkTileset, renderNetworkLegend } from "./network-style.js";
import { createBaseLayer } from "./imagery.js";
import { createBuildingStyle, renderLegend } from "./building-style.js";
import { renderLayers } from "./layers.js";
import { Inspector } from "./inspector.js";
import { createIfcStyle, renderStoreyOptions, trackStoreys } from "./ifc-style.js";
import { Live } from "./live.js";
import { DrillPanel } from "./drill-panel.js";
import { Events } from "./events.js";
import { Planner } from "./planner.js";

const $ = (id) => document.getElementById(id);

// Test/automation hooks, available before anything loads.
let resolveReady;
let rejectReady;
const ready = new Promise((res, rej) => {
  resolveReady = res;
  rejectReady = rej;
});
ready.catch(() => {}); // failures are shown in the banner, not as unhandled rejections
const citytwin = (window.citytwin = {
  ready,
  state: "loading", // then "ready", "empty" (no tilesets) or "error"
  viewer: null,
  Cesium: null,
  config: null,
  layers: [], // [{ info, tileset, error }]
  tilesets: [], // loaded Cesium3DTileset objects
  ground: null, // terrain and underground mode (ground.js)
  lastInspected: null,
  live: null, // the live twin (live.js) when the server offers it
  drills: null, // the drill panel (drill-panel.js) when the server runs drills
  events: null, // event markers, report mode, event panel and cockpit (events.js) when the server has events
  planner: null, // planner tools (planner.js): framing, storey view, style, filter, search, sections, links
  errors: [],
});

function showError(message) {
  citytwin.errors.push(message);
  $("error-text").textContent = citytwin.errors.join(" · ");
  $("error-banner").hidden = false;
}

function setStatus(state, text) {
  citytwin.state = state;
  const el = $("status");
  el.dataset.state = state;
  const count = citytwin.tilesets.length;
  el.textContent = state === "ready" || state === "empty" ? t(count === 1 ? "status.layer" : "status.layers",
    { n: count }) : text;
}

/**
 * A light that follows the camera, from over the viewer's left shoulder: roofs
 * and each wall side get a distinct shade, whatever the time of day.
 */
function useCameraLight(Cesium, scene) {
  const light = new Cesium.DirectionalLight({ direction: new Cesium.Cartesian3(0, 0, -1) });
  const scratch = new Cesium.Cartesian3();
  scene.light = light;
  scene.preRender.addEventListener(() => {
    const { directionWC, rightWC, upWC } = scene.camera;
    const dir = Cesium.Cartesian3.clone(directionWC, light.direction);
    Cesium.Cartesian3.add(dir, Cesium.Cartesian3.multiplyByScalar(rightWC, 0.5, scratch), dir);
    Cesium.Cartesian3.add(dir, Cesium.Cartesian3.multiplyByScalar(upWC, -0.9, scratch), dir);
    Cesium.Cartesian3.normalize(dir, dir);
  });
}

function createViewer(Cesium, config) {
  const viewer = new Cesium.Viewer("cesium-container", {
    baseLayer: createBaseLayer(Cesium, config, (error) => showError(t("error.imagery", { message: error.message
      || error }))),
    terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    baseLayerPicker: false,
    geocoder: false,
    animation: false,
    timeline: false,
    sceneModePicker: false,
    navigationHelpButton: false,
    fullscreenButton: false,
    infoBox: false,
    selectionIndicator: false,
    homeButton: false,
    requestRenderMode: true, // render only when something changes
    maximumRenderTimeChange: Infinity,
  });
  // Our own click handling replaces the default entity selection.
  const events = viewer.screenSpaceEventHandler;
  events.removeInputAction(Cesium.ScreenSpaceEventType.LEFT_CLICK);
  events.removeInputAction(Cesium.ScreenSpaceEventType.LEFT_DOUBLE_CLICK);
  useCameraLight(Cesium, viewer.scene);
  viewer.scene.renderError.addEventListener((_scene, error) => showError(`Render error: ${error}`));
  return viewer;
}

// Layers without twin objects behind their features: no alarm colours.
const NO_OBJECTS = new Set(["pointcloud", "oblique", "tileset"]);

/**
 * Set a layer's style; with the live twin on, alarm colours go over it (`base` undefined: its own colours) and
 * alarmed features `reveal` shows appear even where `base` hides them.
 */
function setStyle(tileset, kind, base, reveal = undefined) {
  if (citytwin.live && !NO_OBJECTS.has(kind)) citytwin.live.style(tileset, base, reveal);
  else tileset.style = base; // undefined: the tiles' own colours again (a planner style switched off)
}

/** Style a loaded tileset as its kind wants. */
function styleLayer(Cesium, tileset, kind) {
  if (kind === "pointcloud") {
    tileset.pointCloudShading.attenuation = true; // points grow with their tile's geometric error
  } else if (kind === "ifc") {
    setStyle(tileset, kind, createIfcStyle(Cesium), createIfcStyle(Cesium, { showSpaces: true }));
  } else if (kind === "network") { // pipes by network type (APWA colours), nodes grey
    prepareNetworkTileset(Cesium, tileset);
    setStyle(tileset, kind, createNetworkStyle(Cesium));
  } else if (kind === "footprints") { // LoD1 blocks; city models keep their roof/wall colours
    setStyle(tileset, kind, createBuildingStyle(Cesium));
  } else {
    setStyle(tileset, kind, undefined); // oblique meshes and imported tilesets keep their colours
  }
}

/**
 * A layer's tileset changed on the server (the live `tilesets` channel): load the new version, show it once its
 * tiles for this view are in, then drop the old one. `citytwin.reloads` counts finished reloads.
 */
async function reloadLayer(Cesium, viewer, layer, version) {
  const old = layer.tileset;
  if (!old) return;
  const url = new URL(layer.info.url, window.location.href);
  url.searchParams.set("v", String(version));
  const tileset = await Cesium.Cesium3DTileset.fromUrl(url.href);
  styleLayer(Cesium, tileset, layer.info.kind);
  tileset.show = old.show;
  viewer.scene.primitives.add(tileset);
  await settle(viewer, [tileset]);
  layer.tileset = tileset;
  citytwin.tilesets = citytwin.layers.filter((l) => l.tileset).map((l) => l.tileset);
  if (citytwin.live) citytwin.live.unstyle(old);
  viewer.scene.primitives.remove(old);
  viewer.scene.requestRender();
  citytwin.reloads = (citytwin.reloads || 0) + 1;
}

/** Reload a layer to `version`, one reload at a time per layer (notices arriving meanwhile: the newest wins). */
function queueReload(Cesium, viewer, layer, version) {
  layer.wantedVersion = version;
  if (layer.reloading) return;
  layer.reloading = (async () => {
    while (layer.shownVersion !== layer.wantedVersion) {
      const wanted = layer.wantedVersion;
      await reloadLayer(Cesium, viewer, layer, wanted);
      layer.shownVersion = wanted;
    }
  })()
    .catch((error) => showError(`Reloading "${layer.info.name || layer.info.id}" failed: ${error.message || error}`))
    .finally(() => {
      layer.reloading = null;
    });
}

/** Load every tileset listed by the server; failures are recorded per layer. */
async function loadTilesets(Cesium, viewer, config) {
  const infos = await fetchJson(config.tilesets_url);
  return Promise.all(
    infos.map(async (info) => {
      try {
        const tileset = await Cesium.Cesium3DTileset.fromUrl(info.url);
        styleLayer(Cesium, tileset, info.kind);
        viewer.scene.primitives.add(tileset);
        return { info, tileset, error: null };
      } catch (error) {
        showError(`Tileset "${info.name || info.id}" failed: ${error.message || error}`);
        return { info, tileset: null, error };
      }
    }),
  );
}

/**
 * Resolves after SETTLED_FRAMES frames in a row in which every visible tileset has all the tiles it needs for the
 * current view loaded (keeps requesting frames until then). One such frame is not enough: in the frame a subtree
 * or an external tileset arrives, nothing is pending yet, and the children it reveals are requested in the next.
 */
const SETTLED_FRAMES = 3;

function settle(viewer, tilesets, timeoutMs = 120000) {
  const { scene } = viewer;
  const started = performance.now();
  let settled = 0;
  return new Promise((resolve, reject) => {
    const remove = scene.postRender.addEventListener(() => {
      settled = tilesets.every((t) => !t.show || t.tilesLoaded) ? settled + 1 : 0;
      if (settled >= SETTLED_FRAMES) {
        remove();
        resolve();
      } else if (performance.now() - started > timeoutMs) {
        remove();
        reject(new Error("tiles did not finish loading"));
      } else {
        scene.requestRender();
      }
    });
    scene.requestRender();
  });
}

/** Fly (or jump, with duration 0) to a view of all the given tilesets. */
function frameTilesets(Cesium, viewer, tilesets, duration) {
  if (!tilesets.length) return;
  const sphere = Cesium.BoundingSphere.fromBoundingSpheres(tilesets.map((t) => t.boundingSphere));
  const range = Math.max(sphere.radius * 2.2, 150);
  viewer.camera.flyToBoundingSphere(sphere, {
    offset: new Cesium.HeadingPitchRange(0, -0.6, range),
    duration,
  });
  viewer.scene.requestRender();
}

/** Open the inspector on `id`; `lastInspected` fills in as the details arrive. */
function inspect(inspector, id) {
  const shown = inspector.show(id);
  citytwin.lastInspected = inspector.current; // { id, object, error }, updated in place
  return shown;
}

/** Feature picking + highlight; returns helpers for the hooks. */
function setUpPicking(Cesium, viewer, inspector) {
  const highlight = { feature: null, color: new Cesium.Color() };

  function clearHighlight() {
    if (highlight.feature) {
      try {
        highlight.feature.color = highlight.color;
      } catch {
        // Tile was unloaded; nothing to restore.
      }
      highlight.feature = null;
      if (citytwin.live) citytwin.live.highlight(null);
      viewer.scene.requestRender();
    }
  }

  // Faded and ghosted features are context: the planner's pick goes through them.
  const pickAny = (position) => (citytwin.planner ? citytwin.planner.pick(position) : viewer.scene.pick(position));

  function pickFeature(position) {
    const picked = pickAny(position);
    return picked instanceof Cesium.Cesium3DTileFeature ? picked : null;
  }

  function select(feature) {
    clearHighlight();
    highlight.feature = feature;
    Cesium.Color.clone(feature.color, highlight.color);
    feature.color = Cesium.Color.YELLOW;
    if (citytwin.live) citytwin.live.highlight(String(feature.getProperty("id")));
    viewer.scene.requestRender();
  }

  viewer.screenSpaceEventHandler.setInputAction((click) => {
    if (citytwin.planner && citytwin.planner.handleClick(click.position)) return; // drawing a section, measuring
    const picked = pickAny(click.position);
    if (citytwin.events && citytwin.events.handleClick(click.position, picked)) return; // report mode, events
    const feature = picked instanceof Cesium.Cesium3DTileFeature ? picked : null;
    const id = feature ? feature.getProperty("id") : undefined;
    const point = feature ? null : picked;
    if (point && point.id && point.id.sensor && point.id.object) {
      clearHighlight();
      inspect(inspector, String(point.id.object)); // a sensor point opens the object it is on
      return;
    }
    if (id === undefined || id === null) {
      inspector.close(); // clicking empty ground deselects
      return;
    }
    select(feature);
    inspect(inspector, String(id));
  }, Cesium.ScreenSpaceEventType.LEFT_CLICK);

  /** Feature under canvas pixel (x, y), as plain data, or null. */
  function pickAt(x, y) {
    const feature = pickFeature(new Cesium.Cartesian2(x, y));
    if (!feature) return null;
    const props = {};
    for (const name of feature.getPropertyIds()) props[name] = feature.getProperty(name);
    return { id: props.id === undefined ? null : String(props.id), properties: props };
  }

  return { pickAt, clearHighlight, select };
}

/** The storey filter of IFC layers: one storey, or everything up to it; `citytwin.storeys` lists them. */
function setUpStoreyFilter(Cesium, viewer, ifcLayers) {
  const box = $("storey-filter");
  box.hidden = ifcLayers.length === 0;
  const select = $("storey-select");
  const all = new Map();
  citytwin.storeys = [];
  for (const layer of ifcLayers) {
    trackStoreys(layer.tileset, (storeys) => {
      for (const s of storeys) all.set(s.name, s.elevation);
      citytwin.storeys = [...all].map(([name, elevation]) => ({ name, elevation }))
        .sort((a, b) => a.elevation - b.elevation);
      renderStoreyOptions(select, citytwin.storeys);
    });
  }
  citytwin.filterStorey = (filter) => {
    if (citytwin.planner) return citytwin.planner.chooseStorey(filter); // cut at the storey's top, rest ghosted
    for (const layer of ifcLayers) {
      setStyle(layer.tileset, layer.info.kind, createIfcStyle(Cesium, { filter }),
        createIfcStyle(Cesium, { filter, showSpaces: true })); // alarmed rooms of the storeys shown appear
    }
    viewer.scene.requestRender();
  };
  select.addEventListener("change", () => citytwin.filterStorey(select.value ? JSON.parse(select.value) : null));
}

async function start() {
  const config = await loadConfig();
  citytwin.config = config;
  document.title = config.title || "CityTwin";
  $("app-title").textContent = config.title || "CityTwin";

  const Cesium = await loadCesium(config.cesium_base_url);
  citytwin.Cesium = Cesium;
  const viewer = createViewer(Cesium, config);
  citytwin.viewer = viewer;
  citytwin.ground = new Ground(Cesium, viewer, config, { showError });
  renderNetworkLegend($("network-legend"));
  const groundReady = citytwin.ground.start(); // the terrain's lookup runs beside the layers'

  let picking = null;
  const inspector = new Inspector(config, { onClose: () => picking && picking.clearHighlight() });
  picking = setUpPicking(Cesium, viewer, inspector);
  citytwin.pickAt = picking.pickAt;
  citytwin.inspect = (id) => inspect(inspector, String(id));
  renderLegend($("legend"));
  if (config.live_ws_url) {
    citytwin.live = new Live(Cesium, viewer, config, {
      inspector,
      inspect: (objectId) => inspect(inspector, objectId),
      showError,
      onTileset: (message) => {
        const layer = citytwin.layers.find((l) => l.info.id === message.tileset);
        if (layer) queueReload(Cesium, viewer, layer, message.version);
      },
    });
  }

  const [layers] = await Promise.all([loadTilesets(Cesium, viewer, config), groundReady]);
  citytwin.layers = layers;
  citytwin.tilesets = layers.filter((l) => l.tileset).map((l) => l.tileset);
  renderLayers($("layer-list"), $("layer-empty"), layers, {
    onToggle: (layer, visible) => {
      layer.tileset.show = visible;
      viewer.scene.requestRender();
      if (citytwin.planner) citytwin.planner.writeHash(); // the link names the hidden layers
    },
    onZoom: (layer) => (citytwin.planner ? citytwin.planner.zoomToLayer(layer)
      : frameTilesets(Cesium, viewer, [layer.tileset], 1.5)),
  });

  setUpStoreyFilter(Cesium, viewer, layers.filter((l) => l.tileset && l.info.kind === "ifc"));
  if (config.ogc_items_url_template) {
    citytwin.planner = new Planner(Cesium, viewer, config, {
      layers: () => citytwin.layers, setStyle, select: picking.select, inspect: citytwin.inspect, inspector, showError,
    });
  }

  frameTilesets(Cesium, viewer, citytwin.tilesets, 0);
  setStatus("loading", "Loading tiles… (加载中)");
  citytwin.settle = (timeoutMs) => settle(viewer, citytwin.tilesets, timeoutMs);
  if (citytwin.live) citytwin.live.start();
  if (config.events_url) {
    citytwin.events = new Events(Cesium, viewer, config, { showError });
    citytwin.events.start();
  }
  if (config.plans_url && config.live_ws_url) {
    const drills = new DrillPanel(Cesium, viewer, config, { showError });
    drills.start().then((shown) => {
      if (shown) citytwin.drills = drills;
    });
  }
  await citytwin.settle(Infinity); // a big layer on a slow GPU loads as long as it takes; the status says so meanwhile
  if (citytwin.planner) await citytwin.planner.restore(); // a shared link's view
  const loaded = citytwin.tilesets.length;
  setStatus(loaded ? "ready" : "empty", `${loaded} layer${loaded === 1 ? "" : "s"}`);
  return { tilesets: loaded, failed: layers.length - loaded };
}

$("error-close").addEventListener("click", () => {
  $("error-banner").hidden = true;
});

setUpLanguages($("language-select"));
onLanguageChange(() => {
  if (citytwin.state === "ready" || citytwin.state === "empty") setStatus(citytwin.state, "");
});

start().then(resolveReady, (error) => {
  showError(`Viewer failed to start: ${error.message || error}`);
  setStatus("error", "Error (错误)");
  rejectReady(error);
});
