// IFC layers: colour by IFC class, IfcSpace volumes hidden, and a storey filter (one storey, or all up to it).

// Class → colour; classes not listed fall back to OTHER_COLOR.
export const CLASS_COLORS = [
  ["IfcWall", "#e8e4da"],
  ["IfcWallStandardCase", "#e8e4da"],
  ["IfcCurtainWall", "#9ec5d8"],
  ["IfcSlab", "#b9b4a8"],
  ["IfcRoof", "#b5533c"],
  ["IfcColumn", "#a7a9ac"],
  ["IfcBeam", "#8f9398"],
  ["IfcMember", "#c49a6c"],
  ["IfcPlate", "#9aa8b5"],
  ["IfcStair", "#d2a86e"],
  ["IfcStairFlight", "#d2a86e"],
  ["IfcRailing", "#5e6670"],
  ["IfcDoor", "#8c5a2b"],
  ["IfcWindow", "#7fb3d5"],
  ["IfcCovering", "#d9d0c1"],
  ["IfcFurnishingElement", "#6b8e23"],
  ["IfcFurniture", "#6b8e23"],
  ["IfcSite", "#7a9a5a"],
  ["IfcSpace", "#f2c14e"],
];
export const OTHER_COLOR = "#c0a0c8";

function quote(text) {
  return `'${String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * A style for an IFC tileset. `filter` is null (everything) or { storey, elevation, mode: "only" | "upto" }.
 * Spaces are hidden unless `showSpaces`.
 */
export function createIfcStyle(Cesium, { filter = null, showSpaces = false } = {}) {
  const conditions = CLASS_COLORS.map(([cls, color]) => [`\${class} === ${quote(cls)}`, `color('${color}')`]);
  conditions.push(["true", `color('${OTHER_COLOR}')`]);
  const shows = [];
  if (!showSpaces) shows.push("${class} !== 'IfcSpace'");
  if (filter && filter.mode === "only") shows.push(`\${storey} === ${quote(filter.storey)}`);
  if (filter && filter.mode === "upto") shows.push(`Number(\${storey_elevation}) <= ${Number(filter.elevation) + 0.001}`);
  return new Cesium.Cesium3DTileStyle({
    color: { conditions },
    show: shows.length ? shows.join(" && ") : "true",
  });
}

/** Collects the storeys (name, elevation) seen in an IFC tileset's loaded tiles; calls `onChange` when new. */
export function trackStoreys(tileset, onChange) {
  const storeys = new Map();
  tileset.tileLoad.addEventListener((tile) => {
    const content = tile.content;
    if (!content || !content.featuresLength) return;
    let added = false;
    for (let i = 0; i < content.featuresLength; i++) {
      const feature = content.getFeature(i);
      const name = feature.getProperty("storey");
      const elevation = Number(feature.getProperty("storey_elevation"));
      if (name && !storeys.has(name) && Number.isFinite(elevation)) {
        storeys.set(name, elevation);
        added = true;
      }
    }
    if (added) onChange([...storeys].map(([name, elevation]) => ({ name, elevation })).sort((a, b) => a.elevation - b.elevation));
  });
  return storeys;
}

/** Fill the storey <select>: "all", then per storey "only" and "up to". */
export function renderStoreyOptions(select, storeys) {
  const current = select.value;
  select.replaceChildren(new Option("All storeys (全部楼层)", ""));
  for (const { name, elevation } of storeys) {
    select.append(new Option(`${name} only`, JSON.stringify({ storey: name, elevation, mode: "only" })));
    select.append(new Option(`up to ${name}`, JSON.stringify({ storey: name, elevation, mode: "upto" })));
  }
  select.value = [...select.options].some((o) => o.value === current) ? current : "";
  select.disabled = storeys.length === 0;
}
