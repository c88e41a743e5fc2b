"""The live state as values: sensors, latest reading, online status, alarms and open events, advanced by bus
entries in bus order. Every worker applies the same entries in the same order and so holds the same state.

Entries (`k` names the kind): `readings` (`r`: [sensor, Unix µs, value] rows, `at`: when they were received, `o`:
the worker that stored them), `sensor` (an upsert), `sensor_delete`, `ack` (an alarm acknowledged), `event` (an
event opened or changed), `tileset` (a tileset changed) and `sweep` (`now`: sensors silent for longer than their
kind allows go offline). Applying one yields the messages it causes, each with its route. Nothing here reads a
clock: times come in the entries.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from twin.live.alarms import RANK, Rule, SensorAlarm, Transition, parse_rule, step
from twin.live.kinds import KINDS
from twin.live.scope import Grid, cell_of
from twin.live.sensors import Sensor, parse_sensor

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(time: datetime) -> int:
    return (time - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def iso(time: datetime) -> str:
    return time.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Route:
    """Who a message is for: the subscribers of a sensor, of a place, or everyone on the channel. (Not frozen:
    one is made per message, and a frozen dataclass costs several times as much to make.)"""

    channel: str
    sensor_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    object_id: str | None = None


@dataclass(slots=True)
class Latest:
    time: datetime
    value: float
    seq: int


@dataclass(slots=True)
class Status:
    online: bool
    seq: int
    last_seen: datetime


@dataclass
class Applied:
    """What one entry caused: messages with their routes, and alarm transitions (for the storing worker)."""

    messages: list[tuple[dict[str, Any], Route]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    origin: str | None = None


@functools.cache
def _default_rule(kind: str) -> Rule | None:
    """A kind's default thresholds, parsed once (not for every reading)."""
    defaults = KINDS[kind].thresholds
    return parse_rule(defaults) if defaults else None


