"""The private broker kept in step with the key table: with no active key it is anonymous (the loopback default);
with keys, or with a key table that cannot be read (fail closed), only the server's own user and the keys'
users connect, each to its own topics (twin/access/mqtt_files.py)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from twin.access.mqtt_files import MqttFiles, mqtt_files
from twin.access.store import KeyRecord, load_keys
from twin.live.broker import MosquittoBroker

log = logging.getLogger(__name__)


def broker_files(broker: MosquittoBroker, keys: list[KeyRecord] | None) -> MqttFiles | None:
    """The files for these keys (None: the key table could not be read); None when there is no active key."""
    if keys is not None and not any(k.active for k in keys):
        return None
    return mqtt_files(keys or [], broker.service_credential()[1])


def sync_broker(broker: MosquittoBroker, keys: list[KeyRecord] | None) -> None:
    """Write the broker's files for `keys` and have it read them (nothing when they are as they were)."""
    try:
        if broker.apply_auth(broker_files(broker, keys)):
            log.warning("MQTT: private broker credentials updated (%s)",
                        "anonymous, no API keys" if keys is not None and not any(k.active for k in keys)
                        else "per-key users and topics")
    except OSError as exc:
        log.error("MQTT: the private broker's credentials could not be written (%s)", exc)


def initial_keys(engine: Engine | None) -> list[KeyRecord] | None:
    """The key table at start ([] without a database), None when it cannot be read."""
    if engine is None:
        return []
    try:
        return load_keys(engine)
    except SQLAlchemyError as exc:
        log.error("MQTT: API keys cannot be read (%s): the private broker admits only the server until they can",
                  exc.__class__.__name__)
        return None
