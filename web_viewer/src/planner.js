// The planner tools panel: framing, storey view, style and filter by attribute, search, sections, measuring,
// links and pictures. Ties the modules together; `window.citytwin.planner` is this object.
import { LayerLook, pickSolid } from "./layer-look.js";
import { Clipping } from "./clipping.js";
import { StoreyView } from "./storey-view.js";
import { setUpSpaceHover } from "./space-hover.js";
import { attributeStyle, styleableProperties } from "./attribute-style.js";
import { layerFilter } from "./layer-filter.js";
import { renderClassLegend } from "./legend.js";
import { Search } from "./search.js";
import { PointPicker } from "./point-picker.js";
import { Sections } from "./sections.js";
import { Measure } from "./measure.js";
import { findFeature } from "./loaded-features.js";
import { frameSphere, sphereInView, sphereOfFootprint } from "./framing.js";
import { cameraState, decodeView, encodeView, pictureDataUrl, savePicture, setCamera } from "./share.js";

const $ = (id) => document.getElementById(id);

export class Planner {
  /**
   * `layers()` → the viewer's layers; `setStyle` the viewer's style setter; `select(feature)` its highlight;
   * `inspect(id)` opens the inspector; `inspector` the inspector panel.
   */
  constructor(Cesium, viewer, config, { layers, setStyle, select, inspect, inspector, showError }) {
    Object.assign(this, { Cesium, viewer, config, layers, select, inspect, showError });
    this.look = new LayerLook(Cesium, viewer, setStyle);
    this.clipping = new Clipping(Cesium, viewer);
    this.storeyView = new StoreyView(Cesium, viewer, config, { look: this.look, clipping: this.clipping, layers, showError });
    this.picker = new PointPicker(Cesium, viewer);
    this.sections = new Sections(Cesium, viewer, {
      clipping: this.clipping, picker: this.picker, listEl: $("section-list"), showError,
      tilesets: () => this.layers().filter((l) => l.tileset).map((l) => l.tileset),
    });
    this.measure = new Measure(Cesium, viewer, { picker: this.picker, resultEl: $("measure-result") });
    this.search = new Search(config, { listEl: $("planner-search-results"), messageEl: $("planner-search-message"),
      onChoose: (feature) => this.goTo(feature) });
    this.hover = setUpSpaceHover(Cesium, viewer);
    this.styled = null; // { layer, property: {name, source}, style }
    this.filtered = null; // { layer, text, filter }
    this.selected = null;
    this.properties = new Map(); // layer → Promise<[{name, source, type}]>
    // a shared link's view, kept until `restore()` (the hash is rewritten as the camera first moves)
    this.linked = window.location.hash.length > 1 ? window.location.hash : null;
    inspector.watch((id) => this.onInspect(id));
    this.wire();
  }

  // -- framing ---------------------------------------------------------------------------------------------

  layerOf(id) {
    return this.layers().find((l) => l.tileset && String(id).startsWith(`${l.info.dataset_id || l.info.id}.`)) || null;
  }

  /** Zoom to a layer: framed whole from above at an angle; an IFC building fades the other layers. */
  zoomToLayer(layer, duration = 1.5) {
    this.look.fadeAllBut(this.layers(), layer.info.kind === "ifc" ? layer : null);
    this.framing = frameSphere(this.Cesium, this.viewer, layer.tileset.boundingSphere, { duration });
    return this.framing;
  }

  /** Zoom to an object (a GeoJSON feature of the OGC API): its footprint between zmin and zmax, framed. */
  zoomToObject(feature, duration = 1.5) {
    const p = feature.properties || {};
    const sphere = sphereOfFootprint(this.Cesium, feature.geometry, p.zmin, p.zmax);
    this.framedSphere = sphere;
    this.framing = frameSphere(this.Cesium, this.viewer, sphere, { duration });
    return this.framing;
  }

  /** The storey filter's choice ({storey, elevation, mode} or null): the storey view on every IFC layer. */
  async chooseStorey(filter) {
    this.hover.label.hidden = true; // a label of the storey left would linger until the pointer moves
    await this.storeyView.choose(filter);
    this.writeHash();
  }

  onInspect(id) {
    this.selected = id;
    const layer = id ? this.layerOf(id) : null;
    if (!this.storeyView.current) this.look.fadeAllBut(this.layers(), layer && layer.info.kind === "ifc" ? layer : null);
    this.writeHash();
  }

  /** A search result chosen: fly to it, open the inspector, highlight it once its tile is in. */
  async goTo(feature) {
    this.going = (async () => {
      this.inspect(String(feature.id));
      if (feature.geometry) await this.zoomToObject(feature);
      await window.citytwin.settle();
      return this.highlight(String(feature.id));
    })();
    return this.going;
  }

