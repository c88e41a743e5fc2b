// Style a layer by any attribute: values from its property table (EXT_structural_metadata, read from the loaded
// features) or, for attributes only PostGIS holds, from `/ogc/collections/{id}/items` as values per object id.
import { classify } from "./color-ramps.js";
import { allItems, queryables } from "./ogc-client.js";
import { forEachLoadedFeature, tablePropertyNames } from "./loaded-features.js";

const HIDDEN = new Set(["geometry", "dataset_id", "parent_id", "attributes.id", "attributes.name"]);

/** The layer's collection on the OGC API (its dataset). */
export const collectionOf = (layer) => layer.info.dataset_id || layer.info.id;

/** Attributes to style by: [{name, source: "table" | "api", type}], table columns first. */
export async function styleableProperties(config, layer) {
  const table = tablePropertyNames(layer.tileset);
  const list = [...table].filter((n) => n !== "id").sort().map((name) => ({ name, source: "table", type: null }));
  try {
    for (const q of await queryables(config, collectionOf(layer))) {
      if (!table.has(q.name) && !HIDDEN.has(q.name)) list.push({ name: q.name, source: "api", type: q.type });
    }
  } catch {
    // layers without twin objects (point clouds, imported tilesets) have no queryables
  }
  return list;
}

/** Per object id, the value of `name` (every page of the layer's items). */
export async function valuesById(config, layer, name) {
  const features = await allItems(config, collectionOf(layer));
  const values = new Map();
  for (const f of features) values.set(String(f.id), f.properties ? f.properties[name] : undefined);
  return values;
}

/**
 * A style by `property` ({name, source}): { classes, kind, colorOf(feature) → CSS }, the classification made
 * from the table values of the loaded features or from every object's value on the server.
 */
export async function attributeStyle(config, layer, property) {
  if (property.source === "table") {
    const values = [];
    forEachLoadedFeature(layer.tileset, (feature) => values.push(feature.getProperty(property.name)));
    const { kind, classes, colorOf } = classify(values);
    return { name: property.name, source: "table", kind, classes, colorOf: (feature) => colorOf(feature.getProperty(property.name)) };
  }
  const byId = await valuesById(config, layer, property.name);
  const { kind, classes, colorOf } = classify(byId.values());
  return {
    name: property.name, source: "api", kind, classes, values: byId,
    colorOf: (feature) => colorOf(byId.get(String(feature.getProperty("id")))),
  };
}
