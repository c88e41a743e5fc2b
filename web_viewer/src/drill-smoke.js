// Smoke per space of a fire drill's frames: each space's hot layer drawn as a grey volume from the layer's
// interface (floor + layer_m) up to the ceiling, darker as visibility falls, outlined red once untenable. A space's
// footprint and heights are read once from its twin object.
import { fetchJson, objectUrl } from "./config.js";

const CLEAR_VISIBILITY_M = 30; // visibility at which smoke is drawn faintest

export class SmokeLayer {
  constructor(Cesium, viewer, config) {
    this.Cesium = Cesium;
    this.config = config;
    this.source = new Cesium.CustomDataSource("drill-smoke");
    viewer.dataSources.add(this.source);
    this.objects = new Map(); // space id → its object, null when it cannot be read, undefined while fetched
    this.shown = new Map(); // space id → { entity, key }
  }

  /** Draw `smoke` (frame.smoke); spaces still being looked up appear with a later frame. */
  draw(smoke) {
    const seen = new Set();
    for (const entry of smoke) {
      const space = this.lookup(entry.space);
      if (!space || !space.geometry) continue;
      seen.add(entry.space);
      this.show(entry, space);
    }
    for (const [id, shown] of this.shown) if (!seen.has(id)) shown.entity.show = false;
  }

  lookup(id) {
    if (!this.objects.has(id)) {
      this.objects.set(id, undefined);
      fetchJson(objectUrl(this.config, id)).then((o) => this.objects.set(id, o), () => this.objects.set(id, null));
    }
    return this.objects.get(id);
  }

  show(entry, space) {
    const { Cesium } = this;
    const floor = space.zmin ?? 0;
    const ceiling = space.zmax ?? floor + 3;
    const base = Math.min(ceiling - 0.05, floor + Math.max(0, entry.layer_m ?? 0));
    const visibility = Math.max(0, Math.min(CLEAR_VISIBILITY_M, entry.visibility_m ?? CLEAR_VISIBILITY_M));
    const alpha = Math.round((0.15 + 0.6 * (1 - visibility / CLEAR_VISIBILITY_M)) * 20) / 20;
    const key = `${base.toFixed(2)}:${alpha}:${Boolean(entry.untenable)}`;
    let shown = this.shown.get(entry.space);
    if (shown && shown.key === key) {
      shown.entity.show = true;
      return; // unchanged: no geometry rebuilt
    }
    const geometry = space.geometry;
    const ring = geometry.type === "MultiPolygon" ? geometry.coordinates[0][0] : geometry.coordinates[0];
    const polygon = {
      hierarchy: Cesium.Cartesian3.fromDegreesArray(ring.flatMap(([lon, lat]) => [lon, lat])),
      height: base,
      extrudedHeight: ceiling,
      material: Cesium.Color.fromBytes(70, 70, 70).withAlpha(alpha),
      outline: true,
      outlineColor: entry.untenable ? Cesium.Color.fromCssColorString("#e5322d") : Cesium.Color.DIMGRAY,
    };
    if (!shown) {
      shown = { entity: this.source.entities.add({ id: `smoke-${entry.space}`, name: "smoke", polygon }), key };
      this.shown.set(entry.space, shown);
    } else {
      shown.entity.polygon = polygon;
      shown.entity.show = true;
      shown.key = key;
    }
  }

  clear() {
    this.source.entities.removeAll();
    this.shown.clear();
  }

  /** Test hook: the spaces whose smoke is shown. */
  spaces() {
    return [...this.shown].filter(([, s]) => s.entity.show).map(([id]) => id);
  }
}
