// The ground and under it: the server's terrain (when one is ingested) with an on/off switch, and the underground
// mode — a translucent globe the camera may go below, to see the pipe networks from under the streets.
import { fetchJson } from "./config.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const UNDERGROUND_ALPHA = 0.35; // the globe's opacity in underground mode, from above and from below

export class Ground {
  /** `config.terrain_url` lists the terrains (GET /terrain); the newest is used. */
  constructor(Cesium, viewer, config, { showError }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.config = config;
    this.showError = showError;
    this.terrain = null; // the terrain's entry from /terrain
    this.provider = null; // its CesiumTerrainProvider
    this.terrainOn = false;
    this.underground = false;
  }

  /** Find the served terrain and put it under the globe; resolves with whether one is shown. */
  async start() {
    const box = $("terrain-toggle");
    box.addEventListener("change", () => this.setTerrain(box.checked));
    const under = $("underground-toggle");
    under.addEventListener("change", () => this.setUnderground(under.checked));
    const opacity = $("underground-opacity");
    opacity.value = String(UNDERGROUND_ALPHA);
    opacity.addEventListener("input", () => this.setOpacity(Number(opacity.value)));
    if (!this.config.terrain_url) return false;
    try {
      const terrains = await fetchJson(this.config.terrain_url);
      if (!terrains.length) {
        $("terrain-none").hidden = false;
        return false;
      }
      this.terrain = terrains[0];
      this.provider = await this.Cesium.CesiumTerrainProvider.fromUrl(this.terrain.url, {
        requestVertexNormals: true,
      });
    } catch (error) {
      this.showError(t("error.terrain", { message: error.message || error }));
      return false;
    }
    box.disabled = false;
    box.checked = true;
    $("terrain-name").textContent = this.terrain.id;
    this.setTerrain(true);
    return true;
  }

  /** Terrain on (the served one) or off (the bare ellipsoid). */
  setTerrain(on) {
    const { Cesium, viewer } = this;
    if (on && !this.provider) return;
    this.terrainOn = on;
    viewer.terrainProvider = on ? this.provider : new Cesium.EllipsoidTerrainProvider();
    viewer.scene.globe.depthTestAgainstTerrain = on; // buildings and pipes hide behind hills, not through them
    $("terrain-toggle").checked = on;
    viewer.scene.requestRender();
  }

  /** Underground mode: a translucent globe, the camera free to go below the surface. */
  setUnderground(on) {
    const { Cesium, viewer } = this;
    const { globe, screenSpaceCameraController } = viewer.scene;
    this.underground = on;
    globe.translucency.enabled = on;
    this.setOpacity(Number($("underground-opacity").value) || UNDERGROUND_ALPHA);
    globe.undergroundColor = on ? Cesium.Color.fromCssColorString("#1b1f27") : Cesium.Color.BLACK;
    screenSpaceCameraController.enableCollisionDetection = !on;
    $("underground-toggle").checked = on;
    $("underground-opacity").disabled = !on;
    document.body.classList.toggle("underground", on);
    viewer.scene.requestRender();
  }

  setOpacity(alpha) {
    const { translucency } = this.viewer.scene.globe;
    translucency.frontFaceAlpha = alpha;
    translucency.backFaceAlpha = alpha;
    this.viewer.scene.requestRender();
  }
}
