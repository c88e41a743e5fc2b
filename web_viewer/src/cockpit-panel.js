// The cockpit (驾驶舱): open events by status and severity, overdue, active alarms by level, sensors
// online/offline (GET /cockpit), refreshed — at most every half second — whenever events change.
import { fetchJson } from "./config.js";
import { OPEN, SEVERITIES } from "./event-style.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 500;

export class CockpitPanel {
  constructor(config, { showError }) {
    this.config = config;
    this.showError = showError;
    this.summary = null;
    this.loads = 0;
    this.timer = null;
    this.loading = null;
    this.again = false;
  }

  /** Ask for a fresh summary soon (several changes at once make one request). */
  schedule() {
    if (this.timer === null) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    this.timer = null;
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        this.summary = await fetchJson(this.config.cockpit_url);
        this.render(this.summary);
        this.loads++;
      } catch (error) {
        this.showError(`Cockpit: ${error.message || error}`);
      }
    })();
    await this.loading;
    this.loading = null;
    if (this.again) {
      this.again = false;
      this.schedule();
    }
    return undefined;
  }

  render(summary) {
    const { events, alarms, sensors } = summary;
    const rows = [
      group("Open (未结)", [["open", "open", events.open], ["overdue", "overdue", events.overdue]]),
      group("Status (状态)", [...OPEN, "closed", "cancelled"].map((s) => [s, `status-${s}`, events.by_status[s]])),
      group("Severity (等级)", SEVERITIES.map((s) => [s, `severity-${s}`, events.by_severity[s]]), true),
      group("Alarms (告警)", SEVERITIES.map((s) => [s, `alarms-${s}`, alarms.by_level[s]]), true),
      group("Sensors (传感器)", [["online", "sensors-online", sensors.online],
        ["offline", "sensors-offline", sensors.offline]]),
    ];
    $("cockpit-body").replaceChildren(...rows);
  }

  /** Test hook: the counts as shown. */
  counts() {
    const out = {};
    for (const el of document.querySelectorAll("#cockpit-body [data-count]")) {
      out[el.dataset.count] = Number(el.textContent);
    }
    return out;
  }
}

function group(title, items, swatches = false) {
  const row = document.createElement("div");
  row.className = "cockpit-row";
  const head = document.createElement("span");
  head.className = "muted cockpit-head";
  head.textContent = title;
  row.append(head);
  for (const [label, key, value] of items) {
    const cell = document.createElement("span");
    cell.className = "cockpit-cell";
    cell.title = label;
    if (swatches) {
      const dot = document.createElement("span");
      dot.className = `level level-${label}`;
      cell.append(dot);
    } else {
      cell.append(`${label} `);
    }
    const n = document.createElement("b");
    n.dataset.count = key;
    n.textContent = String(value ?? 0);
    cell.append(n);
    row.append(cell);
  }
  return row;
}
