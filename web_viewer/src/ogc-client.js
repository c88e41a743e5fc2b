// The OGC API – Features calls the planner tools make: queryables, filtered item pages, every page of a query.
import { fetchJson, fillTemplate } from "./config.js";

export const PAGE_LIMIT = 10000; // the server's largest page

/** Items URL of a collection with query parameters. */
export function itemsUrl(config, collection, params = {}) {
  const url = new URL(fillTemplate(config.ogc_items_url_template, collection), window.location.href);
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  return url.href;
}

/** The queryable properties of a collection: [{name, type}] ("string", "number", …), geometry left out. */
export async function queryables(config, collection) {
  const doc = await fetchJson(fillTemplate(config.ogc_queryables_url_template, collection));
  return Object.entries(doc.properties || {})
    .filter(([name, schema]) => name !== "geometry" && !schema.format?.startsWith("geometry"))
    .map(([name, schema]) => ({ name, type: schema.type || "string" }));
}

/** One page of items. */
export async function items(config, collection, params = {}) {
  return fetchJson(itemsUrl(config, collection, { limit: 20, ...params }));
}

/** Every feature of a query, following `next` links up to `max` features. */
export async function allItems(config, collection, params = {}, { max = 200000 } = {}) {
  const features = [];
  let url = itemsUrl(config, collection, { limit: PAGE_LIMIT, ...params });
  while (url && features.length < max) {
    const page = await fetchJson(url);
    features.push(...(page.features || []));
    const next = (page.links || []).find((l) => l.rel === "next");
    url = next ? next.href : null;
  }
  return features;
}
