// Underground network layers styled by type after the APWA uniform colour code for marking utilities:
// gas yellow, water blue, drainage/sewer green, power red, telecom orange; heat (APWA yellow like gas) a darker
// amber so both stay apart. Manholes, valves and other nodes are grey.
import { t } from "./i18n.js";

export const NETWORK_COLORS = {
  gas: "#ffd200",
  water: "#1e5ae6",
  drainage: "#1e963c",
  power: "#dc1e1e",
  heat: "#e69600",
  telecom: "#ff7800",
};
export const NODE_COLOR = "#5a5a5a";
const OTHER_COLOR = "#b0b0b0";

/** The style of a network tileset: pipes by their `network_type`, nodes grey. */
export function createNetworkStyle(Cesium) {
  const conditions = [["${kind} !== 'pipe'", `color('${NODE_COLOR}')`]];
  for (const [type, color] of Object.entries(NETWORK_COLORS)) {
    conditions.push([`\${network_type} === '${type}'`, `color('${color}')`]);
  }
  conditions.push(["true", `color('${OTHER_COLOR}')`]);
  return new Cesium.Cesium3DTileStyle({ color: { conditions } });
}

/** Make a network tileset take the style's colours as they are (not tinted by the tubes' own). */
export function prepareNetworkTileset(Cesium, tileset) {
  tileset.colorBlendMode = Cesium.Cesium3DTileColorBlendMode.REPLACE;
}

/** Fill `listEl` with a swatch per network type. */
export function renderNetworkLegend(listEl) {
  listEl.replaceChildren();
  for (const [type, color] of Object.entries(NETWORK_COLORS)) {
    const li = document.createElement("li");
    li.dataset.networkType = type;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color;
    const label = document.createElement("span");
    label.dataset.i18n = `network.${type}`;
    label.textContent = t(`network.${type}`);
    li.append(swatch, label);
    listEl.append(li);
  }
}
