"""API keys in PostGIS (`api_keys`, migration 0009): create, list, revoke, and the rows a server holds in memory.

Every change queues a `keys_changed` notice in its transaction (`twin.notices`), so each worker reloads its key
table the moment the change commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from twin.access.keys import NewKey, hash_secret, new_key, split_token
from twin.access.roles import KEY_ROLES, Role
from twin.notices import publish

KEYS_CHANGED = "keys_changed"
SENSOR_ID_MAX = 128


class KeyRequestError(ValueError):
    """A key cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key as a server holds it."""

    key_id: str
    role: Role
    name: str
    sensors: frozenset[str]
    secret_hash: str
    mqtt_hash: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.key_id, "role": str(self.role), "name": self.name, "sensors": sorted(self.sensors),
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _check(role: str, name: str, sensors: Iterable[str]) -> tuple[Role, list[str]]:
    if role not in {str(r) for r in KEY_ROLES}:
        raise KeyRequestError(f"unknown role {role!r}; roles: {', '.join(str(r) for r in KEY_ROLES)}")
    chosen = Role(role)
    bound = sorted(set(sensors))
    if chosen is Role.DEVICE and not bound:
        raise KeyRequestError("a device key is bound to the sensors it may post readings for: give --sensors")
    if chosen is not Role.DEVICE and bound:
        raise KeyRequestError("only device keys are bound to sensors")
    if len(name) > 200 or "\x00" in name:
        raise KeyRequestError("a key name has at most 200 characters and no NUL")
    for sensor in bound:
        if not sensor or len(sensor) > SENSOR_ID_MAX or "\x00" in sensor:
            raise KeyRequestError(f"sensor id {sensor!r} is not 1–{SENSOR_ID_MAX} characters")
    return chosen, bound


def create_key(engine: Engine, role: str, name: str = "", sensors: Iterable[str] = ()) -> NewKey:
    """Store a new key (its hashes only) and return it with its token, which is never stored."""
    chosen, bound = _check(role, name, sensors)
    key = new_key()
    _, secret = split_token(key.token)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO api_keys (id, role, name, sensors, secret_hash, mqtt_hash) "
                          "VALUES (:id, :role, :name, :sensors, :hash, :mqtt)"),
                     {"id": key.key_id, "role": str(chosen), "name": name, "sensors": bound,
                      "hash": hash_secret(secret), "mqtt": None})
        publish(conn, {"type": KEYS_CHANGED})
    return key


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key (kept, with the time); False when no active key has this id."""
    with engine.begin() as conn:
        done = conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"),
                            {"id": key_id}).rowcount
        if done:
            publish(conn, {"type": KEYS_CHANGED})
    return bool(done)


def load_keys(engine: Engine) -> list[KeyRecord]:
    """Every key, revoked ones too (oldest first)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, role, name, sensors, secret_hash, mqtt_hash, created_at, revoked_at "
                                 "FROM api_keys ORDER BY created_at, id")).all()
    return [KeyRecord(r.id, Role(r.role), r.name, frozenset(r.sensors), r.secret_hash, r.mqtt_hash, r.created_at,
                      r.revoked_at) for r in rows]
