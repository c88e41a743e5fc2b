// The live twin as the viewer holds it: sensors, latest readings, online status and active alarms, advanced by
// snapshots and messages of the live protocol; and each object's worst alarm level.
import { worst } from "./alarm-style.js";

const BUILDING = /^(ifc)?building$/i;

export class LiveState {
  constructor() {
    this.sensors = new Map(); // id → sensor (as the server describes it)
    this.readings = new Map(); // sensor id → { time, value }
    this.online = new Map(); // sensor id → boolean
    this.alarms = new Map(); // alarm id → alarm
    this.lineage = new Map(); // object id → { kind, ancestors: [{ id, kind }] nearest first }
    this.time = null; // the instant shown: null live, else the replayed time
    this.alarmsVersion = 0; // goes up whenever the active alarms change
  }

  /** A live snapshot replaces everything; a replay snapshot replaces readings and alarms only. */
  applySnapshot(snapshot) {
    if (snapshot.sensors) {
      this.sensors = new Map(snapshot.sensors.map((s) => [s.id, s]));
      this.online = new Map((snapshot.status || []).map((s) => [s.sensor, s.online]));
    }
    this.readings = new Map((snapshot.readings || []).map((r) => [r.sensor, { time: r.time, value: r.value }]));
    this.alarms = new Map((snapshot.alarms || []).map((a) => [a.id, a]));
    this.alarmsVersion++;
    this.time = snapshot.mode === "replay" ? snapshot.time : null;
  }

  /** Apply one message; true when it changed what is drawn. */
  apply(message) {
    switch (message.type) {
      case "reading":
        this.readings.set(message.sensor, { time: message.time, value: message.value });
        if (message.replay) this.time = message.time;
        return true;
      case "status":
        this.online.set(message.sensor, message.online);
        return true;
      case "sensor":
        if (message.action === "delete") this.sensors.delete(message.sensor.id);
        else this.sensors.set(message.sensor.id, message.sensor);
        return true;
      case "alarm":
        return this.applyAlarm(message);
      default:
        return false;
    }
  }

  applyAlarm(message) {
    if (message.replay) this.time = message.updated_at;
    this.alarmsVersion++;
    if (message.action === "cleared") {
      this.alarms.delete(message.id);
    } else if (message.action === "acknowledged") {
      const alarm = this.alarms.get(message.id);
      if (alarm) Object.assign(alarm, { acknowledged_by: message.acknowledged_by });
    } else {
      const { type, seq, action, previous, replay, ...alarm } = message;
      const before = this.alarms.get(message.id);
      this.alarms.set(message.id, { acknowledged_by: before ? before.acknowledged_by : null, ...alarm });
    }
    return true;
  }

  /** Worst active level of each sensor. */
  sensorLevels() {
    const levels = new Map();
    for (const alarm of this.alarms.values()) levels.set(alarm.sensor, worst(levels.get(alarm.sensor), alarm.level));
    return levels;
  }

  /** Object ids of alarms whose parent chain is not known yet. */
  unknownAncestry() {
    const missing = new Set();
    for (const alarm of this.alarms.values()) {
      if (alarm.object && !this.lineage.has(alarm.object)) missing.add(alarm.object);
    }
    return [...missing];
  }

  /** Record objects' lineage ({ id → { kind, ancestors } }); ids the server did not know count as known. */
  addLineage(asked, objects) {
    for (const id of asked) this.lineage.set(id, objects[id] || { kind: null, ancestors: [] });
  }

  /**
   * Worst active level per object: an alarm counts for its object and the object's parents up to the building
   * that holds it (a room's alarm colours the room, its storey and its building, not the site around them).
   */
  objectLevels() {
    const levels = new Map();
    const raise = (id, level) => levels.set(id, worst(levels.get(id), level));
    for (const alarm of this.alarms.values()) {
      if (!alarm.object) continue;
      raise(alarm.object, alarm.level);
      const { kind, ancestors } = this.lineage.get(alarm.object) || { kind: null, ancestors: [] };
      if (BUILDING.test(kind || "")) continue;
      for (const parent of ancestors) {
        raise(parent.id, alarm.level);
        if (BUILDING.test(parent.kind || "")) break;
      }
    }
    return levels;
  }
}
