// A layer's filter from an expression the user typed: on property-table columns a Cesium3DTileStyle `show`
// expression; with attributes only PostGIS holds, the same tree as CQL2 sent to `/ogc/collections/{id}/items`,
// whose matching ids are what stays shown.
import { FilterError, parseFilter, propertyNames, toCesiumExpression, toCql2 } from "./filter-expression.js";
import { allItems } from "./ogc-client.js";
import { collectionOf } from "./attribute-style.js";

/**
 * `{show(feature), expression, source, count?}` for `text` on `layer`; `properties` are the styleable
 * properties ([{name, source}]). Throws FilterError with a message for the user.
 */
export async function layerFilter(Cesium, config, layer, text, properties) {
  const tree = parseFilter(text);
  const known = new Map(properties.map((p) => [p.name, p.source]));
  known.set("id", "table");
  const names = [...propertyNames(tree)];
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) {
    const list = [...known.keys()].sort().join(", ");
    throw new FilterError(`unknown propert${unknown.length > 1 ? "ies" : "y"} ${unknown.map((n) => `'${n}'`).join(", ")} — this layer has: ${list}`);
  }
  if (names.every((n) => known.get(n) === "table")) {
    const expression = toCesiumExpression(tree);
    let style;
    try {
      style = new Cesium.Cesium3DTileStyle({ show: expression });
    } catch (error) {
      throw new FilterError(`the filter cannot be shown: ${error.message || error}`);
    }
    return { expression, source: "table", show: (feature) => Boolean(style.show.evaluate(feature)) };
  }
  const cql = toCql2(tree);
  let features;
  try {
    features = await allItems(config, collectionOf(layer), { filter: cql });
  } catch (error) {
    throw new FilterError(`the server refused the filter: ${error.message || error}`);
  }
  const ids = new Set(features.map((f) => String(f.id)));
  return { expression: cql, source: "api", count: ids.size, ids, show: (feature) => ids.has(String(feature.getProperty("id"))) };
}
