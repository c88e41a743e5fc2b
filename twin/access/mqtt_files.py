"""The MQTT side of the key table as mosquitto's two files (pure): the password file (`user:$7$…`, the key id as
user name, the hash stored with the key) and the ACL file (what each user may publish and subscribe to).

- the server's own user (the bridge, the demo's devices): everything, shared subscriptions too;
- a device key: publish `citytwin/readings/{sensor}` and `v1.1/Datastreams('{sensor}')/Observations` for its
  sensors, subscribe to those Observations and `citytwin/errors/{sensor}`;
- an admin key: publish every per-sensor and batch readings topic and Observations, subscribe `v1.1/#` and
  `citytwin/errors/#`;
- a viewer or operator key: subscribe `v1.1/#` (the SensorThings Observations), publish nothing.

Topics naming the sensor only in the payload (`citytwin/readings`, `v1.1/Observations`) are left to admin keys:
the broker checks topics, not payloads. Users not in the ACL file may do nothing, and with a password file no one
connects without a user of it (anonymous: refused).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from twin.access.roles import Role
from twin.access.store import KeyRecord

SERVICE_USER = "citytwin-server"
TOPIC_SAFE = re.compile(r"^[^\s+#/\x00]+$")
"""A sensor id that names one topic level (sensor codes always do: letters, digits and `. _ : -`)."""


@dataclass(frozen=True)
class MqttFiles:
    passwords: str
    acl: str


def _datastream_topics(sensor: str) -> list[str]:
    """The Observations create topic of a sensor, in both spellings the bridge takes for an all-digit id."""
    topics = [f"v1.1/Datastreams('{sensor.replace(chr(39), chr(39) * 2)}')/Observations"]
    if sensor.isdigit() and len(sensor) <= 19:
        topics.append(f"v1.1/Datastreams({sensor})/Observations")
    return topics


def _rules(record: KeyRecord) -> list[str]:
    if record.role is Role.DEVICE:
        rules = []
        for sensor in sorted(s for s in record.sensors if TOPIC_SAFE.match(s)):
            rules.append(f"topic write citytwin/readings/{sensor}")
            rules.extend(f"topic readwrite {topic}" for topic in _datastream_topics(sensor))
            rules.append(f"topic read citytwin/errors/{sensor}")
        return rules
    if record.role is Role.ADMIN:
        return ["topic write citytwin/readings", "topic write citytwin/readings/+", "topic readwrite v1.1/#",
                "topic read citytwin/errors/#"]
    return ["topic read v1.1/#"]


def mqtt_files(keys: Iterable[KeyRecord], service_hash: str | None,
               service_user: str = SERVICE_USER) -> MqttFiles:
    """The files for the active keys that have an MQTT hash (keys made before it was stored have none and cannot
    connect), and the server's own user when its hash is given (without, the ACL still names it)."""
    passwords: list[str] = []
    acl = ["# written by CityTwin from its key table (docs/access.md, \"MQTT\"); do not edit"]
    if service_hash is not None:
        passwords.append(f"{service_user}:{service_hash}")
    acl += ["", f"user {service_user}", "topic readwrite #", "topic readwrite $share/#"]
    for record in sorted(keys, key=lambda k: k.key_id):
        if not record.active or record.mqtt_hash is None:
            continue
        passwords.append(f"{record.key_id}:{record.mqtt_hash}")
        name = " ".join(record.name.split())
        acl += ["", f"# {record.role}{': ' + name if name else ''}", f"user {record.key_id}", *_rules(record)]
    return MqttFiles("".join(line + "\n" for line in passwords), "\n".join(acl) + "\n")
