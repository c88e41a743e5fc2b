"""The subscription hub: routes what the live state emits to the clients whose scope holds it.

Pure and synchronous: `apply` never waits on a client. Each client has a bounded outbox — readings coalesce to
the latest per sensor while it lags, everything else (alarms, events, status, tilesets) is kept in order up to
`outbox_limit`, past which the client is marked overflowed (the adapter tells it its resume point and closes
it). A reading finds its subscribers through the sensor → clients map built at subscribe time; an event finds
them through a grid of subscription areas, so no message loops over every subscription.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson

from twin.live.scope import Grid, Scope, cell_of, cells_of
from twin.live.sensors import Sensor
from twin.live.state import Applied, LiveState, Route

SENSOR_CHANNELS = ("readings", "alarms", "status")
SEQ = attrgetter("seq")


class Encoded:
    """A routed message and its JSON, made once by the first client that sends it and shared by the rest."""

    __slots__ = ("_raw", "message", "seq")

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message
        self.seq: int = message["seq"]
        self._raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self.message)
        return self._raw


def frame_bytes(messages: list[Encoded]) -> bytes:
    """A websocket text frame's payload holding these messages as one JSON array (UTF-8)."""
    return b"[" + b",".join(m.raw for m in messages) + b"]"


def frame(messages: list[Encoded]) -> str:
    """The same as text."""
    return frame_bytes(messages).decode()


@dataclass
class Outbox:
    readings: dict[str, Encoded] = field(default_factory=dict)
    ordered: list[Encoded] = field(default_factory=list)
    coalesced: int = 0
    overflowed: bool = False
    delivered: int = 0  # the highest sequence number handed out in full

    def __bool__(self) -> bool:
        return bool(self.readings or self.ordered)


@dataclass
class Client:
    id: str
    scope: Scope
    wake: Callable[[], None] | None = None
    sensors: set[str] = field(default_factory=set)
    cells: list[tuple[int, int]] | None = None
    outbox: Outbox = field(default_factory=Outbox)


