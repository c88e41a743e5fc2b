"""Rows of the entity views → SensorThings JSON: `@iot.id`, `@iot.selfLink`, properties, navigation links,
expanded members, `$select` applied. Pure."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import orjson

from twin.live.kinds import KINDS
from twin.live.state import iso
from twin.sta.model import ENTITIES, Entity
from twin.sta.resource import quote_id

SAFE = "()'~:.,-_@!$*+;="
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates",
]


PLAIN = re.compile(r"[A-Za-z0-9._:~-]*")


def self_link(base: str, entity: Entity, ident: str) -> str:
    if PLAIN.fullmatch(ident):  # device codes and object ids mostly: nothing to escape
        return f"{base}/{entity.set_name}('{ident}')"
    return f"{base}/{entity.set_name}({quote(quote_id(ident), safe=SAFE)})"


def landing(base: str, mqtt_url: str | None) -> dict[str, Any]:
    """The service root: the entity sets and the conformance classes served."""
    settings: dict[str, Any] = {"conformance": CONFORMANCE}
    if mqtt_url:
        settings["http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/"
                 "observations-creation"] = {"endpoints": [mqtt_url]}
        settings["http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates"] = {
            "endpoints": [mqtt_url]}
    return {"value": [{"name": name, "url": f"{base}/{name}"} for name in ENTITIES], "serverSettings": settings}


def value_of(entity: Entity, name: str, row: dict[str, Any]) -> Any:
    """The JSON value of one property of a row."""
    column = entity.properties[name]
    value = row[column.column]
    if value is None:
        return None
    if column.type in ("json", "geometry"):
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    if column.type == "datetime":
        assert isinstance(value, datetime)
        return iso(value)
    if entity.name == "Observation" and name == "result":
        kind = KINDS.get(row.get("kind") or "")
        return bool(value) if kind is not None and kind.boolean else value
    return value


@cache
def _members(set_name: str, select: tuple[str, ...] | None) -> tuple[bool, bool, list[str], list[str]]:
    """What a document of an entity set shows under `$select`: @iot.id, @iot.selfLink, properties, links."""
    entity = ENTITIES[set_name]
    wanted = set(select) if select is not None else None
    names = [n for n in entity.properties if n not in ("id", "@iot.id") and (wanted is None or n in wanted)]
    return (wanted is None or bool(wanted & {"id", "@iot.id"}), wanted is None or "@iot.selfLink" in wanted, names,
            [n for n in entity.navigations if wanted is None or n in wanted])


def document(entity: Entity, row: dict[str, Any], base: str, select: list[str] | None,
             expanded: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entity as JSON; `expanded` holds the members `$expand` asked for (already documents)."""
    ident = row["id"]
    link = self_link(base, entity, ident)
    with_id, with_link, names, navigations = _members(entity.set_name, tuple(select) if select is not None else None)
    out: dict[str, Any] = {}
    if with_id:
        out["@iot.id"] = ident
    if with_link:
        out["@iot.selfLink"] = link
    for name in names:
        out[name] = value_of(entity, name, row)
    for name in navigations:
        out[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    for name, member in (expanded or {}).items():
        out[name] = member
    return out
