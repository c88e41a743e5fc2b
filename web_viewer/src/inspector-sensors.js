// The inspector's live part: the sensors on the shown object (and its storeys and rooms), their latest values
// and alarm levels kept current from the live state, and a history chart of the one selected.
import { fetchJson, fillTemplate } from "./config.js";
import { bucketFor, drawHistory } from "./history-chart.js";

const $ = (id) => document.getElementById(id);
const HISTORY_S = 24 * 3600;

export class InspectorSensors {
  constructor(config, state) {
    this.config = config;
    this.state = state;
    this.section = $("inspector-sensors");
    this.body = $("inspector-sensor-list").tBodies[0];
    this.chart = $("inspector-chart");
    this.objectId = null;
    this.sensors = []; // sensor ids on the object
    this.selected = null;
    this.request = 0;
  }

  /** The inspector opened `id` (null: closed). */
  async show(id) {
    const request = ++this.request;
    this.objectId = id;
    this.sensors = [];
    this.selected = null;
    this.section.hidden = true;
    this.section.dataset.state = id ? "loading" : "closed";
    if (!id) return;
    const url = `${this.config.sensors_url}?${new URLSearchParams({ object: id })}`;
    try {
      const answer = await fetchJson(url);
      if (request !== this.request) return;
      for (const sensor of answer.sensors) {
        if (!this.state.sensors.has(sensor.id)) this.state.sensors.set(sensor.id, sensor);
        if (sensor.latest && !this.state.readings.has(sensor.id)) this.state.readings.set(sensor.id, sensor.latest);
      }
      this.sensors = answer.sensors.map((s) => s.id);
      this.section.hidden = this.sensors.length === 0;
      this.section.dataset.state = "loaded";
      this.buildRows();
      this.refresh();
      if (this.sensors.length) this.select(this.sensors[0]);
    } catch (error) {
      if (request !== this.request) return;
      this.section.dataset.state = "error";
    }
  }

  /** One row per sensor (built when the object is shown; `refresh` updates them in place). */
  buildRows() {
    this.body.replaceChildren(...this.sensors.map((id) => {
      const sensor = this.state.sensors.get(id) || { id, kind: "?" };
      const tr = document.createElement("tr");
      tr.dataset.sensor = id;
      const name = document.createElement("td");
      const swatch = document.createElement("span");
      name.append(swatch, id);
      const kind = document.createElement("td");
      kind.textContent = sensor.kind;
      const value = document.createElement("td");
      value.className = "sensor-value";
      tr.append(name, kind, value);
      tr.addEventListener("click", () => this.select(id));
      return tr;
    }));
  }

  /** Latest values, alarm levels and the selection, from the live state. */
  refresh() {
    if (!this.sensors.length) return;
    const levels = this.state.sensorLevels();
    for (const tr of this.body.rows) {
      const id = tr.dataset.sensor;
      const sensor = this.state.sensors.get(id) || {};
      const reading = this.state.readings.get(id);
      const level = levels.get(id) || "";
      tr.dataset.level = level;
      tr.classList.toggle("selected", id === this.selected);
      tr.cells[0].firstChild.className = level ? `level level-${level}` : "";
      tr.cells[2].textContent = reading ? `${Math.round(reading.value * 100) / 100} ${sensor.unit || ""}` : "—";
    }
  }

  /** Chart the last day of one sensor. */
  async select(id) {
    this.selected = id;
    this.refresh();
    const request = this.request;
    const to = this.state.time ? new Date(this.state.time) : new Date();
    const from = new Date(to.getTime() - HISTORY_S * 1000);
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket: bucketFor(HISTORY_S) });
    this.chart.dataset.sensor = id;
    this.chart.dataset.state = "loading";
    try {
      const answer = await fetchJson(`${fillTemplate(this.config.sensor_readings_url_template, id)}?${query}`);
      if (request !== this.request || this.selected !== id) return;
      const sensor = this.state.sensors.get(id);
      drawHistory(this.chart, answer.readings, from, to, sensor ? sensor.unit : "");
      this.chart.dataset.state = "loaded";
    } catch {
      if (request === this.request) this.chart.dataset.state = "error";
    }
  }
}
