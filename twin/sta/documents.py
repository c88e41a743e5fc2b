"""Rows of the entity views → SensorThings JSON: `@iot.id`, `@iot.selfLink`, properties, navigation links,
expanded members, `$select` applied. Pure."""

from __future__ import annotations

from datetime import datetime
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


def self_link(base: str, entity: Entity, ident: str) -> str:
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


def document(entity: Entity, row: dict[str, Any], base: str, select: list[str] | None,
             expanded: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entity as JSON; `expanded` holds the members `$expand` asked for (already documents)."""
    ident = row["id"]
    link = self_link(base, entity, ident)
    wanted = set(select) if select is not None else None
    out: dict[str, Any] = {}
    if wanted is None or wanted & {"id", "@iot.id"}:
        out["@iot.id"] = ident
    if wanted is None or "@iot.selfLink" in wanted:
        out["@iot.selfLink"] = link
    for name in entity.properties:
        if name in ("id", "@iot.id") or (wanted is not None and name not in wanted):
            continue
        out[name] = value_of(entity, name, row)
    for name in entity.navigations:
        if wanted is None or name in wanted:
            out[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    for name, member in (expanded or {}).items():
        out[name] = member
    return out
