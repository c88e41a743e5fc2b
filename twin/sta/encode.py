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
    array = Chunked(shown.pieces)
    array.add(_values(shown, columns, ids, True, extra), count)
    return Page(*array.parts)


def interleave(pieces: Sequence[bytes], values: Sequence[Sequence[bytes]], count: int) -> list[bytes]:
    """`count` entries of the constant `pieces` with the values between them (`pieces[0]`, `values[0][i]`,
    `pieces[1]`, …, `pieces[-1]` per entry), laid out by one list repeat and a slice assignment per column."""
    stride = 2 * len(values) + 1
    entry: list[bytes] = [pieces[0]]  # an entry's constant pieces, its values' places empty
    for piece in pieces[1:]:
        entry += (b"", piece)
    parts = entry * count
    for slot, column in enumerate(values):
        parts[2 * slot + 1::stride] = column
    return parts


class Chunked:
    """A JSON array written a chunk of entries at a time: each chunk's entries (the constant `pieces` around
    their values) interleaved and joined as the chunk comes; `parts` is the array's text."""

    __slots__ = ("pieces", "texts")

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = (b"," + pieces[0], *pieces[1:])
        self.texts: list[bytes] = []

    def add(self, values: Sequence[Sequence[bytes]], count: int) -> None:
        if count:
            parts = interleave(self.pieces, values, count)
            if not self.texts:
                parts[0] = b"[" + parts[0][1:]
            self.texts.append(b"".join(parts))

    @property
    def parts(self) -> list[bytes]:
        return [*self.texts, b"]"] if self.texts else [b"[]"]


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
    components = components_of(select)
    if isinstance(columns["id"], Written):  # one datastream's, written: the rows written too
        writer = PageWriter(None, components, count)
        writer.add(columns, count)
        arrays: list[dict[str, Any]] = writer.page(base, columns["datastream_id"][0] if count else "", count)
        return arrays
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


def _row_pieces(components: list[str]) -> list[bytes]:
    """The constant pieces of a `dataArray` row of written values (an id in quotes, the rest as they are)."""
    quotes = [b'"' if name == "id" else b"" for name in components]
    return [b"[" + quotes[0], *(quotes[i - 1] + b"," + quotes[i] for i in range(1, len(quotes))), quotes[-1] + b"]"]


def _component_values(columns: Columns, components: list[str]) -> list[Sequence[bytes]]:
    entity = ENTITIES["Observations"]
    values = [columns[entity.properties[name].column] for name in components]
    written: list[Sequence[bytes]] = [column.items for column in values if isinstance(column, Written)]
    assert len(written) == len(values)
    return written


def components_of(select: list[str] | None) -> list[str]:
    """A `dataArray`'s components: `$select`'s properties, else all of them."""
    return list(dict.fromkeys("id" if n == "@iot.id" else n for n in select or DATA_ARRAY_COMPONENTS))


class PageWriter:
    """One datastream's page of Observations written while its rows are read, a chunk at a time
    (`twin.sta.binary`), up to `top` rows: the documents `encode_array` writes, or the `dataArray` rows
    `data_arrays_of` writes, from written columns."""

    def __init__(self, shown: Template | None, components: list[str] | None, top: int) -> None:
        assert (shown is None) != (components is None)
        self.shown = shown
        self.components = components
        self.array = Chunked(shown.pieces if shown is not None else _row_pieces(components or []))
        self.room = top

    def add(self, columns: Columns, count: int) -> None:
        count = min(count, self.room)
        if count <= 0:
            return
        self.room -= count
        if self.shown is not None:
            values = _values(self.shown, columns, columns["id"], True, None)
        else:
            values = _component_values(columns, self.components or [])
        self.array.add([column[:count] for column in values], count)

    def page(self, base: str, stream: str, count: int) -> Any:
        """The page's `value` once its rows are read and `count` of them kept."""
        if self.shown is not None:
            return Page(*self.array.parts)
        return [{"Datastream@iot.navigationLink": self_link(base, ENTITIES["Datastreams"], stream),
                 "components": self.components, "dataArray@iot.count": count,
                 "dataArray": orjson.Fragment(b"".join(self.array.parts))}] if count else []
