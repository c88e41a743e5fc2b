// The event panel: a picked event's details and history (GET /events/{id}), its lifecycle actions (POST
// /events/{id}/transitions; the server's 409/400 reason shown as it is), and its nearest resources by road and
// the cameras that see it (GET /events/{id}/nearby), their routes drawn as polylines.
import { fetchJson, fillTemplate } from "./config.js";
import { TRANSITIONS } from "./event-style.js";
import { NearbyRoutes } from "./event-nearby.js";

const $ = (id) => document.getElementById(id);
const ACTOR_KEY = "citytwin.event-actor";
const ACTIONS = [ // [label, to, from which statuses]
  ["Assign (分派)", "assigned", ["reported", "assigned"]],
  ["Handle (处置)", "handling", ["assigned"]],
  ["Verify (核查)", "verifying", ["handling"]],
  ["Close (结案)", "closed", ["verifying"]],
  ["Reopen (重新处置)", "handling", ["verifying"]],
  ["Cancel (撤销)", "cancelled", ["reported", "assigned", "handling", "verifying"]],
];
const FIELDS = [["Kind (类型)", "kind"], ["Severity (等级)", "severity"], ["Status (状态)", "status"],
  ["Assignee (处置人)", "assignee"], ["Source (来源)", "source"], ["Object (对象)", "object_id"],
  ["Reported (上报)", "reported_at"], ["Deadline (时限)", "deadline"]];

export class EventPanel {
  /** `onChanged(event)`: an event the panel changed; `onClose()`. */
  constructor(Cesium, viewer, config, { onChanged, onClose }) {
    this.config = config;
    this.onChanged = onChanged;
    this.onClose = onClose;
    this.root = $("event-panel");
    this.event = null; // the event shown, with its history
    this.actors = [];
    this.nearby = null; // the last nearby answer
    this.loads = 0; // detail loads finished (tests wait on it)
    this.routes = new NearbyRoutes(Cesium, viewer.scene);
    $("event-close").addEventListener("click", () => this.close());
    $("event-actor").addEventListener("change", () => localStorage.setItem(ACTOR_KEY, $("event-actor").value));
    this.buttons = ACTIONS.map(([label, to, from]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.to = to;
      button.dataset.from = from.join(" ");
      button.addEventListener("click", () => this.transition(to, button));
      return button;
    });
    $("event-buttons").replaceChildren(...this.buttons);
  }

  async loadActors() {
    try {
      this.actors = (await fetchJson(this.config.actors_url)).actors;
    } catch (error) {
      this.message(`Actors unknown: ${error.message || error}`);
      return;
    }
    const fill = (select, empty) => {
      const kept = select.value;
      select.replaceChildren(new Option(empty, ""), ...this.actors.map((a) => new Option(
        a.name ? `${a.name} (${a.kind})` : a.id, a.id)));
      select.value = kept;
    };
    fill($("event-actor"), "— who acts —");
    fill($("event-assignee"), "— assign to —");
    const remembered = localStorage.getItem(ACTOR_KEY);
    if (remembered && this.actors.some((a) => a.id === remembered)) $("event-actor").value = remembered;
  }

  /** Show an event (by id); details, history and nearby are fetched. */
  async show(id) {
    this.root.hidden = false;
    this.root.dataset.state = "loading";
    this.root.dataset.eventId = String(id);
    this.message(null);
    this.nearby = null;
    this.routes.clear();
    $("event-nearby").replaceChildren();
    $("event-cameras").replaceChildren();
    try {
      const event = await fetchJson(fillTemplate(this.config.event_url_template, id));
      if (this.root.dataset.eventId !== String(id)) return;
      this.render(event);
      this.root.dataset.state = "loaded";
    } catch (error) {
      this.root.dataset.state = "error";
      this.message(String(error.message || error));
    }
    this.loads++;
    this.loadNearby(id);
  }

  /** A pushed change of the event shown: refresh it (its history came with a new row). */
  refresh(event) {
    if (this.event && this.event.id === event.id && event.updated_at !== this.event.updated_at) this.show(event.id);
  }

  close() {
    this.root.hidden = true;
    this.root.dataset.state = "closed";
    delete this.root.dataset.eventId;
    this.event = null;
    this.routes.clear();
    this.onClose();
  }

