// Event markers pinned in 3D: one PointPrimitiveCollection for every open event (tens of thousands draw in one
// call), coloured by severity, and our own screen-space grid clustering — recomputed after the camera or the
// events change — that hides the points of a crowded cell and shows one cluster point with its count instead
// (the count labels are only as many as there are crowded cells on screen, never one per event).
import { SEVERITY_COLORS, isOpen, worseSeverity } from "./event-style.js";

const CELL_PX = 48; // clustering grid cell, CSS pixels
const MIN_CLUSTER = 3; // events sharing a cell that become one cluster
const THROTTLE_MS = 80; // re-cluster at most this often while the camera moves

export class EventMarkers {
  /** `locate(objectId)` → promise of [lon, lat, h] or null, for events pinned on an object without a location. */
  constructor(Cesium, scene, { locate }) {
    this.Cesium = Cesium;
    this.scene = scene;
    this.locate = locate;
    this.points = scene.primitives.add(new Cesium.PointPrimitiveCollection());
    this.clusterPoints = scene.primitives.add(new Cesium.PointPrimitiveCollection());
    this.labels = scene.primitives.add(new Cesium.LabelCollection());
    this.markers = new Map(); // event id → { event, point, position (Cartesian3) }
    this.located = new Map(); // object id → promise of a position
    this.selected = null;
    this.clusters = []; // [{ ids, severity, position }]
    this.lastClusterMs = 0;
    this.reclusters = 0;
    this.colors = Object.fromEntries(Object.entries(SEVERITY_COLORS)
      .map(([k, css]) => [k, Cesium.Color.fromCssColorString(css)]));
    this.outline = Cesium.Color.fromCssColorString("#111");
    this.white = Cesium.Color.WHITE;
    this.lastView = new Cesium.Matrix4();
    this.lastSize = "";
    this.dirty = true;
    this.timer = null;
    this.lastRun = 0;
    this.viewProjection = new Cesium.Matrix4();
    scene.postRender.addEventListener(() => this.watchView());
  }

  /** Replace every marker by these events (closed ones are left out). */
  setAll(events) {
    const keep = new Set();
    for (const event of events) {
      if (isOpen(event)) keep.add(event.id);
      this.upsert(event, false);
    }
    for (const id of [...this.markers.keys()]) if (!keep.has(id)) this.remove(id, false);
    this.changed();
  }

  /** Add, move or recolour an event's marker; a closed or cancelled event's marker goes. */
  upsert(event, recluster = true) {
    if (!isOpen(event)) {
      this.remove(event.id, recluster);
      return;
    }
    let marker = this.markers.get(event.id);
    if (!marker) {
      marker = { event, point: null, position: null };
      this.markers.set(event.id, marker);
    }
    const moved = !marker.point || String(marker.event.location) !== String(event.location)
      || marker.event.object_id !== event.object_id;
    marker.event = event;
    if (moved) this.place(marker);
    if (marker.point) this.paint(marker);
    if (recluster) this.changed();
  }

  remove(id, recluster = true) {
    const marker = this.markers.get(id);
    if (!marker) return;
    if (marker.point) this.points.remove(marker.point);
    this.markers.delete(id);
    if (this.selected === id) this.selected = null;
    if (recluster) this.changed();
  }

  /** Position a marker: its location, else its object's (fetched once per object). */
  place(marker) {
    const { Cesium } = this;
    const { event } = marker;
    if (event.location) {
      const [lon, lat, h] = event.location;
      this.pin(marker, Cesium.Cartesian3.fromDegrees(lon, lat, h || 0));
    } else if (event.object_id) {
      let found = this.located.get(event.object_id);
      if (!found) {
        found = this.locate(event.object_id).catch(() => null);
        this.located.set(event.object_id, found);
      }
      found.then((where) => {
        if (where && this.markers.get(event.id) === marker && !marker.event.location) {
          this.pin(marker, Cesium.Cartesian3.fromDegrees(where[0], where[1], where[2] || 0));
          this.paint(marker);
          this.changed();
        }
      });
    }
  }

  pin(marker, position) {
    marker.position = position;
    if (marker.point) {
      marker.point.position = position;
      return;
    }
    marker.point = this.points.add({
      position,
      pixelSize: 10,
      outlineColor: this.outline,
      outlineWidth: 1.5,
      disableDepthTestDistance: Number.POSITIVE_INFINITY, // an event inside or behind a building stays visible
      id: { event: marker.event.id },
    });
  }

  paint(marker) {
    const selected = marker.event.id === this.selected;
    marker.point.color = this.colors[marker.event.severity] || this.white;
    marker.point.pixelSize = selected ? 16 : 10;
    marker.point.outlineColor = selected ? this.white : this.outline;
    marker.point.outlineWidth = selected ? 3 : 1.5;
  }

  /** Emphasise one event's marker (null: none); it is never hidden in a cluster. */
  select(id) {
    const before = this.markers.get(this.selected);
    this.selected = id;
    if (before && before.point) this.paint(before);
    const marker = this.markers.get(id);
    if (marker && marker.point) this.paint(marker);
    this.changed();
  }

  changed() {
    this.dirty = true;
    this.scene.requestRender();
  }

