// Alarm list panel: active alarms worst first; "Acknowledge" asks who (the name is remembered in
// localStorage) and POSTs it. Acknowledging is for the live state only, not a replayed past.
import { byWorst } from "./alarm-style.js";

const NAME_KEY = "citytwin.acknowledger";
const $ = (id) => document.getElementById(id);

export class AlarmPanel {
  /** `acknowledge(alarmId, name)` → promise; `onSelect(objectId)` opens an alarm's object. */
  constructor({ acknowledge, onSelect }) {
    this.acknowledge = acknowledge;
    this.onSelect = onSelect;
    this.list = $("alarm-list");
    this.count = $("alarm-count");
    this.name = $("alarm-name");
    this.name.value = localStorage.getItem(NAME_KEY) || "";
    this.name.addEventListener("change", () => this.remember());
    this.readOnly = false;
  }

  remember() {
    const name = this.name.value.trim();
    if (name) localStorage.setItem(NAME_KEY, name);
    return name;
  }

  /** Redraw from the active alarms (a Map or list); `readOnly` while a past is replayed. */
  render(alarms, readOnly = false) {
    this.readOnly = readOnly;
    const sorted = byWorst(alarms.values ? [...alarms.values()] : alarms);
    this.count.textContent = String(sorted.length);
    this.count.dataset.level = sorted.length ? sorted[0].level : "";
    this.list.replaceChildren(...sorted.map((alarm) => this.item(alarm)));
    $("alarm-empty").hidden = sorted.length > 0;
  }

  item(alarm) {
    const li = document.createElement("li");
    li.className = "alarm";
    li.dataset.alarmId = alarm.id;
    li.dataset.level = alarm.level;
    li.dataset.sensor = alarm.sensor;
    if (alarm.object) li.dataset.object = alarm.object;

    const swatch = document.createElement("span");
    swatch.className = `level level-${alarm.level}`;
    swatch.title = alarm.level;
    const text = document.createElement("button");
    text.type = "button";
    text.className = "alarm-text";
    text.textContent = `${alarm.level} · ${alarm.kind} ${alarm.sensor} = ${formatNumber(alarm.value)}`;
    text.title = alarm.object ? `Show ${alarm.object}` : alarm.sensor;
    text.addEventListener("click", () => alarm.object && this.onSelect(alarm.object));
    const when = document.createElement("span");
    when.className = "muted alarm-when";
    when.textContent = shortTime(alarm.raised_at);
    li.append(swatch, text, when);

    if (alarm.acknowledged_by) {
      const by = document.createElement("span");
      by.className = "alarm-ack";
      by.textContent = `✓ ${alarm.acknowledged_by}`;
      li.append(by);
    } else if (!this.readOnly) {
      const ack = document.createElement("button");
      ack.type = "button";
      ack.className = "alarm-ack-button";
      ack.textContent = "Acknowledge (确认)";
      ack.addEventListener("click", () => this.ack(alarm, ack));
      li.append(ack);
    }
    return li;
  }

  async ack(alarm, button) {
    const name = this.remember();
    if (!name) {
      this.name.focus();
      this.name.classList.add("wanted");
      return; // who acknowledges is required
    }
    this.name.classList.remove("wanted");
    button.disabled = true;
    try {
      await this.acknowledge(alarm.id, name);
    } catch (error) {
      button.disabled = false;
      button.title = String(error.message || error);
      button.classList.add("failed");
    }
  }
}

function formatNumber(value) {
  return typeof value === "number" ? String(Math.round(value * 100) / 100) : "—";
}

function shortTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
