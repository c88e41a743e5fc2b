// Drawing a drill frame (docs/drills.md, Frames): people as point primitives (thousands at once, coloured by status
// and FED), vehicles as bigger points, hazard zones as translucent polygons coloured by hazard, smoke per space.
import { SmokeLayer } from "./drill-smoke.js";

const WAITING = 0;
const OUT = 2;
const ZONE_COLOURS = { gas: "#e69f00", water: "#0072b2", smoke: "#5a5a5a" };

/** A person's colour: waiting blue; moving green, through yellow to red as their FED nears 1 (incapacitation). */
export function personColour(Cesium, status, fed, result) {
  if (status === WAITING) return Cesium.Color.fromBytes(86, 180, 233, 255, result);
  const dose = Math.max(0, Math.min(1, fed || 0));
  const green = { r: 0, g: 200, b: 115 };
  const yellow = { r: 240, g: 228, b: 66 };
  const red = { r: 229, g: 50, b: 45 };
  const [a, b, f] = dose < 0.3 ? [green, yellow, dose / 0.3] : [yellow, red, (dose - 0.3) / 0.7];
  return Cesium.Color.fromBytes(
    Math.round(a.r + (b.r - a.r) * f), Math.round(a.g + (b.g - a.g) * f), Math.round(a.b + (b.b - a.b) * f), 255,
    result);
}

/** Outer rings of a GeoJSON Polygon or MultiPolygon, as [[lon, lat], ...] lists. */
function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates[0]];
  if (geometry.type === "MultiPolygon") return geometry.coordinates.map((polygon) => polygon[0]);
  return [];
}

export class DrillView {
  constructor(Cesium, viewer, config) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.people = viewer.scene.primitives.add(new Cesium.PointPrimitiveCollection());
    this.vehicles = viewer.scene.primitives.add(new Cesium.PointPrimitiveCollection());
    this.vehicleByUnit = new Map();
    this.zones = new Cesium.CustomDataSource("drill-zones");
    viewer.dataSources.add(this.zones);
    this.zonesShown = "";
    this.smoke = new SmokeLayer(Cesium, viewer, config);
    this.shown = 0; // people points shown (not out)
    this.scratch = new Cesium.Cartesian3();
    this.colour = new Cesium.Color();
  }

  /** Draw one frame. */
  draw(frame) {
    this.drawPeople(frame.people || { positions: [], status: [] });
    this.drawVehicles(frame.vehicles || []);
    this.drawZones(frame.zones || []);
    this.smoke.draw(frame.smoke || []);
    this.viewer.scene.requestRender();
  }

  drawPeople({ positions, status, fed }) {
    const { Cesium, people } = this;
    const count = status.length;
    while (people.length < count) {
      people.add({ pixelSize: 6, outlineColor: Cesium.Color.BLACK, outlineWidth: 1,
        disableDepthTestDistance: Number.POSITIVE_INFINITY }); // seen through walls and floors
    }
    let shown = 0;
    for (let i = 0; i < people.length; i++) {
      const point = people.get(i);
      if (i >= count || status[i] === OUT) {
        point.show = false;
        continue;
      }
      point.show = true;
      shown++;
      point.position = Cesium.Cartesian3.fromDegrees(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2],
        undefined, this.scratch);
      point.color = personColour(Cesium, status[i], fed ? fed[i] : 0, this.colour); // copied by the setter
    }
    this.shown = shown;
  }

  drawVehicles(vehicles) {
    const { Cesium } = this;
    const seen = new Set();
    for (const vehicle of vehicles) {
      if (!vehicle.position) continue;
      seen.add(vehicle.unit);
      let point = this.vehicleByUnit.get(vehicle.unit);
      if (!point) {
        point = this.vehicles.add({ pixelSize: 14, color: Cesium.Color.fromCssColorString("#d55e00"),
          outlineColor: Cesium.Color.WHITE, outlineWidth: 2, disableDepthTestDistance: Number.POSITIVE_INFINITY,
          id: { vehicle: vehicle.unit } });
        this.vehicleByUnit.set(vehicle.unit, point);
      }
      const [lon, lat, h] = vehicle.position;
      point.position = Cesium.Cartesian3.fromDegrees(lon, lat, (h || 0) + 1.5);
      point.show = true;
    }
    for (const [unit, point] of this.vehicleByUnit) if (!seen.has(unit)) point.show = false;
  }

  drawZones(zones) {
    const key = JSON.stringify(zones.map((z) => [z.hazard, z.level, z.polygon]));
    if (key === this.zonesShown) return; // zones change far less often than people move
    this.zonesShown = key;
    const { Cesium } = this;
    const entities = this.zones.entities;
    entities.suspendEvents();
    entities.removeAll();
    for (const zone of zones) {
      const colour = Cesium.Color.fromCssColorString(ZONE_COLOURS[zone.hazard] || "#cc79a7");
      for (const ring of rings(zone.polygon)) {
        entities.add({
          name: `${zone.hazard} ${zone.level}`,
          polygon: {
            hierarchy: Cesium.Cartesian3.fromDegreesArray(ring.flatMap(([lon, lat]) => [lon, lat])),
            material: colour.withAlpha(0.3),
            outline: true,
            outlineColor: colour,
            height: ring[0].length > 2 ? ring[0][2] : 0.2, // the zone's own height when it has one
          },
        });
      }
    }
    entities.resumeEvents();
  }

  /** Nothing drawn (another run picked, or a CZML replay takes over). */
  clear() {
    this.people.removeAll();
    this.vehicles.removeAll();
    this.vehicleByUnit.clear();
    this.zones.entities.removeAll();
    this.smoke.clear();
    this.zonesShown = "";
    this.shown = 0;
    this.viewer.scene.requestRender();
  }

  /** Fly to what the last frame showed: its people and vehicles, and its zones' corners. */
  flyTo() {
    const { Cesium } = this;
    const points = [];
    for (const collection of [this.people, this.vehicles]) {
      for (let i = 0; i < collection.length; i++) if (collection.get(i).show) points.push(collection.get(i).position);
    }
    const corners = JSON.parse(this.zonesShown || "[]").flatMap(([, , polygon]) => rings(polygon).flat());
    for (const [lon, lat] of corners) points.push(Cesium.Cartesian3.fromDegrees(lon, lat));
    if (!points.length) return false;
    const sphere = Cesium.BoundingSphere.fromPoints(points);
    this.viewer.camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(0, -0.7, Math.max(sphere.radius * 3, 60)), duration: 1 });
    this.viewer.scene.requestRender();
    return true;
  }

  /** Test hook: people 0 … n − 1 as [lon, lat, h] (null for those not shown: out, or not in the frame). */
  positions(n) {
    const { Cesium } = this;
    const out = [];
    for (let i = 0; i < Math.min(n, this.people.length); i++) {
      const point = this.people.get(i);
      const c = point.show ? Cesium.Cartographic.fromCartesian(point.position) : null;
      out.push(c ? [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), c.height] : null);
    }
    return out;
  }

  /** Test hook: the colour of person `i` as CSS hex. */
  colourOf(i) {
    return i < this.people.length ? this.people.get(i).color.toCssHexString() : null;
  }
}