  /** After each frame: re-cluster when the view, the canvas or the events changed (throttled). */
  watchView() {
    const { Cesium, scene } = this;
    const size = `${scene.canvas.clientWidth}x${scene.canvas.clientHeight}`;
    if (!Cesium.Matrix4.equalsEpsilon(scene.camera.viewMatrix, this.lastView, 1e-9) || size !== this.lastSize) {
      Cesium.Matrix4.clone(scene.camera.viewMatrix, this.lastView);
      this.lastSize = size;
      this.dirty = true;
    }
    if (!this.dirty || this.timer !== null) return;
    const wait = Math.max(0, this.lastRun + THROTTLE_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.recluster();
    }, wait);
  }

  /** Group the markers by screen cell; crowded cells become one cluster point with a count. */
  recluster() {
    const { Cesium, scene } = this;
    const started = performance.now();
    this.dirty = false;
    const width = scene.canvas.clientWidth;
    const height = scene.canvas.clientHeight;
    const cells = new Map();
    const spread = [];
    // One view-projection matrix for all markers (worldToWindowCoordinates per marker costs ~50× more).
    const { camera } = scene;
    const m = Cesium.Matrix4.multiply(camera.frustum.projectionMatrix, camera.viewMatrix, this.viewProjection);
    for (const marker of this.markers.values()) {
      if (!marker.point) continue;
      if (marker.event.id === this.selected) {
        spread.push(marker);
        continue;
      }
      const { x, y, z } = marker.position;
      const w = m[3] * x + m[7] * y + m[11] * z + m[15];
      const wx = w > 0 ? ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w + 1) * 0.5 * width : -1;
      const wy = w > 0 ? (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * 0.5 * height : -1;
      if (wx < 0 || wy < 0 || wx > width || wy > height) {
        spread.push(marker); // off screen or behind the camera: drawn (and culled) as itself
        continue;
      }
      const key = Math.floor(wx / CELL_PX) * 65536 + Math.floor(wy / CELL_PX);
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = []));
      cell.push(marker);
    }
    this.clusterPoints.removeAll();
    this.labels.removeAll();
    this.clusters = [];
    for (const marker of spread) marker.point.show = true;
    for (const members of cells.values()) {
      const crowded = members.length >= MIN_CLUSTER;
      for (const marker of members) if (marker.point.show === crowded) marker.point.show = !crowded;
      if (crowded) this.addCluster(members);
    }
    this.lastRun = performance.now();
    this.lastClusterMs = this.lastRun - started;
    this.reclusters++;
    scene.requestRender();
  }

  addCluster(members) {
    const { Cesium } = this;
    let severity = null;
    const centre = new Cesium.Cartesian3();
    for (const marker of members) {
      severity = worseSeverity(severity, marker.event.severity);
      Cesium.Cartesian3.add(centre, marker.position, centre);
    }
    Cesium.Cartesian3.divideByScalar(centre, members.length, centre);
    const ids = members.map((m) => m.event.id);
    const cluster = { ids, severity, position: centre };
    this.clusters.push(cluster);
    const id = { cluster: ids };
    this.clusterPoints.add({
      position: centre,
      pixelSize: 18 + 5 * Math.log10(members.length),
      color: this.colors[severity] || this.white,
      outlineColor: this.white,
      outlineWidth: 2,
      disableDepthTestDistance: Number.POSITIVE_INFINITY,
      id,
    });
    this.labels.add({
      position: centre,
      text: members.length > 999 ? `${Math.round(members.length / 100) / 10}k` : String(members.length),
      font: "bold 12px sans-serif",
      fillColor: Cesium.Color.WHITE,
      outlineColor: Cesium.Color.BLACK,
      outlineWidth: 3,
      style: Cesium.LabelStyle.FILL_AND_OUTLINE,
      horizontalOrigin: Cesium.HorizontalOrigin.CENTER,
      verticalOrigin: Cesium.VerticalOrigin.CENTER,
      disableDepthTestDistance: Number.POSITIVE_INFINITY,
      id,
    });
  }

  /** Fly to the events of a cluster. */
  zoomTo(ids, camera) {
    const { Cesium } = this;
    const positions = ids.map((id) => this.markers.get(id)).filter((m) => m && m.position).map((m) => m.position);
    if (!positions.length) return;
    const sphere = Cesium.BoundingSphere.fromPoints(positions);
    camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(camera.heading, -0.8, Math.max(sphere.radius * 3, 120)),
      duration: 0.8,
    });
  }

  /** Test hook: how an event's marker is shown now: its colour name, size, and whether a cluster holds it. */
  markerOf(id) {
    const marker = this.markers.get(id);
    if (!marker || !marker.point) return null;
    const color = Object.keys(this.colors).find((k) => this.Cesium.Color.equals(this.colors[k], marker.point.color));
    const where = this.Cesium.Cartographic.fromCartesian(marker.position);
    const degrees = this.Cesium.Math.toDegrees;
    return { severity: color || null, status: marker.event.status, shown: marker.point.show,
      clustered: this.clusters.some((c) => c.ids.includes(id)), pixelSize: marker.point.pixelSize,
      position: [degrees(where.longitude), degrees(where.latitude), where.height] };
  }

  /** Test hook: counts of what is drawn. */
  stats() {
    let shown = 0;
    for (const marker of this.markers.values()) if (marker.point && marker.point.show) shown++;
    return { markers: this.markers.size, shown, clusters: this.clusters.length,
      clustered: this.clusters.reduce((n, c) => n + c.ids.length, 0), lastClusterMs: this.lastClusterMs,
      reclusters: this.reclusters };
  }
}