class LiveState:
    def __init__(self) -> None:
        self.sensors: dict[str, Sensor] = {}
        self.sensors_version = 0
        """Counts the changes of `sensors` (for indexes of them kept elsewhere)."""
        self.grid = Grid()
        self.by_object: dict[str, set[str]] = {}
        self.latest: dict[str, Latest] = {}
        self.status: dict[str, Status] = {}
        self.alarm_state: dict[str, SensorAlarm] = {}
        self.alarms: dict[str, dict[str, Any]] = {}  # active alarms by alarm id
        self.events: dict[str, dict[str, Any]] = {}  # open events by id
        self.kind_rules: dict[str, Rule] = {}
        self.tileset_versions: dict[str, Any] = {}
        self.seq = 0
        self.deadlines: dict[int, list[str]] = {}  # Unix µs → online sensors whose silence ends then (sweeps)
        self.deadline_heap: list[int] = []

    def rule_of(self, sensor: Sensor) -> Rule | None:
        """A sensor's own thresholds, else its kind's as configured, else the kind's defaults."""
        if sensor.thresholds is not None:
            return sensor.thresholds
        if sensor.kind in self.kind_rules:
            return self.kind_rules[sensor.kind]
        return _default_rule(sensor.kind)

    def alarm_of(self, sensor_id: str) -> dict[str, Any] | None:
        """A sensor's active alarm, if it has one."""
        standing = self.alarm_state.get(sensor_id)
        if standing is None or standing.alarm_id is None:
            return None
        return self.alarms.get(standing.alarm_id)

    def load_latest(self, rows: list[tuple[str, datetime, float, datetime]]) -> None:
        """Latest values as stored; their sensors count as online until a sweep finds them silent."""
        for sensor_id, time, value, received_at in rows:
            if sensor_id in self.sensors:
                self.latest[sensor_id] = Latest(time, value, self.seq)
                self.status[sensor_id] = Status(True, self.seq, received_at)
                self._watch(sensor_id, received_at)

    def load_alarms(self, rows: list[dict[str, Any]]) -> None:
        """Active alarms as stored, and each sensor's alarm standing at their level."""
        for row in rows:
            self.alarms[row["id"]] = {
                "id": row["id"], "sensor": row["sensor_id"], "object": row["object_id"], "kind": row["kind"],
                "raised_at": iso(row["raised_at"]), "level": row["level"], "value": row["value"],
                "updated_at": iso(row["updated_at"]), "acknowledged_by": row["acknowledged_by"],
                "acknowledged_at": iso(row["acknowledged_at"]) if row["acknowledged_at"] else None}
            self.alarm_state[row["sensor_id"]] = SensorAlarm(RANK[row["level"]], row["raised_at"],
                                                             acknowledged_by=row["acknowledged_by"],
                                                             alarm_id=row["id"])

    # -- sensors -----------------------------------------------------------------------------------------------
    def put_sensor(self, sensor: Sensor) -> Sensor | None:
        """Add or replace a sensor; the one it replaced."""
        old = self.sensors.get(sensor.id)
        if old is not None:
            self._unfile(old)
        self.sensors[sensor.id] = sensor
        self.sensors_version += 1
        if sensor.positioned:
            assert sensor.lon is not None and sensor.lat is not None
            self.grid.add(sensor.id, [cell_of(sensor.lon, sensor.lat)])
        if sensor.object_id:
            self.by_object.setdefault(sensor.object_id, set()).add(sensor.id)
        status = self.status.get(sensor.id)
        if old is not None and status is not None and status.online:  # its timeout may have changed
            self._watch(sensor.id, status.last_seen)
        return old

    def drop_sensor(self, sensor_id: str) -> Sensor | None:
        old = self.sensors.pop(sensor_id, None)
        if old is not None:
            self._unfile(old)
            self.sensors_version += 1
        self.latest.pop(sensor_id, None)
        self.status.pop(sensor_id, None)
        self.alarm_state.pop(sensor_id, None)
        for gone in [a for a, alarm in self.alarms.items() if alarm["sensor"] == sensor_id]:
            del self.alarms[gone]
        return old

    def _unfile(self, sensor: Sensor) -> None:
        if sensor.positioned:
            assert sensor.lon is not None and sensor.lat is not None
            self.grid.remove(sensor.id, [cell_of(sensor.lon, sensor.lat)])
        if sensor.object_id:
            members = self.by_object.get(sensor.object_id)
            if members is not None:
                members.discard(sensor.id)
                if not members:
                    del self.by_object[sensor.object_id]

    # -- messages ----------------------------------------------------------------------------------------------
    def reading_message(self, sensor: Sensor, latest: Latest) -> dict[str, Any]:
        return {"type": "reading", "seq": latest.seq, "sensor": sensor.id, "object": sensor.object_id,
                "kind": sensor.kind, "time": iso(latest.time), "value": latest.value}

    def status_message(self, sensor: Sensor, status: Status) -> dict[str, Any]:
        return {"type": "status", "seq": status.seq, "sensor": sensor.id, "object": sensor.object_id,
                "online": status.online, "last_seen": iso(status.last_seen)}

    def sensor_route(self, sensor: Sensor, channel: str) -> Route:
        return Route(channel, sensor.id, sensor.lon, sensor.lat, sensor.object_id)

    # -- applying entries --------------------------------------------------------------------------------------
    def apply(self, seq: int, entry: dict[str, Any]) -> Applied:
        self.seq = seq
        kind = entry.get("k")
        out = Applied(origin=entry.get("o"))
        if kind == "readings":
            now = from_us(entry["at"])
            for sensor_id, time_us, value in entry["r"]:
                self._reading(seq, sensor_id, from_us(time_us), value, now, out)
        elif kind == "sensor":
            sensor = parse_sensor(entry["sensor"])
            self.put_sensor(sensor)
            out.messages.append(({"type": "sensor", "seq": seq, "action": "upsert", "sensor": sensor.as_json()},
                                 self.sensor_route(sensor, "status")))
        elif kind == "sensor_delete":
            old = self.drop_sensor(entry["id"])
            if old is not None:
                out.messages.append(({"type": "sensor", "seq": seq, "action": "delete", "sensor": {"id": old.id}},
                                     self.sensor_route(old, "status")))
        elif kind == "ack":
            self._ack(seq, entry, out)
        elif kind == "event":
            self._event(seq, entry["event"], out)
        elif kind == "kind_rule":
            if entry["rule"] is None:
                self.kind_rules.pop(entry["kind"], None)
            else:
                self.kind_rules[entry["kind"]] = parse_rule(entry["rule"])
        elif kind == "tileset":
            notice = entry["notice"]
            key = (notice.get("tileset"), notice.get("version"))
            if self.tileset_versions.get(str(key[0])) != key[1]:  # every worker forwards the same NOTIFY
                self.tileset_versions[str(key[0])] = key[1]
                out.messages.append(({**notice, "type": "tileset", "seq": seq}, Route("tilesets")))
        elif kind == "sweep":
            out.messages.extend(self._sweep(seq, from_us(entry["now"])))
        elif kind == "drill_frame":  # a drill's frame, as its worker played it (twin/drills/runner.py)
            out.messages.append(({"type": "drill_frame", "seq": seq, "run": entry["run"], "t": entry["t"],
                                  "frame": entry["frame"]}, Route("drills")))
        elif kind == "drill_run":
            out.messages.append(({"type": "drill_run", "seq": seq, "run": entry["run"]}, Route("drills")))
        return out

    def _reading(self, seq: int, sensor_id: str, time: datetime, value: float, now: datetime, out: Applied) -> None:
        sensor = self.sensors.get(sensor_id)
        if sensor is None:
            return
        status = self.status.get(sensor_id)
        if status is None or not status.online:
            status = self.status[sensor_id] = Status(True, seq, now)
            self._watch(sensor_id, now)
            out.messages.append((self.status_message(sensor, status), self.sensor_route(sensor, "status")))
        else:
            status.last_seen = now
        latest = self.latest.get(sensor_id)
        if latest is not None and latest.time >= time:
            return  # a late or repeated reading is stored but changes nothing live
        latest = self.latest[sensor_id] = Latest(time, value, seq)
        out.messages.append((self.reading_message(sensor, latest), self.sensor_route(sensor, "readings")))
        rule = self.rule_of(sensor)
        if rule is None:
            return
        alarm = self.alarm_state.get(sensor_id)
        if alarm is None:  # not setdefault: that would build a SensorAlarm for every reading
            alarm = self.alarm_state[sensor_id] = SensorAlarm()
        transition = step(alarm, rule, sensor_id, time, value)
        if transition is None:
            return
        out.transitions.append(transition)
        record = self.alarms.get(transition.alarm_id)
        if transition.action == "raised" or record is None:
            record = self.alarms[transition.alarm_id] = {
                "id": transition.alarm_id, "sensor": sensor_id, "object": sensor.object_id, "kind": sensor.kind,
                "raised_at": iso(transition.raised_at), "acknowledged_by": None, "acknowledged_at": None}
        record.update(level=transition.level, value=value, updated_at=iso(time))
        message = {"type": "alarm", "seq": seq, "action": transition.action, "previous": transition.previous,
                   **record}
        if transition.action == "cleared":
            del self.alarms[transition.alarm_id]
            message["cleared_at"] = iso(time)
        out.messages.append((message, self.sensor_route(sensor, "alarms")))

    def _ack(self, seq: int, entry: dict[str, Any], out: Applied) -> None:
        record = self.alarms.get(entry["alarm"])
        if record is None:
            return
        record.update(acknowledged_by=entry["by"], acknowledged_at=entry["at"])
        sensor = self.sensors.get(record["sensor"])
        alarm = self.alarm_state.get(record["sensor"])
        if alarm is not None:
            alarm.acknowledged_by = entry["by"]
        route = self.sensor_route(sensor, "alarms") if sensor else Route("alarms", record["sensor"])
        out.messages.append(({"type": "alarm", "seq": seq, "action": "acknowledged", "previous": record["level"],
                              **record}, route))

    def _event(self, seq: int, event: dict[str, Any], out: Applied) -> None:
        if event.get("status") in ("closed", "cancelled"):
            self.events.pop(str(event["id"]), None)
        else:
            self.events[str(event["id"])] = event
        lon, lat = (event.get("location") or [None, None, None])[:2]
        out.messages.append(({"type": "event", "seq": seq, "event": event},
                             Route("drills" if event.get("source") == "drill" else "events", None, lon, lat,
                                   event.get("object_id"))))

    def _timeout(self, sensor: Sensor) -> float:
        return sensor.attributes.get("offline_after_s") or KINDS[sensor.kind].offline_after_s

    def _watch(self, sensor_id: str, last_seen: datetime, earliest: int = 0) -> None:
        """File an online sensor under the instant its silence would end (not before `earliest`), so a sweep
        looks only at the sensors whose time has come instead of at every sensor."""
        due = max(to_us(last_seen) + math.floor(self._timeout(self.sensors[sensor_id]) * 1e6), earliest)
        bucket = self.deadlines.get(due)
        if bucket is None:
            bucket = self.deadlines[due] = []
            heapq.heappush(self.deadline_heap, due)
        bucket.append(sensor_id)

    def _sweep(self, seq: int, now: datetime) -> Iterator[tuple[dict[str, Any], Route]]:
        """Online sensors silent for longer than their timeout go offline; the others due now are filed again
        under their new deadline."""
        now_us = to_us(now)
        while self.deadline_heap and self.deadline_heap[0] < now_us:
            due = heapq.heappop(self.deadline_heap)
            for sensor_id in self.deadlines.pop(due):
                status, sensor = self.status.get(sensor_id), self.sensors.get(sensor_id)
                if status is None or sensor is None or not status.online:
                    continue
                if (now - status.last_seen).total_seconds() > self._timeout(sensor):
                    status.online, status.seq = False, seq
                    yield self.status_message(sensor, status), self.sensor_route(sensor, "status")
                else:
                    self._watch(sensor_id, status.last_seen, due + 1)
