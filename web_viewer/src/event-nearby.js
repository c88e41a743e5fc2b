// Routes from the nearest resources to an event (GeoJSON lines from GET /events/{id}/nearby) as polylines a
// little above the ground, drawn over buildings.

const ROUTE_COLORS = { fire_station: "#ff5a4e", hospital: "#4ee08a", hydrant: "#4ec3ff" };
const LIFT_M = 2;

export class NearbyRoutes {
  constructor(Cesium, scene) {
    this.Cesium = Cesium;
    this.scene = scene;
    this.lines = scene.primitives.add(new Cesium.PolylineCollection());
    this.count = 0;
  }

  clear() {
    this.lines.removeAll();
    this.count = 0;
    this.scene.requestRender();
  }

  /** Draw GeoJSON LineStrings / MultiLineStrings of one resource kind. */
  add(routes, kind) {
    const { Cesium } = this;
    const color = Cesium.Color.fromCssColorString(ROUTE_COLORS[kind] || "#f5c542");
    for (const route of routes) {
      const parts = route.type === "MultiLineString" ? route.coordinates : [route.coordinates];
      for (const part of parts) {
        if (!part || part.length < 2) continue;
        this.lines.add({
          positions: part.map(([lon, lat]) => Cesium.Cartesian3.fromDegrees(lon, lat, LIFT_M)),
          width: 4,
          material: Cesium.Material.fromType("Color", { color }),
        });
        this.count++;
      }
    }
    this.scene.requestRender();
  }
}
