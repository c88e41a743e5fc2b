// Section tools: a horizontal section at a height, a vertical section along a drawn line, a clipping polygon
// (ClippingPolygonCollection, WebGL2); each listed with a button that removes it.
import { horizontalCut, verticalCut } from "./clipping.js";

export class Sections {
  constructor(Cesium, viewer, { clipping, picker, tilesets, listEl, showError }) {
    Object.assign(this, { Cesium, viewer, clipping, picker, tilesets, listEl, showError });
    this.sections = []; // { id, kind, label }
    this.next = 1;
  }

  /** Cut everything above `height` metres (above the ellipsoid) away, at the view's centre. */
  horizontal(height) {
    const { Cesium, viewer } = this;
    if (!Number.isFinite(height)) throw new Error("the section height must be a number of metres");
    const centre = viewer.camera.pickEllipsoid(new Cesium.Cartesian2(viewer.canvas.clientWidth / 2,
      viewer.canvas.clientHeight / 2)) || viewer.camera.positionWC;
    const where = Cesium.Cartographic.fromCartesian(centre);
    return this.add("horizontal", `above ${Math.round(height * 10) / 10} m`,
      { planes: [horizontalCut(Cesium, where.longitude, where.latitude, height)] });
  }

  /** A vertical section through two world points, removing the side towards the camera. */
  vertical(a, b) {
    const { Cesium, viewer } = this;
    if (Cesium.Cartesian3.distance(a, b) < 0.01) throw new Error("the section line needs two different points");
    return this.add("vertical", `along a line of ${Math.round(Cesium.Cartesian3.distance(a, b))} m`,
      { planes: [verticalCut(Cesium, a, b, viewer.camera.positionWC)] });
  }

  /** Clip what stands inside a polygon of world points. */
  polygon(points) {
    if (points.length < 3) throw new Error("a clipping polygon needs at least three points");
    if (!this.Cesium.ClippingPolygonCollection.isSupported(this.viewer.scene)) {
      throw new Error("clipping polygons need WebGL 2, which this browser does not offer");
    }
    return this.add("polygon", `polygon of ${points.length} points`, { polygons: [points] });
  }

  /** Draw with the picker, then add the section: "vertical" (2 points) or "polygon" (until finished). */
  draw(kind, onDone = () => {}) {
    const done = (points) => {
      try {
        const id = kind === "vertical" ? this.vertical(points[0], points[1]) : this.polygon(points);
        onDone(id);
      } catch (error) {
        if (points.length) this.showError(error.message || String(error));
      }
    };
    this.picker.start({ max: kind === "vertical" ? 2 : Infinity, closed: kind === "polygon", onDone: done });
  }

  add(kind, label, clip) {
    const id = `section:${this.next++}`;
    this.clipping.set(id, this.tilesets(), clip);
    this.sections.push({ id, kind, label });
    this.render();
    return id;
  }

  remove(id) {
    this.clipping.clear(id);
    this.sections = this.sections.filter((s) => s.id !== id);
    this.render();
  }

  render() {
    this.listEl.replaceChildren(...this.sections.map((s) => {
      const li = document.createElement("li");
      li.dataset.section = s.id;
      li.dataset.kind = s.kind;
      li.textContent = `${s.kind} ${s.label} `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "section-remove";
      remove.textContent = "×";
      remove.title = "Remove the section";
      remove.addEventListener("click", () => this.remove(s.id));
      li.append(remove);
      return li;
    }));
  }
}
