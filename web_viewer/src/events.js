// Events and command in the viewer: markers of the open events (GET /events at start, then the websocket
// `events` channel on a subscription of its own), reporting by clicking a point, the event panel and the cockpit.
// `window.citytwin.events` is this object (tests read `stats()`, `selected`, `cockpit.counts()`).
import { fetchJson, objectUrl } from "./config.js";
import { LiveSocket, socketUrl } from "./live-socket.js";
import { EventMarkers } from "./event-markers.js";
import { EventPanel } from "./event-panel.js";
import { EventReport } from "./event-report.js";
import { CockpitPanel } from "./cockpit-panel.js";
import { OPEN } from "./event-style.js";

const $ = (id) => document.getElementById(id);
const LIST_LIMIT = 10000; // the most GET /events answers at once

export class Events {
  constructor(Cesium, viewer, config, { showError }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.config = config;
    this.showError = showError;
    this.selected = null; // id of the event in the panel
    this.received = 0; // event messages applied from the websocket
    this.listed = 0; // list loads finished
    this.markers = new EventMarkers(Cesium, viewer.scene, { locate: (id) => this.locate(id) });
    this.cockpit = new CockpitPanel(config, { showError });
    this.panel = new EventPanel(Cesium, viewer, config, {
      onChanged: (event) => this.apply(event),
      onClose: () => this.deselect(),
    });
    this.report = new EventReport(Cesium, viewer, config, {
      onReported: (event) => {
        this.apply(event);
        this.select(event.id);
      },
    });
    this.socket = config.live_ws_url ? new LiveSocket(socketUrl(config.live_ws_url), { channels: ["events"] }, {
      onSnapshot: (snapshot) => this.load(snapshot.events || []),
      onMessages: (messages) => {
        for (const m of messages) {
          if (m.type === "event" && m.event) {
            this.received++;
            this.apply(m.event);
          }
        }
      },
      onError: (reason) => showError(`Events: ${reason}`),
    }) : null;
  }

  start() {
    $("cockpit").hidden = false;
    this.panel.loadActors();
    this.cockpit.refresh();
    if (this.socket) this.socket.connect(); // its snapshot triggers the list load
    else this.load([]);
  }

  /** The open events from GET /events (the database holds them all), then what a snapshot carried over them. */
  async load(pushed) {
    try {
      const answer = await fetchJson(`${this.config.events_url}?status=${OPEN.join(",")}&limit=${LIST_LIMIT}`);
      const byId = new Map(answer.events.map((e) => [e.id, e]));
      for (const e of pushed) {
        const known = byId.get(e.id);
        if (!known || String(e.updated_at) >= String(known.updated_at)) byId.set(e.id, e);
      }
      this.markers.setAll([...byId.values()]);
      if (answer.count >= LIST_LIMIT) this.showError(`Events: only the newest ${LIST_LIMIT} open events are shown`);
    } catch (error) {
      this.showError(`Events: ${error.message || error}`);
    }
    this.listed++;
    this.cockpit.schedule();
  }

  /** An event as it is now (pushed, or answered by the server). */
  apply(event) {
    this.markers.upsert(event);
    this.panel.refresh(event);
    this.cockpit.schedule();
  }

  select(id) {
    this.selected = id;
    this.markers.select(id);
    return this.panel.show(id);
  }

  deselect() {
    this.selected = null;
    this.markers.select(null);
  }

  /** A click on the scene: report mode, an event marker or a cluster; true when it was for us. */
  handleClick(position, picked) {
    if (this.report.handleClick(position, picked)) return true;
    const id = picked && picked.id;
    if (id && id.event !== undefined) {
      this.select(id.event);
      return true;
    }
    if (id && id.cluster) {
      this.markers.zoomTo(id.cluster, this.viewer.camera);
      return true;
    }
    return false;
  }

  /** Where an event pinned only on an object goes: its footprint's middle, at its top. */
  async locate(objectId) {
    const obj = await fetchJson(objectUrl(this.config, objectId));
    const ring = outerRing(obj.geometry);
    if (!ring.length) return null;
    const lon = ring.reduce((s, p) => s + p[0], 0) / ring.length;
    const lat = ring.reduce((s, p) => s + p[1], 0) / ring.length;
    return [lon, lat, typeof obj.zmax === "number" ? obj.zmax : 0];
  }

  /** Test hook: what the markers show. */
  stats() {
    return this.markers.stats();
  }

  markerOf(id) {
    return this.markers.markerOf(id);
  }
}

function outerRing(geometry) {
  if (!geometry) return [];
  switch (geometry.type) {
    case "Point": return [geometry.coordinates];
    case "Polygon": return geometry.coordinates[0].slice(0, -1);
    case "MultiPolygon": return geometry.coordinates[0][0].slice(0, -1);
    case "LineString": return geometry.coordinates;
    default: return [];
  }
}
