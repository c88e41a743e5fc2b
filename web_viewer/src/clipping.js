// Clipping of tilesets by several owners at once (the storey cut, sections): each owner sets world planes and
// polygons on some tilesets; every tileset gets one ClippingPlaneCollection (union of the removed regions) and
// one ClippingPolygonCollection made from all owners' entries.

/** A horizontal plane at `height` metres above the ellipsoid under `lonLat`, keeping what is below. */
export function horizontalCut(Cesium, longitude, latitude, height) {
  const point = Cesium.Cartesian3.fromRadians(longitude, latitude, height);
  const up = Cesium.Ellipsoid.WGS84.geodeticSurfaceNormal(point, new Cesium.Cartesian3());
  return { point, normal: Cesium.Cartesian3.negate(up, up) }; // normal points to the kept side
}

/** A vertical plane through two surface points, keeping the side away from `eye` (the camera looks at the cut). */
export function verticalCut(Cesium, a, b, eye) {
  const up = Cesium.Ellipsoid.WGS84.geodeticSurfaceNormal(a, new Cesium.Cartesian3());
  const along = Cesium.Cartesian3.subtract(b, a, new Cesium.Cartesian3());
  const normal = Cesium.Cartesian3.normalize(Cesium.Cartesian3.cross(along, up, new Cesium.Cartesian3()), new Cesium.Cartesian3());
  const toEye = Cesium.Cartesian3.subtract(eye, a, new Cesium.Cartesian3());
  if (Cesium.Cartesian3.dot(normal, toEye) > 0) Cesium.Cartesian3.negate(normal, normal);
  return { point: a, normal };
}

export class Clipping {
  constructor(Cesium, viewer) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.owners = new Map(); // owner → { tilesets: Set, planes: [{point, normal}], polygons: [[Cartesian3]] }
    this.touched = new Set();
  }

  /** Set (replace) an owner's planes and polygons on `tilesets`; an empty owner is removed. */
  set(owner, tilesets, { planes = [], polygons = [] } = {}) {
    const before = this.owners.get(owner);
    if (before) before.tilesets.forEach((t) => this.touched.add(t));
    if (planes.length || polygons.length) this.owners.set(owner, { tilesets: new Set(tilesets), planes, polygons });
    else this.owners.delete(owner);
    tilesets.forEach((t) => this.touched.add(t));
    this.apply();
  }

  clear(owner) {
    this.set(owner, [], {});
  }

  has(owner) {
    return this.owners.has(owner);
  }

  /** Whether any plane or polygon clips `tileset`. */
  static clips(tileset) {
    return Boolean((tileset.clippingPlanes && tileset.clippingPlanes.length)
      || (tileset.clippingPolygons && tileset.clippingPolygons.length));
  }

  /** Rebuild the collections of every tileset any change touched. */
  apply() {
    const { Cesium } = this;
    for (const tileset of this.touched) {
      const planes = [];
      const polygons = [];
      for (const entry of this.owners.values()) {
        if (!entry.tilesets.has(tileset)) continue;
        planes.push(...entry.planes);
        polygons.push(...entry.polygons);
      }
      this.applyPlanes(tileset, planes);
      if (polygons.length && Cesium.ClippingPolygonCollection.isSupported(this.viewer.scene)) {
        tileset.clippingPolygons = new Cesium.ClippingPolygonCollection({
          polygons: polygons.map((positions) => new Cesium.ClippingPolygon({ positions })),
        });
      } else if (tileset.clippingPolygons && tileset.clippingPolygons.length) {
        tileset.clippingPolygons = new Cesium.ClippingPolygonCollection(); // see applyPlanes: empty, not undefined
      }
    }
    this.touched.clear();
    this.viewer.scene.requestRender();
  }

  /** World planes into a local east-north-up frame at the tileset's centre (small distances, float-safe). */
  applyPlanes(tileset, worldPlanes) {
    const { Cesium } = this;
    if (!worldPlanes.length) {
      // An empty collection, not undefined: CesiumJS leaves loaded tiles holding a removed collection, and their
      // next frame stops rendering ("reading '_target'"); an empty one replaces theirs and clips nothing.
      if (tileset.clippingPlanes && tileset.clippingPlanes.length) tileset.clippingPlanes = new Cesium.ClippingPlaneCollection();
      return;
    }
    const enu = Cesium.Transforms.eastNorthUpToFixedFrame(tileset.boundingSphere.center);
    const toEnu = Cesium.Matrix4.inverseTransformation(enu, new Cesium.Matrix4());
    const planes = worldPlanes.map(({ point, normal }) => {
      const p = Cesium.Matrix4.multiplyByPoint(toEnu, point, new Cesium.Cartesian3());
      const n = Cesium.Cartesian3.normalize(Cesium.Matrix4.multiplyByPointAsVector(toEnu, normal, new Cesium.Cartesian3()),
        new Cesium.Cartesian3());
      return new Cesium.ClippingPlane(n, -Cesium.Cartesian3.dot(n, p));
    });
    const origin = tileset.clippingPlanesOriginMatrix;
    const modelMatrix = Cesium.Matrix4.multiply(Cesium.Matrix4.inverseTransformation(origin, new Cesium.Matrix4()), enu,
      new Cesium.Matrix4());
    tileset.clippingPlanes = new Cesium.ClippingPlaneCollection({
      planes, modelMatrix, unionClippingRegions: true, edgeWidth: 1.5, edgeColor: Cesium.Color.fromCssColorString("#f5c542"),
    });
  }
}