  render(event) {
    this.event = event;
    this.root.dataset.status = event.status;
    this.root.dataset.severity = event.severity;
    $("event-id").textContent = `#${event.id}`;
    $("event-title").textContent = event.title;
    $("event-title").dataset.severity = event.severity;
    const rows = [];
    for (const [label, key] of FIELDS) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.dataset.field = key;
      dd.textContent = event[key] === null || event[key] === undefined ? "—" : String(event[key]);
      rows.push(dt, dd);
    }
    if (event.overdue) rows[rows.length - 1].classList.add("overdue");
    $("event-fields").replaceChildren(...rows);
    const allowed = TRANSITIONS[event.status] || [];
    for (const button of this.buttons) {
      button.disabled = !allowed.includes(button.dataset.to) || !button.dataset.from.split(" ").includes(event.status);
    }
    $("event-history").replaceChildren(...(event.history || []).map((h) => {
      const li = document.createElement("li");
      li.dataset.action = h.action;
      const who = h.assignee && h.action.includes("assign") ? ` → ${h.assignee}` : "";
      li.textContent = `${shortTime(h.at)} ${h.action}${who} · ${h.actor}${h.note ? ` — ${h.note}` : ""}`;
      return li;
    }));
  }

  message(text) {
    const el = $("event-message");
    el.hidden = !text;
    el.textContent = text || "";
  }

  /** POST a transition; the server's refusal (409 with the allowed statuses, 400) is shown in the panel. */
  async transition(to, button) {
    if (!this.event) return;
    const actor = $("event-actor").value;
    if (!actor) {
      this.message("Choose who acts (选择操作人)");
      $("event-actor").focus();
      return;
    }
    const body = { to, actor };
    if (to === "assigned") body.assignee = $("event-assignee").value || null;
    const note = $("event-note").value.trim();
    if (note) body.note = note;
    button.disabled = true;
    try {
      const res = await fetch(fillTemplate(this.config.event_transitions_url_template, this.event.id), {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await res.json().catch(() => ({}));
      if (!res.ok) {
        this.message(refusal(res.status, answer.detail));
        this.render(this.event);
        return;
      }
      $("event-note").value = "";
      this.onChanged(answer);
      await this.show(answer.id);
    } catch (error) {
      this.message(String(error.message || error));
      this.render(this.event);
    }
  }

  async loadNearby(id) {
    const url = `${fillTemplate(this.config.event_nearby_url_template, id)}?kinds=${
      encodeURIComponent(this.config.event_nearby_kinds || "fire_station,hospital,hydrant")}&k=3`;
    try {
      const nearby = await fetchJson(url);
      if (this.root.dataset.eventId !== String(id)) return;
      this.nearby = nearby;
      this.renderNearby(nearby);
    } catch (error) {
      if (this.root.dataset.eventId !== String(id)) return;
      $("event-nearby").replaceChildren(textItem(`Nearby unknown: ${error.message || error}`, "muted"));
    }
  }

  renderNearby(nearby) {
    const items = [];
    for (const [kind, found] of Object.entries(nearby.resources)) {
      const quickest = found.by_road.length ? found.by_road : found.straight;
      if (!quickest.length) continue;
      for (const r of quickest) {
        const li = textItem(`${kind}: ${r.name || r.id} · ${metres(r.distance_m)}` + (r.road && "travel_s" in r.road
          ? ` · road ${metres(r.road.distance_m)}, ${Math.round(r.road.travel_s / 6) / 10} min` : ""));
        li.dataset.kind = kind;
        li.dataset.resource = r.id;
        if (r.road && r.road.route) li.dataset.route = "drawn";
        items.push(li);
      }
      this.routes.add(found.by_road.map((r) => r.road && r.road.route).filter(Boolean), kind);
    }
    $("event-nearby").replaceChildren(...(items.length ? items : [textItem("None near (附近无资源)", "muted")]));
    $("event-cameras").replaceChildren(...(nearby.cameras.length ? nearby.cameras.map((c) => {
      const li = textItem(`${c.name || c.id} · ${metres(c.distance_m)} `);
      li.dataset.camera = c.id;
      if (c.stream_url) {
        const link = document.createElement("a");
        link.href = c.stream_url;
        link.textContent = "stream (视频)";
        link.target = "_blank";
        link.rel = "noopener";
        li.append(link);
      }
      return li;
    }) : [textItem("No camera sees it (无覆盖摄像头)", "muted")]));
  }
}

function refusal(status, detail) {
  if (detail && typeof detail === "object") {
    const allowed = (detail.allowed || []).join(", ") || "none";
    return `${status}: ${detail.reason || "refused"} (allowed: ${allowed})`;
  }
  return `${status}: ${detail || "refused"}`;
}

function textItem(text, className = "") {
  const li = document.createElement("li");
  li.textContent = text;
  if (className) li.className = className;
  return li;
}

function metres(m) {
  return m >= 1000 ? `${Math.round(m / 100) / 10} km` : `${Math.round(m)} m`;
}

function shortTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
