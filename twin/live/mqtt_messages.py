"""MQTT messages → readings, the bridge's pure core: the topic scheme (docs/live-protocol.md, "MQTT"), a message's
readings or the reason it carries none, and the readings of the messages gathered in one window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from twin.sta import mqtt as sta_mqtt

if TYPE_CHECKING:
    import aiomqtt

READINGS = "citytwin/readings"
ERRORS = "citytwin/errors"
SHARE_GROUP = "citytwin"


@dataclass
class Unpacked:
    """What one message carries: readings for `post_readings`, or the reason it carries none, and items refused
    before validation (index in the message → reason)."""

    items: list[Any] = field(default_factory=list)
    reason: str | None = None
    refused: dict[int, str] = field(default_factory=dict)


def unpack(topic: str, payload: bytes, max_items: int) -> Unpacked:
    """`citytwin/readings`: a reading or an array of them; `citytwin/readings/{sensor}`: {time, value, unit} (or
    an array of such), the sensor taken from the topic; SensorThings topics (`v1.1/…`): Observations."""
    if sta_mqtt.is_sta(topic):
        items, reason, refused = sta_mqtt.unpack(topic, payload, max_items)
        return Unpacked(items, reason, refused)
    if not payload:
        return Unpacked(reason="payload is empty")
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Unpacked(reason=f"payload is not JSON: {exc}")
    raws = parsed if isinstance(parsed, list) else [parsed]
    if len(raws) > max_items:
        return Unpacked(reason=f"at most {max_items:,} readings per message, got {len(raws):,}")
    if topic == READINGS:
        return Unpacked(items=raws)
    sensor = topic[len(READINGS) + 1:]
    unpacked = Unpacked()
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            unpacked.refused[index] = f"a reading on {topic} is a JSON object with time, value (and unit)"
        elif raw.get("sensor", sensor) != sensor:
            unpacked.refused[index] = f"sensor {raw['sensor']!r} in the payload is not the topic's {sensor!r}"
        else:
            unpacked.items.append({**raw, "sensor": sensor})
    return unpacked


def error_topic(topic: str) -> str:
    """Where rejections of a message go: `citytwin/errors/{sensor}`, or `citytwin/errors/batch`."""
    return f"{ERRORS}/{topic[len(READINGS) + 1:]}" if topic.startswith(READINGS + "/") else f"{ERRORS}/batch"


@dataclass
class Batch:
    """Messages gathered in one window, their readings in one list, and per message what was refused."""

    messages: list[aiomqtt.Message] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    origin: list[tuple[int, int]] = field(default_factory=list)  # per item: (message, index in the message)
    errors: dict[int, dict[str, Any]] = field(default_factory=dict)  # per message: the error payload

    def add(self, message: aiomqtt.Message, max_items: int) -> None:
        number = len(self.messages)
        self.messages.append(message)
        if message.retain:  # a retained copy, sent again at every subscribe: its live delivery was taken already
            return
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        unpacked = unpack(topic, payload, max_items)
        if unpacked.reason is not None:
            self.errors[number] = {"topic": topic, "reason": unpacked.reason}
            return
        for index, reason in unpacked.refused.items():
            self._refuse(number, index, reason)
        kept = [i for i in range(len(unpacked.items) + len(unpacked.refused)) if i not in unpacked.refused]
        self.origin.extend((number, i) for i in kept)
        self.items.extend(unpacked.items)

    def _refuse(self, number: int, index: int, reason: str) -> None:
        error = self.errors.setdefault(number, {"topic": str(self.messages[number].topic), "rejected": []})
        error["rejected"].append({"index": index, "reason": reason})

    def rejected(self, rejections: list[dict[str, Any]]) -> None:
        """Validation's rejections (indexes into `items`) filed under their messages."""
        for rejection in rejections:
            number, index = self.origin[rejection["index"]]
            self._refuse(number, index, rejection["reason"])
        for error in self.errors.values():
            error.get("rejected", []).sort(key=lambda r: r["index"])


def subscriptions(shared: bool) -> list[str]:
    """The readings topics, as a shared subscription when several bridges split the messages. (mosquitto 2.0 does
    not persist shared subscriptions across its restarts, so one bridge alone subscribes plainly.)"""
    topics = [READINGS, f"{READINGS}/+", *sta_mqtt.SUBSCRIPTIONS]
    return [f"$share/{SHARE_GROUP}/{topic}" for topic in topics] if shared else topics
