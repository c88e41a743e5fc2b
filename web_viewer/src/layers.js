// Layer panel: one checkbox per tileset to show/hide it, plus a zoom button.

const ZOOM_ICON =
  '<svg viewBox="0 0 16 16" width="12" height="12" fill="none" stroke="currentColor" stroke-width="1.6">' +
  '<circle cx="8" cy="8" r="4.5"/><path d="M8 0v4M8 12v4M0 8h4M12 8h4"/></svg>';

export function renderLayers(listEl, emptyEl, layers, { onToggle, onZoom }) {
  listEl.replaceChildren();
  emptyEl.hidden = layers.length > 0;
  for (const layer of layers) {
    const li = document.createElement("li");
    li.className = "layer";
    li.dataset.tilesetId = layer.info.id;

    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.disabled = !layer.tileset;
    box.addEventListener("change", () => onToggle(layer, box.checked));
    const name = document.createElement("span");
    name.textContent = layer.info.name || layer.info.id;
    const kind = document.createElement("span");
    kind.className = "muted";
    kind.textContent = layer.info.kind ? ` ${layer.info.kind}` : "";
    label.append(box, name, kind);
    li.append(label);

    if (layer.tileset) {
      const zoom = document.createElement("button");
      zoom.type = "button";
      zoom.className = "zoom";
      zoom.title = "Zoom to layer";
      zoom.setAttribute("aria-label", "Zoom to layer");
      zoom.innerHTML = ZOOM_ICON;
      zoom.addEventListener("click", () => onZoom(layer));
      li.append(zoom);
    } else {
      li.classList.add("failed");
      li.title = layer.error ? String(layer.error.message || layer.error) : "failed to load";
    }
    listEl.append(li);
  }
}
