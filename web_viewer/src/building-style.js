// Default 3D Tiles style: buildings coloured by their `height` property.

// Height classes as (minimum height in metres, colour), highest first; the first match wins.
export const HEIGHT_CLASSES = [
  [60, "#d7301f"],
  [40, "#fc8d59"],
  [25, "#fdcc8a"],
  [15, "#9ecae1"],
  [0, "#4292c6"],
];
export const UNKNOWN_COLOR = "#8a94a6";

export function createBuildingStyle(Cesium) {
  // Number() turns missing or non-numeric heights into NaN, which no class matches.
  const conditions = HEIGHT_CLASSES.map(([min, color]) => [
    `Number(\${height}) >= ${min}`,
    `color('${color}')`,
  ]);
  conditions.push(["true", `color('${UNKNOWN_COLOR}')`]);
  return new Cesium.Cesium3DTileStyle({ color: { conditions } });
}

/** Fill the legend list with the height classes. */
export function renderLegend(listEl) {
  listEl.replaceChildren();
  HEIGHT_CLASSES.forEach(([min, color], i) => {
    const max = i === 0 ? null : HEIGHT_CLASSES[i - 1][0];
    const text = max === null ? `≥ ${min} m` : `${min}–${max} m`;
    listEl.append(legendItem(color, text));
  });
  listEl.append(legendItem(UNKNOWN_COLOR, "unknown (未知)"));
}

function legendItem(color, text) {
  const li = document.createElement("li");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = color;
  li.append(swatch, text);
  return li;
}
