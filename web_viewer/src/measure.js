// Measurements on the models or the ground: distance along clicked points, height difference between two, and
// the area of a clicked polygon (on the horizontal plane at its first point).

/** Length along world points (metres). */
export function pathLength(Cesium, points) {
  let total = 0;
  for (let i = 1; i < points.length; i++) total += Cesium.Cartesian3.distance(points[i - 1], points[i]);
  return total;
}

/** Height of `b` above `a` (metres, ellipsoidal heights). */
export function heightDifference(Cesium, a, b) {
  return Cesium.Cartographic.fromCartesian(b).height - Cesium.Cartographic.fromCartesian(a).height;
}

/** Plan area (m²) of a polygon of world points, projected on the tangent plane at its first point. */
export function planArea(Cesium, points) {
  if (points.length < 3) return 0;
  const toEnu = Cesium.Matrix4.inverseTransformation(Cesium.Transforms.eastNorthUpToFixedFrame(points[0]), new Cesium.Matrix4());
  const local = points.map((p) => Cesium.Matrix4.multiplyByPoint(toEnu, p, new Cesium.Cartesian3()));
  let twice = 0;
  for (let i = 0; i < local.length; i++) {
    const a = local[i];
    const b = local[(i + 1) % local.length];
    twice += a.x * b.y - b.x * a.y;
  }
  return Math.abs(twice) / 2;
}

const metres = (v) => `${(Math.round(v * 100) / 100).toLocaleString("en")} m`;

export class Measure {
  constructor(Cesium, viewer, { picker, resultEl }) {
    Object.assign(this, { Cesium, viewer, picker, resultEl });
    this.drawn = [];
    this.last = null; // { kind, value, text }
  }

  /** Start measuring `kind`: "distance" (until finished), "height" (2 points) or "area" (until finished). */
  start(kind) {
    this.clear();
    const max = kind === "height" ? 2 : Infinity;
    this.say(kind === "height" ? "Click two points (点击两点)" : "Click points, then Finish (点击后完成)");
    this.picker.start({ max, closed: kind === "area", color: "#7bd88f", onDone: (points) => this.done(kind, points) });
  }

  done(kind, points) {
    const { Cesium } = this;
    let value = null;
    let text = "";
    if (kind === "distance" && points.length >= 2) {
      value = pathLength(Cesium, points);
      text = `Distance ${metres(value)}`;
    } else if (kind === "height" && points.length === 2) {
      value = heightDifference(Cesium, points[0], points[1]);
      text = `Height difference ${metres(value)} (straight ${metres(Cesium.Cartesian3.distance(points[0], points[1]))})`;
    } else if (kind === "area" && points.length >= 3) {
      value = planArea(Cesium, points);
      text = `Area ${(Math.round(value * 10) / 10).toLocaleString("en")} m²`;
    } else {
      this.say("Not enough points (点数不足)");
      return;
    }
    this.last = { kind, value, text };
    this.say(text);
    this.show(kind, points, text);
  }

  show(kind, points, text) {
    const { Cesium, viewer } = this;
    const color = Cesium.Color.fromCssColorString("#7bd88f");
    const positions = kind === "area" ? [...points, points[0]] : points;
    this.drawn.push(viewer.entities.add({ polyline: { positions, width: 2, material: color, depthFailMaterial: color } }));
    this.drawn.push(viewer.entities.add({
      position: points.at(-1),
      label: { text, font: "13px sans-serif", fillColor: Cesium.Color.WHITE, showBackground: true,
        pixelOffset: new Cesium.Cartesian2(0, -18), disableDepthTestDistance: Infinity },
    }));
    viewer.scene.requestRender();
  }

  clear() {
    this.picker.cancel();
    for (const e of this.drawn) this.viewer.entities.remove(e);
    this.drawn = [];
    this.last = null;
    this.say("");
    this.viewer.scene.requestRender();
  }

  say(text) {
    this.resultEl.textContent = text;
  }
}
