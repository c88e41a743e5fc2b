// Inspector panel: shows one city object fetched from the server.
import { fetchJson, objectUrl } from "./config.js";

const $ = (id) => document.getElementById(id);

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return String(Math.round(value * 100) / 100);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function formatMetres(value) {
  return typeof value === "number" ? `${formatValue(value)} m` : "—";
}

const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Attribute rows; nested groups (IFC property and quantity sets) become "group › set › name" rows. */
function flatten(attributes, prefix = "", depth = 0) {
  const rows = [];
  for (const [key, value] of Object.entries(attributes)) {
    const name = prefix ? `${prefix} › ${key}` : key;
    if (isPlainObject(value) && depth < 2 && Object.keys(value).length) rows.push(...flatten(value, name, depth + 1));
    else rows.push([name, value]);
  }
  return rows;
}

export class Inspector {
  constructor(config, { onClose } = {}) {
    this.config = config;
    this.onClose = onClose;
    this.panel = $("inspector");
    this.request = 0; // guards against out-of-order responses
    this.current = null; // { id, object, error }
    this.watchers = []; // called with the shown id, or null when closed (the live sensor list)
    $("inspector-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !this.panel.hidden) this.close();
    });
  }

  /** Open the panel for `id` and load its details; resolves when shown. */
  async show(id) {
    const request = ++this.request;
    this.current = { id, object: null, error: null };
    this.fill({ id });
    this.setState("loading", "Loading… (加载中)");
    this.panel.dataset.objectId = id;
    this.panel.hidden = false;
    for (const watch of this.watchers) watch(id);
    try {
      const object = await fetchJson(objectUrl(this.config, id));
      if (request !== this.request) return this.current;
      this.current.object = object;
      this.fill(object);
      this.setState("loaded");
    } catch (error) {
      if (request !== this.request) return this.current;
      this.current.error = String(error.message || error);
      const text = error.status === 404 ? "Not found on server (未找到)" : this.current.error;
      this.setState("error", text);
    }
    return this.current;
  }

  close() {
    this.request++;
    this.current = null;
    this.panel.hidden = true;
    this.panel.dataset.state = "closed";
    delete this.panel.dataset.objectId;
    for (const watch of this.watchers) watch(null);
    if (this.onClose) this.onClose();
  }

  /** Call `watch(id)` whenever an object is shown, `watch(null)` when the panel closes. */
  watch(watch) {
    this.watchers.push(watch);
  }

  setState(state, message = "") {
    this.panel.dataset.state = state;
    const msg = $("inspector-message");
    msg.textContent = message;
    msg.hidden = !message;
  }

  fill(obj) {
    const { zmin, zmax } = obj;
    $("inspector-id").textContent = obj.id ?? "";
    $("inspector-kind").textContent = formatValue(obj.kind);
    $("inspector-name").textContent = formatValue(obj.name);
    $("inspector-dataset").textContent = formatValue(obj.dataset_id);
    $("inspector-parent").textContent = formatValue(obj.parent_id);
    $("inspector-zmin").textContent = formatMetres(zmin);
    $("inspector-zmax").textContent = formatMetres(zmax);
    const height = typeof zmin === "number" && typeof zmax === "number" ? zmax - zmin : undefined;
    $("inspector-height").textContent = formatMetres(height);

    const rows = flatten(obj.attributes || {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        const td = document.createElement("td");
        th.textContent = key;
        td.textContent = formatValue(value);
        tr.dataset.key = key;
        tr.append(th, td);
        return tr;
      });
    $("inspector-attributes").tBodies[0].replaceChildren(...rows);
  }
}
