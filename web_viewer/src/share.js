// Links and pictures: the view (camera, layers, style, filter, storey, selection) in the URL's hash so a link
// reopens it as it was, and the picture of the view as a PNG.

const round = (v, digits) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The hash for a view state: {camera: {lon, lat, height, heading, pitch, roll} (degrees, metres), hidden: [ids],
 * layer, style, filter, storey: {storey, mode}, selected}. */
export function encodeView(state) {
  const params = new URLSearchParams();
  const c = state.camera;
  if (c) params.set("camera", [round(c.lon, 7), round(c.lat, 7), round(c.height, 2), round(c.heading, 2), round(c.pitch, 2), round(c.roll, 2)].join(","));
  if (state.hidden && state.hidden.length) params.set("hide", state.hidden.join(","));
  if (state.layer) params.set("layer", state.layer);
  if (state.style) params.set("style", state.style);
  if (state.filter) params.set("filter", state.filter);
  if (state.storey) params.set("storey", `${state.storey.mode}:${state.storey.storey}`);
  if (state.selected) params.set("selected", state.selected);
  return params.toString();
}

/** The view state of a hash (with or without "#"); wrong parts are left out and named in `problems`. */
export function decodeView(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  const state = { problems: [] };
  const camera = params.get("camera");
  if (camera !== null) {
    const v = camera.split(",").map(Number);
    const ok = v.length === 6 && v.every(Number.isFinite) && Math.abs(v[1]) <= 90 && Math.abs(v[0]) <= 180;
    if (ok) state.camera = { lon: v[0], lat: v[1], height: v[2], heading: v[3], pitch: v[4], roll: v[5] };
    else state.problems.push(`camera=${camera} is not lon,lat,height,heading,pitch,roll`);
  }
  if (params.get("hide")) state.hidden = params.get("hide").split(",").filter(Boolean);
  for (const key of ["layer", "style", "filter", "selected"]) if (params.get(key)) state[key] = params.get(key);
  const storey = params.get("storey");
  if (storey) {
    const at = storey.indexOf(":");
    const mode = storey.slice(0, at);
    if (at > 0 && (mode === "only" || mode === "upto")) state.storey = { mode, storey: storey.slice(at + 1) };
    else state.problems.push(`storey=${storey} is not only:<name> or upto:<name>`);
  }
  return state;
}

/** The camera as degrees and metres. */
export function cameraState(Cesium, camera) {
  const c = camera.positionCartographic;
  const deg = Cesium.Math.toDegrees;
  return { lon: deg(c.longitude), lat: deg(c.latitude), height: c.height, heading: deg(camera.heading), pitch: deg(camera.pitch), roll: deg(camera.roll) };
}

/** Put the camera where a state says. */
export function setCamera(Cesium, camera, c) {
  camera.setView({
    destination: Cesium.Cartesian3.fromDegrees(c.lon, c.lat, c.height),
    orientation: { heading: Cesium.Math.toRadians(c.heading), pitch: Cesium.Math.toRadians(c.pitch), roll: Cesium.Math.toRadians(c.roll) },
  });
}

/** The view as a PNG data URL: a frame drawn and read back in the same task (before the buffer is cleared). */
export function pictureDataUrl(viewer) {
  viewer.scene.requestRender();
  viewer.render();
  return viewer.canvas.toDataURL("image/png");
}

/** Offer the picture as a download named after the time. */
export function savePicture(viewer, name = `citytwin-${new Date().toISOString().replace(/[:.]/g, "-")}.png`) {
  const link = document.createElement("a");
  link.href = pictureDataUrl(viewer);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  return name;
}