class Hub:
    def __init__(self, state: LiveState | None = None, ring_size: int = 100_000, outbox_limit: int = 10_000) -> None:
        self.state = state or LiveState()
        self.clients: dict[str, Client] = {}
        self.sensor_subs: dict[str, set[str]] = {}
        self.area_grid = Grid()
        self.wide: set[str] = set()  # clients with no area grid: everywhere, objects only, or very large areas
        self.ring: deque[tuple[int, dict[str, Any], Route]] = deque(maxlen=ring_size)
        self.ring_floor = self.state.seq  # messages up to here may be gone from the ring
        self.outbox_limit = outbox_limit
        self.dropped_clients = 0

    # -- clients -----------------------------------------------------------------------------------------------
    def add_client(self, client_id: str, scope: Scope, wake: Callable[[], None] | None = None) -> Client:
        self.remove_client(client_id)
        client = self.clients[client_id] = Client(client_id, scope, wake)
        client.outbox.delivered = self.state.seq
        if scope.area is not None:
            client.cells = cells_of(scope.area.bounds)
        if client.cells is None:
            self.wide.add(client_id)
        else:
            self.area_grid.add(client_id, client.cells)
        client.sensors = self.sensors_in(scope)
        for sensor_id in client.sensors:
            self.sensor_subs.setdefault(sensor_id, set()).add(client_id)
        return client

    def remove_client(self, client_id: str) -> None:
        client = self.clients.pop(client_id, None)
        if client is None:
            return
        if client.cells is None:
            self.wide.discard(client_id)
        else:
            self.area_grid.remove(client_id, client.cells)
        for sensor_id in client.sensors:
            subs = self.sensor_subs.get(sensor_id)
            if subs is not None:
                subs.discard(client_id)
                if not subs:
                    del self.sensor_subs[sensor_id]

    def sensors_in(self, scope: Scope) -> set[str]:
        sensors = self.state.sensors
        if scope.everywhere:
            found = set(sensors)
        else:
            found = set()
            if scope.objects is not None:
                for object_id in scope.objects:
                    found |= self.state.by_object.get(object_id, set())
            if scope.area is not None:
                cells = cells_of(scope.area.bounds)
                candidates = self.state.grid.within(cells) if cells is not None else iter(sensors)
                for sensor_id in candidates:
                    sensor = sensors[sensor_id]
                    if sensor.positioned and scope.area.holds(sensor.lon, sensor.lat):  # type: ignore[arg-type]
                        found.add(sensor_id)
        if scope.kinds is not None:
            found = {s for s in found if sensors[s].kind in scope.kinds}
        return found

    def _clients_at(self, lon: float | None, lat: float | None, object_id: str | None) -> set[str]:
        candidates = set(self.wide)
        if lon is not None and lat is not None:
            candidates |= self.area_grid.at(cell_of(lon, lat))
        return {c for c in candidates if self.clients[c].scope.holds(lon, lat, object_id)}

    def _refile_sensor(self, sensor_id: str, sensor: Sensor | None) -> None:
        for client_id in self.sensor_subs.pop(sensor_id, set()):
            self.clients[client_id].sensors.discard(sensor_id)
        if sensor is None:
            return
        for client_id in self._clients_at(sensor.lon, sensor.lat, sensor.object_id):
            client = self.clients[client_id]
            if client.scope.takes_kind(sensor.kind):
                client.sensors.add(sensor_id)
                self.sensor_subs.setdefault(sensor_id, set()).add(client_id)

    # -- publishing --------------------------------------------------------------------------------------------
    def apply(self, seq: int, entry: dict[str, Any]) -> Applied:
        """Advance the state by one bus entry and put what it causes into the outboxes in scope."""
        applied = self.state.apply(seq, entry)
        if entry.get("k") in ("sensor", "sensor_delete"):
            sensor_id = entry["sensor"]["id"] if entry["k"] == "sensor" else entry["id"]
            self._refile_sensor(sensor_id, self.state.sensors.get(sensor_id))
        for message, route in applied.messages:
            self._route(message, route)
        return applied

    def _route(self, message: dict[str, Any], route: Route) -> None:
        if route.channel != "readings" and message["type"] != "drill_frame":  # frames replay from storage
            if len(self.ring) == self.ring.maxlen:
                self.ring_floor = self.ring[0][0]
            self.ring.append((message["seq"], message, route))
        if route.channel in ("tilesets", "drills") and route.lon is None and route.object_id is None:
            targets: set[str] | list[str] = list(self.clients)
        elif route.channel in SENSOR_CHANNELS and route.sensor_id is not None and message["type"] != "sensor":
            targets = self.sensor_subs.get(route.sensor_id, set())
        else:
            targets = self._clients_at(route.lon, route.lat, route.object_id)
        if not targets:
            return
        encoded = Encoded(message)
        clients, channel = self.clients, route.channel
        if channel == "readings":  # most messages: each client keeps the latest per sensor
            self._put_reading(targets, encoded, route.sensor_id)
            return
        of_sensor = message["type"] == "sensor"
        for client_id in targets:
            client = clients[client_id]
            if channel not in client.scope.channels:
                continue
            if of_sensor and not client.scope.takes_kind(message["sensor"].get("kind", "")) \
                    and "kind" in message["sensor"]:
                continue
            box = client.outbox
            if box.overflowed:
                continue
            was_empty = not box.readings and not box.ordered
            if len(box.ordered) >= self.outbox_limit:
                box.overflowed = True
                self.dropped_clients += 1
            else:
                box.ordered.append(encoded)
            if was_empty and client.wake is not None:
                client.wake()

    def _put_reading(self, targets: set[str] | list[str], message: Encoded, sensor_id: str | None) -> None:
        """A reading into the outboxes of its subscribers, replacing one of the same sensor still waiting there."""
        assert sensor_id is not None
        clients = self.clients
        for client_id in targets:
            client = clients[client_id]
            box = client.outbox
            if box.overflowed or "readings" not in client.scope.channels:
                continue
            readings = box.readings
            was_empty = not readings and not box.ordered
            if sensor_id in readings:
                box.coalesced += 1
            readings[sensor_id] = message
            if was_empty and client.wake is not None:
                client.wake()

    def drain_encoded(self, client_id: str) -> list[Encoded]:
        """Everything pending for a client, in sequence order; empties its outbox."""
        box = self.clients[client_id].outbox
        messages = list(box.readings.values()) + box.ordered
        messages.sort(key=SEQ)  # stable: a reading comes before the alarm it caused
        box.ordered, box.readings = [], {}
        box.delivered = max(box.delivered, self.state.seq)
        return messages

    def drain(self, client_id: str) -> list[dict[str, Any]]:
        """The same as messages."""
        return [m.message for m in self.drain_encoded(client_id)]

    # -- snapshot and resume -----------------------------------------------------------------------------------
    def snapshot(self, client_id: str) -> dict[str, Any]:
        """The state in a client's scope now: latest values and status of its sensors, active alarms, open
        events; `seq` is where its deltas begin."""
        client = self.clients[client_id]
        state, channels = self.state, client.scope.channels
        sensors = [state.sensors[s] for s in sorted(client.sensors)]
        latest = [state.reading_message(s, state.latest[s.id]) for s in sensors if s.id in state.latest] \
            if "readings" in channels else []
        status = [state.status_message(s, state.status[s.id]) for s in sensors if s.id in state.status] \
            if "status" in channels else []
        alarms = [a for a in state.alarms.values() if a["sensor"] in client.sensors] if "alarms" in channels else []
        events = [e for e in state.events.values() if self._holds_event(client, e)
                  and ("drills" if e.get("source") == "drill" else "events") in channels]
        client.outbox = Outbox(delivered=state.seq)
        return {"type": "snapshot", "seq": state.seq, "sensors": [s.as_json() for s in sensors],
                "readings": latest, "status": status, "alarms": alarms, "events": events}

    def resume(self, client_id: str, since: int) -> list[dict[str, Any]] | None:
        """What a client that had everything up to `since` has missed, or None when the ring no longer reaches
        back that far (the client must take a snapshot)."""
        state = self.state
        if not self.ring_floor <= since <= state.seq:
            return None
        client = self.clients[client_id]
        channels = client.scope.channels
        missed: list[dict[str, Any]] = []
        for seq, message, route in self.ring:
            if seq > since and route.channel in channels and self._holds(client, message, route):
                missed.append(message)
        for sensor_id in client.sensors:
            latest = state.latest.get(sensor_id)
            if "readings" in channels and latest is not None and latest.seq > since:
                missed.append(state.reading_message(state.sensors[sensor_id], latest))
        missed.sort(key=lambda m: m["seq"])
        client.outbox = Outbox(delivered=state.seq)
        return missed

    @staticmethod
    def _holds_event(client: Client, event: dict[str, Any]) -> bool:
        lon, lat = (event.get("location") or [None, None])[:2]
        return client.scope.holds(lon, lat, event.get("object_id"))

    def _holds(self, client: Client, message: dict[str, Any], route: Route) -> bool:
        if route.channel in ("tilesets", "drills") and route.lon is None and route.object_id is None:
            return True
        if route.sensor_id is not None and message["type"] != "sensor":
            return route.sensor_id in client.sensors
        return client.scope.holds(route.lon, route.lat, route.object_id)
