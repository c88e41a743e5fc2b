// Events as the viewer names and colours them: kinds, severities (the alarm colours), the lifecycle as the
// server runs it (twin/events/lifecycle.py; the server decides, this only offers the buttons that make sense).
import { LEVEL_COLORS } from "./alarm-style.js";

export const KINDS = ["fire", "gas_leak", "water_logging", "manhole_missing", "elevator_entrapment", "structural",
  "crowding", "other"];
export const SEVERITIES = ["blue", "yellow", "orange", "red"];
export const SEVERITY_COLORS = LEVEL_COLORS;
export const OPEN = ["reported", "assigned", "handling", "verifying"];
export const TRANSITIONS = {
  reported: ["assigned", "cancelled"],
  assigned: ["assigned", "handling", "cancelled"],
  handling: ["verifying", "cancelled"],
  verifying: ["closed", "handling", "cancelled"],
  closed: [],
  cancelled: [],
};
const RANK = { blue: 1, yellow: 2, orange: 3, red: 4 };

/** The worse of two severities (null: none). */
export function worseSeverity(a, b) {
  return (RANK[b] || 0) > (RANK[a] || 0) ? b : a || null;
}

/** Whether an event is still open (shown as a marker). */
export function isOpen(event) {
  return OPEN.includes(event.status);
}
