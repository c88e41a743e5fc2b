// Labels on hover: the name (and storey) of the IfcSpace under the mouse, in a small tag beside the pointer.
import { PICKABLE_ALPHA, pickSolid } from "./layer-look.js";

const EVERY_MS = 120; // at most one pick per this many milliseconds

export function setUpSpaceHover(Cesium, viewer) {
  const tag = document.createElement("div");
  tag.id = "space-label";
  tag.className = "space-label";
  tag.hidden = true;
  document.body.append(tag);
  const handler = new Cesium.ScreenSpaceEventHandler(viewer.canvas);
  let last = 0;
  let pending = null;
  const show = (position) => {
    // A room's floor lies on its slab: the space is looked for among the first few things under the pointer.
    const first = pickSolid(Cesium, viewer.scene, position);
    const isSpace = (p) => p instanceof Cesium.Cesium3DTileFeature && p.getProperty("class") === "IfcSpace"
      && p.color.alpha >= PICKABLE_ALPHA;
    const picked = isSpace(first) ? first
      : first instanceof Cesium.Cesium3DTileFeature ? viewer.scene.drillPick(position, 4).find(isSpace) : null;
    if (!picked) {
      tag.hidden = true;
      delete tag.dataset.id;
      return null;
    }
    const storey = picked.getProperty("storey");
    tag.textContent = `${picked.getProperty("name") || "space"}${storey ? ` · ${storey}` : ""}`;
    tag.dataset.id = String(picked.getProperty("id"));
    const rect = viewer.canvas.getBoundingClientRect();
    tag.style.left = `${rect.left + position.x + 14}px`;
    tag.style.top = `${rect.top + position.y + 10}px`;
    tag.hidden = false;
    return tag.textContent;
  };
  handler.setInputAction((move) => {
    const now = performance.now();
    clearTimeout(pending);
    const position = Cesium.Cartesian2.clone(move.endPosition);
    if (now - last >= EVERY_MS) {
      last = now;
      show(position);
    } else {
      pending = setTimeout(() => { last = performance.now(); show(position); }, EVERY_MS);
    }
  }, Cesium.ScreenSpaceEventType.MOUSE_MOVE);
  return { label: tag, labelAt: (x, y) => show(new Cesium.Cartesian2(x, y)) };
}
