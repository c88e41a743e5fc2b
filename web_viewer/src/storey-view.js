// The storey view of IFC layers: the chosen storey seen from above, everything above its top cut away by a
// clipping plane, its spaces coloured, the rest of the building ghosted and other layers faded.
import { allItems } from "./ogc-client.js";
import { horizontalCut } from "./clipping.js";
import { frameSphere, PLAN_PITCH } from "./framing.js";

/**
 * Height of a storey's top: the bottom of the next storey up (its floor slab), or the storey's own top when
 * none is above. `storeys`: [{name, zmin, zmax}].
 */
export function storeyTop(storeys, name) {
  const storey = storeys.find((s) => s.name === name);
  if (!storey) return null;
  const above = storeys.filter((s) => s.zmin > storey.zmin + 0.5).map((s) => s.zmin);
  return above.length ? Math.min(...above) : storey.zmax;
}

export class StoreyView {
  constructor(Cesium, viewer, config, { look, clipping, layers, showError }) {
    Object.assign(this, { Cesium, viewer, config, look, clipping, layers, showError });
    this.storeys = new Map(); // dataset → Promise<[{name, zmin, zmax}]>
    this.current = null; // { storey, elevation, mode, top }
  }

  storeysOf(layer) {
    const dataset = layer.info.dataset_id || layer.info.id;
    if (!this.storeys.has(dataset)) {
      this.storeys.set(dataset, allItems(this.config, dataset, { filter: "kind = 'IfcBuildingStorey'" }).then((features) =>
        features.map((f) => ({ name: f.properties.name, zmin: f.properties.zmin, zmax: f.properties.zmax }))));
    }
    return this.storeys.get(dataset);
  }

  /** Show `filter` ({storey, elevation, mode}) or everything (null) on every IFC layer. */
  async choose(filter, { fly = true } = {}) {
    const { Cesium } = this;
    const ifc = this.layers().filter((l) => l.tileset && l.info.kind === "ifc");
    this.current = filter ? { ...filter, top: null } : null;
    for (const layer of ifc) {
      this.look.setStorey(layer, filter);
      layer.tileset.backFaceCulling = !filter; // a cut-open room shows its inside faces
    }
    if (!filter) {
      for (const layer of ifc) this.clipping.clear(`storey:${layer.info.id}`);
      this.look.fadeAllBut(this.layers(), null);
      return;
    }
    const withStorey = [];
    for (const layer of ifc) {
      let storeys = [];
      try {
        storeys = await this.storeysOf(layer);
      } catch (error) {
        this.showError(`Storeys of "${layer.info.name || layer.info.id}": ${error.message || error}`);
      }
      const top = storeyTop(storeys, filter.storey);
      if (top === null) continue;
      withStorey.push(layer);
      const where = Cesium.Cartographic.fromCartesian(layer.tileset.boundingSphere.center);
      this.clipping.set(`storey:${layer.info.id}`, [layer.tileset],
        { planes: [horizontalCut(Cesium, where.longitude, where.latitude, top)] });
      if (this.current) this.current.top = top;
    }
    if (this.current !== null && this.current.storey !== filter.storey) return; // chosen again meanwhile
    if (withStorey.length) this.look.fadeAllBut(this.layers(), withStorey[0]);
    if (fly && withStorey.length) {
      await frameSphere(Cesium, this.viewer, withStorey[0].tileset.boundingSphere, { pitch: PLAN_PITCH });
    }
  }
}
