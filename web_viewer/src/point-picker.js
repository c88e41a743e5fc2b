// Clicked points for drawing tools (sections, measurements): world positions on the models (depth picking) or on
// the ground, shown as dots joined by a line while drawing.

/** The world position under a window position: on a model where one is drawn, else on the ellipsoid. */
export function worldPosition(Cesium, scene, position) {
  if (scene.pickPositionSupported) {
    const picked = scene.pick(position);
    if (picked) {
      const p = scene.pickPosition(position);
      if (p && Number.isFinite(p.x)) return p;
    }
  }
  return scene.camera.pickEllipsoid(position, scene.globe ? scene.globe.ellipsoid : Cesium.Ellipsoid.WGS84) || null;
}

export class PointPicker {
  constructor(Cesium, viewer) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.active = null; // { points, max, onChange, onDone, entities }
  }

  get drawing() { return this.active !== null; }

  /** Collect points until `max` (or `finish()`); `onDone(points)` gets them, `onChange(points)` each one. */
  start({ max = Infinity, closed = false, color = "#f5c542", onChange = () => {}, onDone = () => {} }) {
    this.cancel();
    const { Cesium, viewer } = this;
    const points = [];
    const cssColor = Cesium.Color.fromCssColorString(color);
    const line = viewer.entities.add({
      polyline: {
        positions: new Cesium.CallbackProperty(() => (closed && points.length > 2 ? [...points, points[0]] : points), false),
        width: 2, material: cssColor, depthFailMaterial: cssColor,
      },
    });
    this.active = { points, max, onChange, onDone, entities: [line] };
    viewer.canvas.style.cursor = "crosshair";
  }

  /** A click while drawing: adds a point and returns true (the viewer's own click handling then stays out). */
  handleClick(position) {
    if (!this.active) return false;
    const { Cesium, viewer } = this;
    const p = worldPosition(Cesium, viewer.scene, position);
    if (!p) return true;
    this.addPoint(p);
    return true;
  }

  addPoint(p) {
    const { Cesium, viewer } = this;
    const a = this.active;
    a.points.push(p);
    a.entities.push(viewer.entities.add({
      position: p, point: { pixelSize: 7, color: Cesium.Color.fromCssColorString("#f5c542"), disableDepthTestDistance: Infinity },
    }));
    a.onChange(a.points);
    viewer.scene.requestRender();
    if (a.points.length >= a.max) this.finish();
  }

  /** End the drawing and hand its points on; the drawn marks go. */
  finish() {
    const a = this.active;
    if (!a) return;
    this.active = null;
    this.clearMarks(a);
    a.onDone(a.points);
  }

  cancel() {
    const a = this.active;
    this.active = null;
    if (a) this.clearMarks(a);
  }

  clearMarks(a) {
    for (const e of a.entities) this.viewer.entities.remove(e);
    this.viewer.canvas.style.cursor = "";
    this.viewer.scene.requestRender();
  }
}
