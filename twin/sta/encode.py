"""Entity documents written straight to JSON bytes, column by column: the same bytes `render` writes for the
documents `documents_of` builds, without a dict per entity. A page is a table of columns; each document is one
`%` of a template made once per entity set, `$select` and base URL (ids, links and key names are constant text
around the row's values). Values that cannot hold a comma or a quote (times, numbers, true/false) are written by
one orjson call per column and split; strings are written by orjson one by one; JSON text from the database goes
in as it is. An entity whose id needs escaping (anything but letters, digits and `._:~-`) is written the plain
way. Pure; `tests/test_sta_fast_paths.py` holds it to the plain path byte for byte."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, overload

import orjson

from twin.sta.documents import (
    DATA_ARRAY_COMPONENTS,
    PLAIN,
    PLAIN_VALUE,
    Page,
    documents_of,
    plan,
    render,
    self_link,
)
from twin.sta.model import ENTITIES

Columns = dict[str, Sequence[Any]]
"""A page as columns: the view column's name → its values, one per entity, `id` among them."""
NOT_PLAIN = re.compile(r"[^A-Za-z0-9._:~\n-]")
"""A character that makes an id not plain, in a page's ids joined by newlines (one scan for a page)."""


class Written(Sequence[bytes]):
    """A column already written as JSON text, a value per entity (ids as their text without quotes, every one
    plain), as `twin.sta.binary` reads Observations; a slice of it is one too."""

    __slots__ = ("items",)

    def __init__(self, items: list[bytes]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Written: ...

    def __getitem__(self, index: int | slice) -> bytes | Written:
        return Written(self.items[index]) if isinstance(index, slice) else self.items[index]


def _plain(ids: Sequence[str]) -> bool:
    """Whether every id is plain (no newline in any: the count of joined lines tells)."""
    joined = "\n".join(ids)
    return NOT_PLAIN.search(joined) is None and joined.count("\n") == len(ids) - 1
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
SPLITTABLE = frozenset({"datetime", "number", "boolean"})


@dataclass(frozen=True)
class Template:
    """A document as `text % values`, or as the constant `pieces` around the values; `slots` names what each
    value is — `id` (the entity's plain id, also in its links) or a column, with how its values are written."""

    text: bytes
    pieces: tuple[bytes, ...]
    slots: tuple[tuple[str, str], ...]
    """(column, how) per value: how is `id`, `string`, `json`, `splittable` or `extra` (bytes given by the
    caller, written as they are: the expanded members)."""


def _json_safe(text: str) -> bool:
    return orjson.dumps(text) == b'"' + text.encode() + b'"'


SLOT = b"\x00"
"""Where a value goes while a template is made (JSON-safe constants hold no NUL)."""


@lru_cache(maxsize=256)
def template(set_name: str, select: tuple[str, ...] | None, base: str, extra: bool) -> Template | None:
    """The document template of an entity set under `$select`; `extra` adds a last slot for expanded members
    (bytes starting with a comma). None when the base URL would need escaping in JSON."""
    entity = ENTITIES[set_name]
    prefix = f"{base}/{set_name}('"
    if not _json_safe(prefix):
        return None
    shown = plan(set_name, select)
    link = prefix.encode() + SLOT + b"')"
    members: list[bytes] = []
    slots: list[tuple[str, str]] = []
    if shown.with_id:
        members.append(b'"@iot.id":"' + SLOT + b'"')
        slots.append(("id", "id"))
    if shown.with_link:
        members.append(b'"@iot.selfLink":"' + link + b'"')
        slots.append(("id", "id"))
    for name, column, how in shown.fields:
        members.append(orjson.dumps(name) + b":" + SLOT)
        kind = entity.properties[name].type
        slots.append((column, "json" if how != PLAIN_VALUE else "splittable" if kind in SPLITTABLE else "string"))
    for name, suffix in shown.navigations:
        members.append(orjson.dumps(name) + b':"' + link + suffix.encode() + b'"')
        slots.append(("id", "id"))
    if not members:
        return None
    raw = b"{" + b",".join(members) + (SLOT + b"}" if extra else b"}")
    if extra:
        slots.append(("", "extra"))
    pieces = raw.split(SLOT)
    assert len(pieces) == len(slots) + 1
    return Template(b"%s".join(p.replace(b"%", b"%%") for p in pieces), tuple(pieces), tuple(slots))


def _split(values: Sequence[Any]) -> list[bytes]:
    """Each value as orjson writes it, from one call: times, numbers and true/false hold no comma."""
    items = orjson.dumps(values if isinstance(values, list) else list(values), option=OPTIONS)[1:-1].split(b",")
    assert len(items) == len(values)
    return items


def _strings(values: Sequence[Any]) -> list[bytes]:
    """Each value as orjson writes it. Texts alone (no null) from one call: in a JSON array of strings every
    quote inside a string is escaped, so `","` only ever stands between two of them."""
    try:
        "".join(values)
    except TypeError:  # a null (or a number) among them
        dumps = orjson.dumps
        return [dumps(v, option=OPTIONS) for v in values]
    items = orjson.dumps(list(values))[1:-1].replace(b'","', b'"\x00"').split(b"\x00")
    assert len(items) == len(values)
    return items


def _raw(values: Sequence[Any]) -> list[bytes]:
    """JSON text from the database as it is (what an orjson Fragment writes); anything else as orjson writes it.
    Texts alone are joined and split at NUL, which PostgreSQL text cannot hold."""
    try:
        items = "\x00".join(values).encode().split(b"\x00")
    except TypeError:
        items = []
    if len(items) == len(values):
        return items
    dumps = orjson.dumps
    return [v.encode() if isinstance(v, str) else dumps(v, option=OPTIONS) for v in values]


def _values(shown: Template, columns: Columns, ids: Sequence[str], plain_ids: bool,
            extra: Sequence[bytes] | None) -> list[Sequence[Any]]:
    """The bytes of each slot's values, in slot order (a column written once however often it is used)."""
    # a non-plain id may hold a newline; its document is written the plain way
    written: dict[str, Sequence[Any]] = {"id": ids.items if isinstance(ids, Written) else
                                         "\n".join(ids).encode().split(b"\n") if plain_ids
                                         else [ident.encode() for ident in ids]}
    arguments: list[Sequence[Any]] = []
    for column, how in shown.slots:
        if how == "extra":
            assert extra is not None
            arguments.append(extra)
            continue
        if column not in written:
            values = columns[column]
            written[column] = (values.items if isinstance(values, Written) else _split(values)
                               if how == "splittable" else _raw(values) if how == "json" else _strings(values))
        arguments.append(written[column])
    return arguments


def page_template(set_name: str, base: str, select: list[str] | None, extra: Sequence[bytes] | None
              ) -> Template | None:
    return template(set_name, tuple(select) if select is not None else None, base, extra is not None)


def encode(set_name: str, columns: Columns, count: int, base: str, select: list[str] | None,
           extra: Sequence[bytes] | None = None) -> list[bytes] | None:
    """The page's documents, each as the JSON bytes `render(documents_of(…)[i] | expanded)` gives; `extra` holds
    each entity's expanded members as JSON text (`,"Observations":[…]`). None when the template cannot be made
    (the caller then takes the plain path)."""
    shown = page_template(set_name, base, select, extra)
    if shown is None:
        return None
    if count == 0:
        return []
    ids: Sequence[Any] = columns["id"]
    plain_ids = _plain(ids)
    text = shown.text
    out = [text % values for values in zip(*_values(shown, columns, ids, plain_ids, extra), strict=True)]
    if not plain_ids:  # an id that needs escaping: that document the plain way
        entity = ENTITIES[set_name]
        for i, ident in enumerate(ids):
            if not PLAIN.fullmatch(ident):
                row = {c: v[i] for c, v in columns.items()}
                doc = render(documents_of(entity, [row], base, select)[0])
                out[i] = doc[:-1] + extra[i] + b"}" if extra is not None else doc
    return out


def encode_array(set_name: str, columns: Columns, count: int, base: str, select: list[str] | None,
                 extra: Sequence[bytes] | None = None) -> Page | None:
    """`join(encode(…))` in one piece: the template's constant pieces and the values interleaved by slice
    assignment and joined once, with no Python step per entity."""
    shown = page_template(set_name, base, select, extra)
    if shown is None:
        return None
    ids: Sequence[Any] = columns["id"]
    if count == 0 or not (isinstance(ids, Written) or _plain(ids)):
        documents = encode(set_name, columns, count, base, select, extra)
        return join(documents) if documents is not None else None
    values = _values(shown, columns, ids, True, extra)
    pieces = shown.pieces
    stride = 2 * len(values) + 1
    row: list[bytes] = [b"," + pieces[0]]  # an entity's constant pieces, its values' places empty
    for piece in pieces[1:]:
        row += (b"", piece)
    parts = row * count
    for slot, column in enumerate(values):
        parts[2 * slot + 1::stride] = column
    parts[0] = b"[" + pieces[0]
    parts[-1] = pieces[-1] + b"]"
    return Page(b"".join(parts))


def join(documents: list[bytes]) -> Page:
    """Documents as one JSON array, ready to go into a body as it is (copied once: a page may be megabytes)."""
    if not documents:
        return Page(b"[]")
    documents[0] = b"[" + documents[0]
    documents[-1] += b"]"
    return Page(b",".join(documents))


def columns_of(records: Sequence[Any], names: Sequence[str]) -> Columns:
    """Records (asyncpg's, or mappings) as columns."""
    return {name: [r[name] for r in records] for name in names}


def data_arrays_of(columns: Columns, count: int, base: str, select: list[str] | None) -> list[dict[str, Any]]:
    """`data_arrays` of Observations given as columns (`id`, `datastream_id`, `phenomenon_time`, `result`): the
    same members, each Observation's values a tuple (orjson writes it as the array `data_arrays` makes)."""
    entity = ENTITIES["Observations"]
    components = list(dict.fromkeys("id" if n == "@iot.id" else n for n in select or DATA_ARRAY_COMPONENTS))
    if isinstance(columns["id"], Written):  # one datastream's, written: the rows written too
        return [{"Datastream@iot.navigationLink": self_link(base, ENTITIES["Datastreams"], columns["datastream_id"][0]),
                 "components": components, "dataArray@iot.count": count,
                 "dataArray": orjson.Fragment(_written_rows(columns, components, count))}] if count else []
    values = list(zip(*(columns[entity.properties[n].column] for n in components), strict=True))
    streams = columns["datastream_id"]
    groups: dict[str, list[tuple[Any, ...]]] = {}
    if count and list(streams).count(streams[0]) == count:  # one datastream's page: one group, in one piece
        groups[streams[0]] = values
    else:
        for stream, row in zip(streams, values, strict=True):
            groups.setdefault(stream, []).append(row)
    datastreams = ENTITIES["Datastreams"]
    return [{"Datastream@iot.navigationLink": self_link(base, datastreams, ident), "components": components,
             "dataArray@iot.count": len(rows), "dataArray": rows} for ident, rows in groups.items()]


def _written_rows(columns: Columns, components: list[str], count: int) -> bytes:
    """The `dataArray` of written columns as JSON text: a row of the components' values per Observation, the
    constant pieces and the values interleaved by slice assignment and joined once."""
    entity = ENTITIES["Observations"]
    quotes = [b'"' if name == "id" else b"" for name in components]
    stride = 2 * len(components) + 1
    row: list[bytes] = [b",[" + quotes[0]]  # a row's constant pieces, its values' places empty
    for slot in range(len(components)):
        row += (b"", quotes[slot] + (b"," + quotes[slot + 1] if slot + 1 < len(components) else b"]"))
    parts = row * count
    for slot, name in enumerate(components):
        column = columns[entity.properties[name].column]
        assert isinstance(column, Written)
        parts[2 * slot + 1::stride] = column.items
    parts[0] = b"[[" + quotes[0]
    parts[-1] += b"]"
    return b"".join(parts)
