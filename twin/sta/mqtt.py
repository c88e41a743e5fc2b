"""The SensorThings MQTT extension on the bridge's broker: Observations created by publishing to
`v1.1/Datastreams('id')/Observations` (or `v1.1/Observations` naming the Datastream) become readings for
`LiveService.post_readings`, and readings stored are published on that topic as STA JSON. Pure."""

from __future__ import annotations

import re
from typing import Any

import orjson

from twin.live.state import from_us, iso
from twin.sta.model import observation_id
from twin.sta.resource import quote_id

PREFIX = "v1.1/"
OBSERVATIONS = "v1.1/Observations"
TOPIC = re.compile(r"v1\.1/Datastreams\((?:'((?:[^']|'')*)'|(\d{1,19}))\)/Observations")
SUBSCRIPTIONS = [OBSERVATIONS, "v1.1/+/Observations"]
PUBLISHED = b'{"@iot.id":'
"""How the Observations the server publishes begin: they come back to a bridge subscribed to the same topics."""
IGNORED = {"resultTime", "resultQuality", "validTime", "parameters", "FeatureOfInterest"}


def is_sta(topic: str) -> bool:
    return topic.startswith(PREFIX)


def observation_topic(sensor_id: str) -> str:
    return f"v1.1/Datastreams({quote_id(sensor_id)})/Observations"


def observation_json(sensor_id: str, time_us: int, value: float, boolean: bool) -> bytes:
    """A stored reading as the Observation entity (the HTTP document's members without links)."""
    time = iso(from_us(time_us))
    return orjson.dumps({"@iot.id": observation_id(sensor_id, time_us), "phenomenonTime": time,
                         "resultTime": time, "result": bool(value) if boolean else value,
                         "Datastream": {"@iot.id": sensor_id}})


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet at QoS 0 (no packet id): fixed header, remaining length, topic, payload."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + payload
    length, size = bytearray(), len(body)
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return b"\x30" + bytes(length) + body


def _datastream(raw: dict[str, Any]) -> str | None:
    link = raw.get("Datastream")
    if isinstance(link, dict) and isinstance(link.get("@iot.id"), str | int):
        return str(link["@iot.id"])
    return None


def _reading(raw: Any, sensor: str | None) -> dict[str, Any] | str:
    """One Observation as a reading, or the reason it cannot be one."""
    if not isinstance(raw, dict):
        return "an Observation is a JSON object with result (and phenomenonTime)"
    if "@iot.id" in raw:
        return "an Observation with @iot.id is one the server published; create one without it"
    named = _datastream(raw)
    if "Datastream" in raw and named is None:
        return "Datastream must be {\"@iot.id\": \"<sensor id>\"}"
    if sensor is not None and named is not None and named != sensor:
        return f"Datastream {named!r} in the payload is not the topic's {sensor!r}"
    sensor = sensor or named
    if sensor is None:
        return "name the Datastream: publish to v1.1/Datastreams('<id>')/Observations or give Datastream/@iot.id"
    unknown = set(raw) - IGNORED - {"result", "phenomenonTime", "Datastream"}
    if unknown:
        return f"unknown Observation members: {', '.join(sorted(unknown))}"
    if "result" not in raw:
        return "an Observation needs a result"
    reading: dict[str, Any] = {"sensor": sensor, "value": raw["result"]}
    time = raw.get("phenomenonTime")
    if time is not None:
        if isinstance(time, str) and "/" in time:
            return "phenomenonTime intervals are not supported; give an instant"
        reading["time"] = time
    return reading


def unpack(topic: str, payload: bytes, max_items: int) -> tuple[list[Any], str | None, dict[int, str]]:
    """A message on an STA topic: the readings it carries, the reason it carries none, and the Observations
    refused before validation (index → reason). The server's own published Observations carry nothing."""
    if payload.startswith(PUBLISHED):
        return [], None, {}
    sensor: str | None = None
    if topic != OBSERVATIONS:
        match = TOPIC.fullmatch(topic)
        if match is None:
            return [], f"{topic[:120]!r} is not v1.1/Observations or v1.1/Datastreams('<id>')/Observations", {}
        sensor = match.group(1).replace("''", "'") if match.group(1) is not None else match.group(2)
    if not payload:
        return [], "payload is empty", {}
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return [], f"payload is not JSON: {exc}", {}
    raws = parsed if isinstance(parsed, list) else [parsed]
    if len(raws) > max_items:
        return [], f"at most {max_items:,} Observations per message, got {len(raws):,}", {}
    items: list[Any] = []
    refused: dict[int, str] = {}
    for index, raw in enumerate(raws):
        reading = _reading(raw, sensor)
        if isinstance(reading, str):
            refused[index] = reading
        else:
            items.append(reading)
    return items, None, refused
