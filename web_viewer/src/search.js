// Search by object id, name, address or any attribute value, through the OGC API and CQL2; results as a list
// whose entries fly to the object and open the inspector.
import { items, queryables } from "./ogc-client.js";

const SKIP = new Set(["dataset_id", "parent_id", "kind", "storey_id", "attributes.id"]);
export const RESULTS = 20;

const quote = (text) => `'${String(text).replace(/'/g, "''")}'`;
const name = (n) => (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`);

/** The CQL2 text that finds `query` in the id, in any text queryable (case-insensitive, part of it) or, for a
 * number, equal in any number queryable. */
export function searchFilter(query, properties) {
  const text = query.trim();
  const like = quote(`%${text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`);
  const clauses = [`id = ${quote(text)}`];
  for (const p of properties) {
    if (SKIP.has(p.name) || p.name === "id") continue;
    if (p.type === "string") clauses.push(`CASEI(${name(p.name)}) LIKE CASEI(${like})`);
  }
  const number = Number(text);
  if (text !== "" && Number.isFinite(number)) {
    for (const p of properties) if (p.type === "number" && !SKIP.has(p.name)) clauses.push(`${name(p.name)} = ${number}`);
  }
  return clauses.join(" OR ");
}

/** Results ranked: exact id, then values equal to the query, then the rest (server order: by id). */
export function rankResults(features, query) {
  const q = query.trim().toLowerCase();
  const score = (f) => {
    if (String(f.id).toLowerCase() === q) return 0;
    const values = Object.values(f.properties || {}).map((v) => String(v).toLowerCase());
    if (values.includes(q)) return 1;
    if (values.some((v) => v.startsWith(q))) return 2;
    return 3;
  };
  return [...features].sort((a, b) => score(a) - score(b));
}

/** What a result says: its name or address, its kind, its id. */
export function describe(feature) {
  const p = feature.properties || {};
  const title = p.name || p.address || p.long_name || feature.id;
  const extra = [p.address && p.address !== title ? p.address : null, p.kind].filter(Boolean).join(" · ");
  return { title: String(title), extra };
}

export class Search {
  constructor(config, { listEl, messageEl, onChoose }) {
    Object.assign(this, { config, listEl, messageEl, onChoose });
    this.collection = config.search_collection || "objects";
    this.properties = null;
    this.results = [];
    this.request = 0;
  }

  async run(query) {
    const request = ++this.request;
    this.listEl.replaceChildren();
    this.results = [];
    if (!query.trim()) {
      this.say("");
      return [];
    }
    this.say("Searching… (搜索中)");
    try {
      this.properties ||= await queryables(this.config, this.collection);
      const page = await items(this.config, this.collection, { filter: searchFilter(query, this.properties), limit: 100 });
      if (request !== this.request) return this.results;
      this.results = rankResults(page.features || [], query).slice(0, RESULTS);
    } catch (error) {
      if (request === this.request) this.say(`Search failed: ${error.message || error}`, true);
      return [];
    }
    this.say(this.results.length ? "" : "Nothing found (未找到)");
    for (const feature of this.results) {
      const li = document.createElement("li");
      li.dataset.id = feature.id;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "search-result";
      const { title, extra } = describe(feature);
      button.textContent = title;
      const small = document.createElement("span");
      small.className = "muted";
      small.textContent = extra ? ` ${extra}` : "";
      button.append(small);
      button.addEventListener("click", () => this.onChoose(feature));
      li.append(button);
      this.listEl.append(li);
    }
    return this.results;
  }

  say(text, isError = false) {
    this.messageEl.textContent = text;
    this.messageEl.hidden = !text;
    this.messageEl.classList.toggle("error", isError);
  }
}
