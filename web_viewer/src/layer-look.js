// A layer's look composed from its parts: its own colours (height classes, IFC classes), an attribute style,
// a filter, a storey view (that storey solid, its spaces coloured, the rest ghosted) and fading when another
// layer's building is inspected. One Cesium3DTileStyle per layer, handed to `setStyle` (alarm colours go over it).
import { createBuildingStyle } from "./building-style.js";
import { createIfcStyle } from "./ifc-style.js";
import { CATEGORY_COLORS } from "./color-ramps.js";

export const FADED_ALPHA = 0.22; // other layers while a building is inspected
export const GHOST_ALPHA = 0.14; // the building's other storeys in a storey view
export const SPACE_ALPHA = 0.6; // the storey's spaces
export const PICKABLE_ALPHA = 0.3; // features fainter than this are context: picking goes through them

/** A stable colour per space name. */
export function spaceColor(name) {
  let hash = 0;
  for (const c of String(name)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return CATEGORY_COLORS[hash % CATEGORY_COLORS.length];
}

export class LayerLook {
  /** `setStyle(tileset, kind, base, reveal)` is the viewer's own (it wraps alarm colours around `base`). */
  constructor(Cesium, viewer, setStyle) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.setStyle = setStyle;
    this.parts = new Map(); // layer → { attribute, filter, storey, faded }
    this.colors = new Map(); // CSS → Cesium.Color, shared
  }

  part(layer) {
    if (!this.parts.has(layer)) this.parts.set(layer, { attribute: null, filter: null, storey: null, faded: false });
    return this.parts.get(layer);
  }

  /** `attribute`: null or { colorOf(feature) → CSS colour }. */
  setAttribute(layer, attribute) { this.part(layer).attribute = attribute; this.apply(layer); }

  /** `filter`: null or { show(feature) → boolean }. */
  setFilter(layer, filter) { this.part(layer).filter = filter; this.apply(layer); }

  /** `storey`: null or { storey, elevation, mode: "only" | "upto" } (IFC layers). */
  setStorey(layer, storey) { this.part(layer).storey = storey; this.apply(layer); }

  /** Fade every layer but `keep` (null: fade none). */
  fadeAllBut(layers, keep) {
    for (const layer of layers) {
      if (!layer.tileset) continue;
      const faded = keep !== null && layer !== keep;
      if (this.part(layer).faded !== faded) {
        this.part(layer).faded = faded;
        this.apply(layer);
      }
    }
  }

  isFaded(layer) { return Boolean(this.parts.get(layer)?.faded); }

  color(css) {
    if (!this.colors.has(css)) this.colors.set(css, this.Cesium.Color.fromCssColorString(css));
    return this.colors.get(css);
  }

  /** Build and set the layer's style from its parts. */
  apply(layer) {
    const { Cesium } = this;
    const { tileset, info } = layer;
    if (!tileset) return;
    const { attribute, filter, storey, faded } = this.part(layer);
    const kind = info.kind;
    const own = kind === "ifc" ? createIfcStyle(Cesium) : kind === "footprints" ? createBuildingStyle(Cesium) : null;
    const reveal = kind === "ifc" ? createIfcStyle(Cesium, { filter: storey, showSpaces: true }) : undefined;
    if (!attribute && !filter && !storey && !faded) { // the layer's own look
      this.setStyle(tileset, kind, own || undefined, reveal);
      this.viewer.scene.requestRender();
      return;
    }
    const ownShow = own && own.show ? own.show : null;
    const inStorey = (feature) => {
      if (!storey) return true;
      if (storey.mode === "only") return feature.getProperty("storey") === storey.storey;
      return Number(feature.getProperty("storey_elevation")) <= Number(storey.elevation) + 0.001;
    };
    const isSpace = (feature) => kind === "ifc" && feature.getProperty("class") === "IfcSpace";
    const style = new Cesium.Cesium3DTileStyle();
    style.show = {
      evaluate: (feature) => {
        if (filter && !filter.show(feature)) return false;
        if (storey && isSpace(feature)) return feature.getProperty("storey") === storey.storey;
        return ownShow ? Boolean(ownShow.evaluate(feature)) : true;
      },
    };
    const white = Cesium.Color.WHITE;
    style.color = {
      evaluateColor: (feature, result) => {
        let color;
        if (storey && isSpace(feature)) {
          color = Cesium.Color.clone(this.color(spaceColor(feature.getProperty("name"))), result);
          color.alpha = SPACE_ALPHA;
        } else {
          const css = attribute ? attribute.colorOf(feature) : null;
          if (css) color = Cesium.Color.clone(this.color(css), result);
          else if (own && own.color) color = own.color.evaluateColor(feature, result);
          else color = Cesium.Color.clone(white, result);
          if (storey && !inStorey(feature)) color.alpha = Math.min(color.alpha, GHOST_ALPHA);
        }
        if (faded) color.alpha *= FADED_ALPHA;
        return color;
      },
    };
    this.setStyle(tileset, kind, style, reveal);
    this.viewer.scene.requestRender();
  }
}

/**
 * The feature under a window position that is not faded context: `scene.pick`, and when that hits a feature
 * fainter than PICKABLE_ALPHA, the first solid one behind it (`drillPick`). Non-feature picks pass through.
 */
export function pickSolid(Cesium, scene, position) {
  const solid = (p) => !(p instanceof Cesium.Cesium3DTileFeature) || p.color.alpha >= PICKABLE_ALPHA;
  const first = scene.pick(position);
  if (!first || solid(first)) return first;
  return scene.drillPick(position, 8).find((p) => p instanceof Cesium.Cesium3DTileFeature && solid(p));
}
