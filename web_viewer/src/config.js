// Viewer configuration and JSON fetching.

/** Fetch JSON; throws an Error carrying the server's `detail` on failure. */
export async function fetchJson(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Non-JSON body; reported below if the status is bad.
  }
  if (!res.ok) {
    const detail = body && body.detail ? body.detail : res.statusText;
    const err = new Error(`${url}: ${res.status} ${detail}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/** Load /viewer/config.json (resolved against the page, so it works behind a prefix). */
export async function loadConfig(url = "/viewer/config.json") {
  const config = await fetchJson(url);
  for (const key of ["cesium_base_url", "tilesets_url", "object_url_template", "imagery_url"]) {
    if (typeof config[key] !== "string") throw new Error(`config.json: missing "${key}"`);
  }
  return config;
}

/** URL of one object, from the configured template. */
export function objectUrl(config, id) {
  return config.object_url_template.replace("{id}", encodeURIComponent(id));
}

/** A URL from a template with `{id}` in it. */
export function fillTemplate(template, id) {
  return template.replace("{id}", encodeURIComponent(id));
}
