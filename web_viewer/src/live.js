// The live twin in the viewer: one socket, one state, and what shows it — objects coloured by their worst
// active alarm, sensor points, the alarm panel, the inspector's sensors and the time slider.
import { fetchJson, fillTemplate } from "./config.js";
import { withAlarms } from "./alarm-style.js";
import { LiveState } from "./live-state.js";
import { LiveSocket, socketUrl } from "./live-socket.js";
import { SensorsLayer } from "./sensors-layer.js";
import { AlarmPanel } from "./alarm-panel.js";
import { InspectorSensors } from "./inspector-sensors.js";
import { TimeSlider } from "./time-slider.js";

const $ = (id) => document.getElementById(id);
const UPDATE_MS = 100; // redraw at most this often, however fast messages come
const LINEAGE_BATCH = 500;

export class Live {
  constructor(Cesium, viewer, config, { inspector, inspect, showError, onTileset }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.config = config;
    this.showError = showError;
    this.state = new LiveState();
    this.levels = new Map(); // object id → worst level
    this.styled = new Set(); // tilesets whose style reads `levels`
    this.highlighted = null;
    this.restyledSinceHighlight = false;
    this.updates = 0; // redraws so far (tests wait on it)
    this.timer = null;
    this.panelShows = null;
    this.fetching = false; // parent chains being fetched
    this.sensors = new SensorsLayer(Cesium, viewer.scene);
    this.panel = new AlarmPanel({ acknowledge: (id, name) => this.acknowledge(id, name), onSelect: inspect });
    this.inspectorSensors = new InspectorSensors(config, this.state);
    inspector.watch((id) => this.inspectorSensors.show(id));
    this.socket = new LiveSocket(socketUrl(config.live_ws_url), { channels: ["readings", "alarms", "status", "tilesets"] }, {
      onSnapshot: (snapshot) => {
        this.state.applySnapshot(snapshot);
        this.schedule();
      },
      onMessages: (messages) => {
        let changed = false;
        for (const message of messages) {
          if (message.type === "tileset" && onTileset) onTileset(message);
          else changed = this.state.apply(message) || changed;
        }
        if (changed) this.schedule();
      },
      onState: (state) => {
        this.slider.setState(state);
        $("live-panel").dataset.state = state;
        this.schedule();
      },
      onError: (reason) => showError(`Live: ${reason}`),
    });
    this.slider = new TimeSlider(this.socket);
  }

  start() {
    $("live-panel").hidden = false;
    $("alarms").hidden = false;
    this.socket.connect();
  }

  /** Give `tileset` the style `base` (or its own colours) with alarm colours over it; alarmed features that
   * `base` hides but `reveal` shows appear translucent. */
  style(tileset, base, reveal = undefined) {
    this.styled.add(tileset);
    tileset.style = withAlarms(this.Cesium, base, (id) => this.levels.get(id) || null, () => this.highlighted,
      reveal);
  }

  /** A tileset no longer shown. */
  unstyle(tileset) {
    this.styled.delete(tileset);
  }

  /** The picked object (null: none), kept in its highlight when alarm colours are re-applied. */
  highlight(id) {
    this.highlighted = id;
    if (id === null && this.restyledSinceHighlight) this.restyle();
    this.restyledSinceHighlight = false;
  }

  restyle() {
    for (const tileset of this.styled) tileset.makeStyleDirty();
    this.restyledSinceHighlight = true;
    this.viewer.scene.requestRender();
  }

  schedule() {
    if (this.timer === null) this.timer = setTimeout(() => this.update(), UPDATE_MS);
  }

  async update() {
    const missing = this.state.unknownAncestry();
    if (missing.length) {
      if (this.fetching) return; // the fetch under way schedules the next update
      this.fetching = true;
      await this.fetchLineage(missing);
      this.fetching = false;
    }
    this.timer = null;
    const levels = this.state.objectLevels();
    if (!sameLevels(levels, this.levels)) {
      this.levels = levels;
      this.restyle();
    }
    this.sensors.update(this.state);
    const replaying = this.socket.mode !== "live";
    const shown = `${this.state.alarmsVersion}:${replaying}`;
    if (shown !== this.panelShows) { // re-rendered only on change, so its buttons stay clickable
      this.panelShows = shown;
      this.panel.render(this.state.alarms, replaying);
    }
    this.inspectorSensors.refresh();
    this.slider.showTime(this.state.time);
    this.viewer.scene.requestRender();
    this.updates++;
    if (this.state.unknownAncestry().length) this.schedule(); // alarms that came in while chains were fetched
  }

  async fetchLineage(ids) {
    for (let i = 0; i < ids.length; i += LINEAGE_BATCH) {
      const batch = ids.slice(i, i + LINEAGE_BATCH);
      const query = new URLSearchParams(batch.map((id) => ["ids", id]));
      try {
        const answer = await fetchJson(`${this.config.ancestors_url}?${query}`);
        this.state.addLineage(batch, answer.objects);
      } catch (error) {
        this.state.addLineage(batch, {}); // colour the alarm objects themselves at least
        this.showError(`Alarm objects' parents unknown: ${error.message || error}`);
      }
    }
  }

  /** POST who acknowledges; the pushed `acknowledged` message follows, the answer is applied at once. */
  async acknowledge(alarmId, name) {
    const res = await fetch(fillTemplate(this.config.alarm_acknowledge_url_template, alarmId), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ by: name }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.detail || res.statusText);
    this.state.apply({ type: "alarm", action: "acknowledged", id: alarmId, acknowledged_by: body.acknowledged_by });
    this.schedule();
    return body;
  }

  /** Test hook: the distinct colours (CSS hex) of the loaded features whose `id` is `id`. */
  featureColors(id) {
    const colours = new Set();
    const visit = (tile) => {
      const content = tile.content;
      if (content && content.featuresLength) {
        for (let i = 0; i < content.featuresLength; i++) {
          const feature = content.getFeature(i);
          if (String(feature.getProperty("id")) === id) colours.add(feature.color.toCssHexString());
        }
      }
      for (const child of tile.children) visit(child);
    };
    for (const tileset of this.styled) visit(tileset.root);
    return [...colours];
  }
}

function sameLevels(a, b) {
  if (a.size !== b.size) return false;
  for (const [id, level] of a) if (b.get(id) !== level) return false;
  return true;
}
