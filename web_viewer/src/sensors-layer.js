// Sensors as point primitives (one PointPrimitiveCollection, thousands at once): colour by alarm level, else
// online/offline. No labels and no DOM per sensor; picking a point gives { sensor } as its id.
import { LEVEL_COLORS } from "./alarm-style.js";

const ONLINE = "#3ddc84";
const OFFLINE = "#6b7280";

export class SensorsLayer {
  constructor(Cesium, scene) {
    this.Cesium = Cesium;
    this.scene = scene;
    this.points = scene.primitives.add(new Cesium.PointPrimitiveCollection());
    this.byId = new Map(); // sensor id → PointPrimitive
    this.colors = Object.fromEntries(
      Object.entries({ ...LEVEL_COLORS, online: ONLINE, offline: OFFLINE })
        .map(([k, css]) => [k, Cesium.Color.fromCssColorString(css)]),
    );
    this.outline = Cesium.Color.fromCssColorString("#111");
  }

  /** Bring the points in line with the state: one per positioned sensor, coloured. */
  update(state) {
    const { Cesium } = this;
    const levels = state.sensorLevels();
    const seen = new Set();
    for (const sensor of state.sensors.values()) {
      if (!sensor.position) continue;
      seen.add(sensor.id);
      let point = this.byId.get(sensor.id);
      const [lon, lat, h] = sensor.position;
      const moved = !point || point.id.position !== sensor.position;
      const position = moved ? Cesium.Cartesian3.fromDegrees(lon, lat, h || 0) : null;
      if (!point) {
        point = this.points.add({
          position,
          pixelSize: 8,
          outlineColor: this.outline,
          outlineWidth: 1,
          disableDepthTestDistance: Number.POSITIVE_INFINITY, // sensors inside buildings stay visible
          id: { sensor: sensor.id, object: sensor.object_id, position: sensor.position },
        });
        this.byId.set(sensor.id, point);
      } else if (moved) {
        point.position = position;
        point.id.position = sensor.position;
      }
      const level = levels.get(sensor.id);
      point.color = this.colors[level || (state.online.get(sensor.id) ? "online" : "offline")];
      point.pixelSize = level ? 11 : 8;
    }
    for (const [id, point] of this.byId) {
      if (!seen.has(id)) {
        this.points.remove(point);
        this.byId.delete(id);
      }
    }
  }

  /** The colour name a sensor's point has now (for tests), or null. */
  colorOf(sensorId) {
    const point = this.byId.get(sensorId);
    if (!point) return null;
    return Object.keys(this.colors).find((k) => this.Cesium.Color.equals(this.colors[k], point.color)) || null;
  }
}