  highlight(id) {
    for (const layer of this.layers()) {
      const found = layer.tileset && layer.tileset.show ? findFeature(layer.tileset, id) : null;
      if (found) {
        this.select(found);
        return true;
      }
    }
    return false;
  }

  // -- clicks ---------------------------------------------------------------------------------------------

  /** Clicks while drawing belong to the drawing; returns true when taken. */
  handleClick(position) {
    return this.picker.handleClick(position);
  }

  pick(position) {
    return pickSolid(this.Cesium, this.viewer.scene, position);
  }

  // -- style and filter -----------------------------------------------------------------------------------

  propertiesOf(layer) {
    if (!this.properties.has(layer)) this.properties.set(layer, styleableProperties(this.config, layer));
    return this.properties.get(layer);
  }

  chosenLayer() {
    const id = $("planner-layer").value;
    return this.layers().find((l) => l.info.id === id) || null;
  }

  /** Style `layer` by the property `name` (null: its own colours); resolves to the style's classes. */
  async styleBy(layer, name) {
    if (this.styled && this.styled.layer !== layer) this.look.setAttribute(this.styled.layer, null);
    if (!name) {
      this.styled = null;
      this.look.setAttribute(layer, null);
      renderClassLegend($("planner-legend"), "", null);
      this.writeHash();
      return null;
    }
    const property = (await this.propertiesOf(layer)).find((p) => p.name === name);
    if (!property) throw new Error(`"${layer.info.id}" has no property "${name}"`);
    const style = await attributeStyle(this.config, layer, property);
    this.styled = { layer, property, style };
    this.look.setAttribute(layer, style);
    renderClassLegend($("planner-legend"), `${name} (${property.source === "table" ? "tiles" : "server"})`, style.classes);
    this.writeHash();
    return style.classes;
  }

  /** Filter `layer` by an expression (empty: no filter); errors are shown under the field and thrown. */
  async filterBy(layer, text) {
    const message = $("planner-filter-message");
    if (this.filtered && this.filtered.layer !== layer) this.look.setFilter(this.filtered.layer, null);
    if (!text || !text.trim()) {
      this.filtered = null;
      this.look.setFilter(layer, null);
      message.hidden = true;
      this.writeHash();
      return null;
    }
    try {
      const filter = await layerFilter(this.Cesium, this.config, layer, text, await this.propertiesOf(layer));
      this.filtered = { layer, text, filter };
      this.look.setFilter(layer, filter);
      message.textContent = filter.source === "api" ? `${filter.count} objects match (on the server)` : "filtered in the tiles";
      message.classList.remove("error");
      message.hidden = false;
      this.writeHash();
      return filter;
    } catch (error) {
      message.textContent = error.message || String(error);
      message.classList.add("error");
      message.hidden = false;
      throw error;
    }
  }

  /** The CSS colour and id of the feature under a canvas pixel (tests and the legend check). */
  colorAt(x, y) {
    const picked = this.pick(new this.Cesium.Cartesian2(x, y));
    if (!(picked instanceof this.Cesium.Cesium3DTileFeature)) return null;
    return { id: String(picked.getProperty("id")), color: picked.color.toCssHexString(), alpha: picked.color.alpha };
  }

  /** Whether a layer's or object's bounding sphere lies inside the canvas. */
  inView(sphere) {
    return sphereInView(this.Cesium, this.viewer, sphere);
  }

  // -- links and pictures ---------------------------------------------------------------------------------

  viewState() {
    const storey = this.storeyView.current;
    return {
      camera: cameraState(this.Cesium, this.viewer.camera),
      hidden: this.layers().filter((l) => l.tileset && !l.tileset.show).map((l) => l.info.id),
      layer: (this.styled || this.filtered) ? (this.styled || this.filtered).layer.info.id : null,
      style: this.styled ? this.styled.property.name : null,
      filter: this.filtered ? this.filtered.text : null,
      storey: storey ? { storey: storey.storey, mode: storey.mode } : null,
      selected: this.selected,
    };
  }

  link() {
    const url = new URL(window.location.href);
    url.hash = encodeView(this.viewState());
    return url.href;
  }

  writeHash() {
    if (this.restoring || this.linked) return;
    window.history.replaceState(null, "", `#${encodeView(this.viewState())}`);
  }

