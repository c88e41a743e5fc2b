"""Rows of the entity views → SensorThings JSON: `@iot.id`, `@iot.selfLink`, properties, navigation links,
expanded members, `$select` applied. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import orjson

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


def value_of(entity: Entity, name: str, row: Mapping[str, Any]) -> Any:
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
    return value


PLAIN_VALUE, RAW_JSON = 0, 1


@dataclass(frozen=True)
class Plan:
    """What a document of an entity set shows under `$select`, worked out once: @iot.id, @iot.selfLink, each
    property as (name, column, how to take it) and the navigation links."""

    with_id: bool
    with_link: bool
    fields: tuple[tuple[str, str, int], ...]
    navigations: tuple[tuple[str, str], ...]
    """(member name, link suffix) per navigation property."""


@cache
def plan(set_name: str, select: tuple[str, ...] | None) -> Plan:
    entity = ENTITIES[set_name]
    wanted = set(select) if select is not None else None
    fields = []
    for name, column in entity.properties.items():
        if name in ("id", "@iot.id") or (wanted is not None and name not in wanted):
            continue
        how = RAW_JSON if column.type in ("json", "geometry") else PLAIN_VALUE
        fields.append((name, column.column, how))
    return Plan(wanted is None or bool(wanted & {"id", "@iot.id"}), wanted is None or "@iot.selfLink" in wanted,
                tuple(fields), tuple((f"{n}@iot.navigationLink", f"/{n}") for n in entity.navigations
                                     if wanted is None or n in wanted))


def document(entity: Entity, row: Mapping[str, Any], base: str, select: list[str] | None,
             expanded: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entity as the JSON `render` writes; `expanded` holds the members `$expand` asked for (documents)."""
    out = documents_of(entity, [row], base, select)[0]
    if expanded:
        out.update(expanded)
    return out


def documents_of(entity: Entity, rows: Sequence[Mapping[str, Any]], base: str, select: list[str] | None
                 ) -> list[dict[str, Any]]:
    """Rows as entity documents, as `render` writes them (datetimes and raw JSON fragments stay objects until
    then). One loop with the plan in locals: a page may hold 10,000."""
    shown = plan(entity.set_name, tuple(select) if select is not None else None)
    prefix, plain, fragment = f"{base}/{entity.set_name}('", PLAIN.fullmatch, orjson.Fragment
    with_id, with_link, fields, navigations = shown.with_id, shown.with_link, shown.fields, shown.navigations
    out: list[dict[str, Any]] = []
    for row in rows:
        ident = row["id"]
        link = f"{prefix}{ident}')" if plain(ident) else self_link(base, entity, ident)
        doc: dict[str, Any] = {}
        if with_id:
            doc["@iot.id"] = ident
        if with_link:
            doc["@iot.selfLink"] = link
        for name, column, how in fields:
            value = row[column]
            if how and isinstance(value, str):  # JSON text from the database goes out as it is, unparsed
                value = fragment(value)
            doc[name] = value
        for name, suffix in navigations:
            doc[name] = link + suffix
        out.append(doc)
    return out


class Page:
    """A collection's documents already written as one JSON array, in parts (`twin.sta.encode`): `render` writes
    it as it is, and `render_parts` hands the parts on without copying them into the body."""

    __slots__ = ("parts",)

    def __init__(self, *parts: bytes) -> None:
        self.parts = list(parts)

    @property
    def text(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)


def _written(value: Any) -> orjson.Fragment:
    if isinstance(value, Page):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def render(body: Any) -> bytes:
    """A response body as JSON: datetimes in UTC with `Z`, as `iso` writes them."""
    return orjson.dumps(body, default=_written, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def render_parts(body: Any) -> list[bytes]:
    """`render(body)` as parts to be written one after the other: a collection whose `value` (its last member)
    is a Page is the members before it, the page itself and the closing brace, so a page of megabytes is not
    copied once more into a joined body."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), Page) or next(reversed(body)) != "value":
        return [render(body)]
    rest = {name: value for name, value in body.items() if name != "value"}
    head = render(rest)[:-1] + (b',"value":' if rest else b'"value":')
    return [head, *body["value"].parts, b"}"]

DATA_ARRAY_COMPONENTS = ("id", "phenomenonTime", "resultTime", "result")


def data_arrays(entity: Entity, rows: Sequence[Mapping[str, Any]], base: str, select: list[str] | None
                ) -> list[dict[str, Any]]:
    """Observations as `$resultFormat=dataArray` gives them: one member per Datastream (in the order the rows
    come), its `components` (`$select`'s properties, else all of them) and a row of values per Observation."""
    components = list(dict.fromkeys("id" if n == "@iot.id" else n for n in select or DATA_ARRAY_COMPONENTS))
    cells = [entity.properties[n].column for n in components]
    datastreams = ENTITIES["Datastreams"]
    groups: dict[str, list[list[Any]]] = {}
    for row in rows:
        groups.setdefault(row["datastream_id"], []).append([row[c] for c in cells])
    return [{"Datastream@iot.navigationLink": self_link(base, datastreams, ident), "components": components,
             "dataArray@iot.count": len(values), "dataArray": values} for ident, values in groups.items()]
