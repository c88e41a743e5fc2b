// Framing: fly to a layer or an object so it is seen whole, centred, from above at an angle.

export const FRAMING_PITCH = -Math.PI / 3.2; // ≈ 56° down: over the roofs of neighbours, walls still visible
export const PLAN_PITCH = -Math.PI / 2.3; // ≈ 78° down: a storey seen from above
const MARGIN = 1.15;

/** Distance from a sphere's centre at which it fits the narrower of the two fields of view, with a margin. */
export function framingRange(radius, fovy, aspect, margin = MARGIN) {
  const fovx = 2 * Math.atan(Math.tan(fovy / 2) * aspect);
  const half = Math.min(fovy, fovx) / 2;
  return Math.max((radius * margin) / Math.sin(half), 30);
}

/** The bounding sphere (ECEF) of lon/lat rings (GeoJSON coordinates) between heights zmin and zmax. */
export function sphereOfFootprint(Cesium, geometry, zmin, zmax) {
  const points = [];
  const walk = (c) => {
    if (typeof c[0] === "number") points.push(c);
    else c.forEach(walk);
  };
  walk(geometry.coordinates);
  if (!points.length) throw new Error("the object has no footprint to frame");
  const low = Number.isFinite(zmin) ? zmin : 0;
  const high = Number.isFinite(zmax) ? zmax : low;
  const corners = [];
  for (const [lon, lat] of points) {
    corners.push(Cesium.Cartesian3.fromDegrees(lon, lat, low), Cesium.Cartesian3.fromDegrees(lon, lat, high));
  }
  return Cesium.BoundingSphere.fromPoints(corners);
}

/** Fly (duration 0: jump) so `sphere` is framed whole from `pitch`, keeping the camera's heading. */
export function frameSphere(Cesium, viewer, sphere, { pitch = FRAMING_PITCH, heading, duration = 1.5 } = {}) {
  const { camera, canvas } = viewer;
  const fovy = camera.frustum.fovy ?? camera.frustum.fov;
  const range = framingRange(sphere.radius, fovy, canvas.clientWidth / Math.max(canvas.clientHeight, 1));
  const offset = new Cesium.HeadingPitchRange(heading ?? camera.heading, pitch, range);
  return new Promise((resolve) => {
    if (!duration) {
      camera.lookAt(sphere.center, offset);
      camera.lookAtTransform(Cesium.Matrix4.IDENTITY);
      viewer.scene.requestRender();
      resolve();
      return;
    }
    camera.flyToBoundingSphere(sphere, { offset, duration, complete: resolve, cancel: resolve });
    viewer.scene.requestRender();
  });
}

/** Whether `sphere` lies wholly in front of the camera and projects inside the canvas (for tests and checks). */
export function sphereInView(Cesium, viewer, sphere) {
  const { scene } = viewer;
  const { camera } = scene;
  const centre = Cesium.SceneTransforms.worldToWindowCoordinates(scene, sphere.center);
  const distance = Cesium.Cartesian3.distance(camera.positionWC, sphere.center);
  if (!centre || distance <= sphere.radius) return false;
  const { clientWidth: w, clientHeight: h } = viewer.canvas;
  const fovy = camera.frustum.fovy ?? camera.frustum.fov;
  const r = (Math.tan(Math.asin(sphere.radius / distance)) / Math.tan(fovy / 2)) * (h / 2);
  return centre.x - r >= 0 && centre.y - r >= 0 && centre.x + r <= w && centre.y + r <= h;
}