  /** Reopen the view a link's hash describes (after the layers are loaded); by default the page's own link. */
  async restore(hash = this.linked) {
    this.linked = null;
    if (!hash) return null;
    const state = decodeView(hash);
    if (state.problems.length) this.showError(`Link: ${state.problems.join("; ")}`);
    this.restoring = true;
    try {
      for (const id of state.hidden || []) {
        const layer = this.layers().find((l) => l.info.id === id && l.tileset);
        if (layer) {
          layer.tileset.show = false;
          const box = document.querySelector(`#layer-list li[data-tileset-id="${CSS.escape(id)}"] input[type=checkbox]`);
          if (box) box.checked = false;
        }
      }
      const layer = state.layer ? this.layers().find((l) => l.info.id === state.layer && l.tileset) : null;
      if (layer) $("planner-layer").value = layer.info.id;
      if (state.storey) {
        const storeys = window.citytwin.storeys || [];
        const known = storeys.find((s) => s.name === state.storey.storey);
        await this.storeyView.choose({ ...state.storey, elevation: known ? known.elevation : 0 }, { fly: false });
        const select = $("storey-select");
        const value = [...select.options].find((o) => o.value && JSON.parse(o.value).storey === state.storey.storey
          && JSON.parse(o.value).mode === state.storey.mode);
        if (value) select.value = value.value;
      }
      if (layer && state.style) {
        await this.propertiesOf(layer);
        await this.styleBy(layer, state.style).catch((e) => this.showError(`Link style: ${e.message || e}`));
        await this.refreshProperties(state.style);
      }
      if (layer && state.filter) {
        $("planner-filter").value = state.filter;
        await this.filterBy(layer, state.filter).catch(() => {});
      }
      if (state.camera) setCamera(this.Cesium, this.viewer.camera, state.camera);
      if (state.selected) {
        this.inspect(state.selected);
        await window.citytwin.settle();
        this.highlight(state.selected);
      }
    } finally {
      this.restoring = false;
    }
    this.viewer.scene.requestRender();
    this.writeHash();
    return state;
  }

  picture() {
    return pictureDataUrl(this.viewer);
  }

  // -- the panel --------------------------------------------------------------------------------------------

  async refreshProperties(chosen = null) {
    const select = $("planner-property");
    const layer = this.chosenLayer();
    select.replaceChildren(new Option("own colours (默认)", ""));
    if (!layer) return;
    for (const p of await this.propertiesOf(layer)) {
      select.append(new Option(`${p.name}${p.source === "api" ? " (server)" : ""}`, p.name));
    }
    select.value = chosen || (this.styled && this.styled.layer === layer ? this.styled.property.name : "");
  }

  wire() {
    const panel = $("planner");
    panel.hidden = false;
    $("planner-toggle").addEventListener("click", () => this.open(panel.dataset.state !== "open"));
    const layers = $("planner-layer");
    const styleable = this.layers().filter((l) => l.tileset && !["pointcloud", "oblique"].includes(l.info.kind));
    layers.replaceChildren(...styleable.map((l) => new Option(l.info.name || l.info.id, l.info.id)));
    const footprints = styleable.find((l) => l.info.kind === "footprints");
    if (footprints) layers.value = footprints.info.id;
    layers.addEventListener("change", () => this.refreshProperties());
    $("planner-property").addEventListener("change", () => {
      const layer = this.chosenLayer();
      if (layer) this.styleBy(layer, $("planner-property").value).catch((e) => this.showError(`Style: ${e.message || e}`));
    });
    const applyFilter = () => {
      const layer = this.chosenLayer();
      if (layer) this.filterBy(layer, $("planner-filter").value).catch(() => {});
    };
    $("planner-filter-apply").addEventListener("click", applyFilter);
    $("planner-filter").addEventListener("keydown", (e) => { if (e.key === "Enter") applyFilter(); });
    $("planner-filter-clear").addEventListener("click", () => {
      $("planner-filter").value = "";
      applyFilter();
    });
    $("planner-search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search.run($("planner-search").value);
    });
    $("section-horizontal").addEventListener("click", () => {
      try {
        this.sections.horizontal(Number($("section-height").value));
      } catch (error) {
        this.showError(error.message || String(error));
      }
    });
    $("section-vertical").addEventListener("click", () => this.sections.draw("vertical"));
    $("section-polygon").addEventListener("click", () => this.sections.draw("polygon"));
    $("draw-finish").addEventListener("click", () => this.picker.finish());
    for (const kind of ["distance", "height", "area"]) $(`measure-${kind}`).addEventListener("click", () => this.measure.start(kind));
    $("measure-clear").addEventListener("click", () => this.measure.clear());
    $("share-link").addEventListener("click", async () => {
      const link = this.link();
      $("share-url").value = link;
      $("share-url").hidden = false;
      try {
        await navigator.clipboard.writeText(link);
      } catch {
        $("share-url").select(); // no clipboard (insecure page): the link is selected for copying
      }
    });
    $("share-picture").addEventListener("click", () => savePicture(this.viewer));
    this.viewer.camera.moveEnd.addEventListener(() => this.writeHash());
  }

  open(open = true) {
    const panel = $("planner");
    panel.dataset.state = open ? "open" : "closed";
    $("planner-body").hidden = !open;
    $("planner-toggle").textContent = open ? "▾" : "▸";
    if (open) this.refreshProperties();
  }
}
