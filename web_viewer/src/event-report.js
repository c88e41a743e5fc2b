// "Report event" (上报) mode: the next click on the tiles or the globe picks a point (with its height, and the twin
// object under it if any); a small form takes kind, severity and title and POSTs the event.
import { KINDS, SEVERITIES } from "./event-style.js";

const $ = (id) => document.getElementById(id);

export class EventReport {
  /** `onReported(event, duplicates)` after the server stored a report. */
  constructor(Cesium, viewer, config, { onReported }) {
    this.Cesium = Cesium;
    this.viewer = viewer;
    this.config = config;
    this.onReported = onReported;
    this.active = false;
    this.picked = null; // { location: [lon, lat, h], object_id }
    this.toggle = $("event-report-toggle");
    this.form = $("event-report-form");
    $("event-report-kind").replaceChildren(...KINDS.map((k) => new Option(k, k)));
    $("event-report-severity").replaceChildren(...SEVERITIES.map((s) => new Option(s, s)));
    $("event-report-severity").value = "orange";
    this.toggle.addEventListener("click", () => this.setActive(!this.active));
    $("event-report-cancel").addEventListener("click", () => this.setActive(false));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  setActive(active) {
    this.active = active;
    this.toggle.setAttribute("aria-pressed", String(active));
    this.viewer.container.classList.toggle("reporting", active);
    if (!active) {
      this.form.hidden = true;
      this.picked = null;
    }
    this.message(active ? "Click where it happens (点击事发位置)" : null);
  }

  /** In report mode, a click picks the point; returns true when it was used. */
  handleClick(position, picked) {
    if (!this.active) return false;
    const where = this.pointAt(position);
    if (!where) {
      this.message("No ground or building there (此处无地面)");
      return true;
    }
    const objectId = picked && picked instanceof this.Cesium.Cesium3DTileFeature ? picked.getProperty("id") : null;
    this.picked = { location: where, object_id: objectId === undefined || objectId === null ? null : String(objectId) };
    this.form.hidden = false;
    $("event-report-where").textContent = `${where[0].toFixed(6)}, ${where[1].toFixed(6)}, ${where[2].toFixed(1)} m`
      + (this.picked.object_id ? ` · ${this.picked.object_id}` : "");
    this.message(null);
    $("event-report-title").focus();
    return true;
  }

  /** [lon, lat, h] of the surface under a canvas position: tiles' depth first, else the ellipsoid. */
  pointAt(position) {
    const { Cesium, viewer } = this;
    const { scene } = viewer;
    let cartesian;
    if (scene.pickPositionSupported) cartesian = scene.pickPosition(position);
    if (!cartesian) cartesian = viewer.camera.pickEllipsoid(position, scene.globe.ellipsoid);
    if (!cartesian) return null;
    const c = Cesium.Cartographic.fromCartesian(cartesian);
    if (!c) return null;
    return [Cesium.Math.toDegrees(c.longitude), Cesium.Math.toDegrees(c.latitude), Math.round(c.height * 100) / 100];
  }

  async submit() {
    if (!this.picked) return;
    const title = $("event-report-title").value.trim();
    if (!title) {
      this.message("A title is needed (请填写标题)");
      return;
    }
    const body = { kind: $("event-report-kind").value, severity: $("event-report-severity").value, title,
      location: this.picked.location, source: "manual" };
    if (this.picked.object_id) body.object_id = this.picked.object_id;
    const reporter = localStorage.getItem("citytwin.event-actor");
    if (reporter) body.reporter = reporter;
    $("event-report-submit").disabled = true;
    try {
      const res = await fetch(this.config.events_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) {
        this.message(`${res.status}: ${answer.detail || res.statusText}`);
        return;
      }
      $("event-report-title").value = "";
      this.setActive(false);
      const dupes = answer.duplicates || [];
      if (dupes.length) this.message(`Possible duplicate of ${dupes.map((d) => `#${d.id}`).join(", ")} (疑似重复)`);
      this.onReported(answer.event, dupes);
    } finally {
      $("event-report-submit").disabled = false;
    }
  }

  message(text) {
    const el = $("event-report-message");
    el.hidden = !text;
    el.textContent = text || "";
  }
}
