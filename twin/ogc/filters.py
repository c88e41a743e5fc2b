"""CQL2 filters (OGC API – Features Part 3) compiled to SQLAlchemy conditions with bound parameters only.

The `cql2` library parses cql2-text and cql2-json and validates them against the CQL2 schema; this module walks
the resulting CQL2-JSON tree. Property names resolve against the collection's queryables (the object columns and
the attribute keys present in its objects) and anything else is refused, so no client text ever becomes SQL:
values and attribute keys travel as bound parameters.

Supported: `and`/`or`/`not`; `=`, `<>`, `<`, `<=`, `>`, `>=`; `like`, `between`, `in`, `isNull`; `casei`;
arithmetic `+ - * /`; the spatial functions `s_intersects`, `s_disjoint`, `s_contains`, `s_within`, `s_touches`,
`s_crosses`, `s_overlaps`, `s_equals`; and `s_dwithin(geometry, g, metres)`, a distance in metres on the WGS84
spheroid. Attribute values are compared as numbers against numbers (numeric strings such as "11.3" count) and as
text otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cql2
import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Text,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from twin.ogc.crs import CRS84, Crs, to_storage
from twin.ogc.errors import QueryError
from twin.ogc.numbers import check_coordinates, checked
from twin.ogc.sql import CORE_NUMBER, CORE_TEXT, GEOMETRY_NAMES, OBJECTS, within_metres

NUMERIC_TEXT = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
SPATIAL = {
    "s_intersects": func.ST_Intersects, "s_disjoint": func.ST_Disjoint, "s_contains": func.ST_Contains,
    "s_within": func.ST_Within, "s_touches": func.ST_Touches, "s_crosses": func.ST_Crosses,
    "s_overlaps": func.ST_Overlaps, "s_equals": func.ST_Equals,
}
COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
ARITHMETIC: dict[str, Callable[[Any, Any], ColumnElement[Any]]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
}
METRE_UNITS = {"m", "meter", "meters", "metre", "metres"}
MAX_DISTANCE = 21_000_000.0
"""Metres an S_DWITHIN distance may have: beyond half a meridian (≈20,004 km) every place is within reach."""
FILTER_LANGS = ("cql2-text", "cql2-json")


@dataclass(frozen=True)
class Queryables:
    """What filters may name: the object columns plus attribute keys (with their JSON type, or None if mixed)."""

    attributes: Mapping[str, str | None]

    def names(self) -> list[str]:
        return [*GEOMETRY_NAMES[:1], *CORE_TEXT, *CORE_NUMBER, *sorted(self.attributes)]

    def has(self, name: str) -> bool:
        """Whether `name` is a non-spatial queryable (`attributes.<key>` reaches an attribute a column hides)."""
        return (name in CORE_TEXT or name in CORE_NUMBER or name in self.attributes
                or name.removeprefix("attributes.") in self.attributes)


@dataclass(frozen=True)
class Operand:
    """A compiled value: its SQL and kind (text, number, bool, null, geometry, or attr for a JSON attribute)."""

    sql: Any
    kind: str
    key: str | None = None
    is_footprint: bool = False


def attribute_text(key: str) -> ColumnElement[str]:
    return OBJECTS.c.attributes[key].astext


def attribute_number(key: str) -> ColumnElement[float]:
    """The attribute as a number when it is a JSON number or a numeric string, else NULL (never a cast error)."""
    text = attribute_text(key)
    return case((text.op("~")(literal(NUMERIC_TEXT)), cast(text, Float)), else_=None)


def attribute_equals_text(key: str, value: str) -> ColumnElement[bool]:
    """`attributes @> {"key": "value"}`: answerable from the GIN index on attributes."""
    return OBJECTS.c.attributes.op("@>")(cast(literal(orjson.dumps({key: value}).decode()), JSONB))


def parse_filter(text: str, lang: str | None) -> dict[str, Any] | bool:
    """CQL2 text or JSON → validated CQL2-JSON tree."""
    lang = lang or "cql2-text"
    if lang not in FILTER_LANGS:
        raise QueryError(f"filter-lang={lang!r} is not supported; use cql2-text or cql2-json")
    try:
        expression = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        expression.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        message = " ".join(str(exc).split())
        raise QueryError(f"filter is not valid {lang}: {message[:400]}") from None
    tree: dict[str, Any] | bool = expression.to_json()
    return tree


def compile_filter(tree: dict[str, Any] | bool, queryables: Queryables, filter_crs: Crs = CRS84
                   ) -> ColumnElement[bool]:
    return _Compiler(queryables, filter_crs).predicate(tree)


class _Compiler:
    def __init__(self, queryables: Queryables, filter_crs: Crs) -> None:
        self.queryables = queryables
        self.crs = filter_crs

    # conditions -------------------------------------------------------------------------------------------
    def predicate(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or "op" not in node:
            raise QueryError(f"{_show(node)} is not a condition")
        op, args = str(node["op"]).lower(), list(node.get("args", []))
        if op in ("and", "or"):
            parts = [self.predicate(a) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.predicate(_one(args, op)))
        if op in COMPARISONS:
            return self.compare(op, *_two(args, op))
        if op == "like":
            subject, pattern = _two(args, op)
            return self.text(self.value(subject)).like(self.text(self.value(pattern)))
        if op == "between":
            if len(args) != 3:
                raise QueryError("between needs a value, a low and a high bound")
            subject, low, high = (self.number(self.value(a)) for a in args)
            return subject.between(low, high)
        if op == "in":
            return self.within_list(*_two(args, op))
        if op == "isnull":
            operand = self.value(_one(args, op))
            return (attribute_text(operand.key) if operand.kind == "attr" and operand.key else operand.sql).is_(None)
        if op in SPATIAL:
            a, b = (self.geometry(self.value(x)) for x in _two(args, op))
            return SPATIAL[op](a, b)
        if op == "s_dwithin":
            return self.dwithin(args)
        raise QueryError(f"{op!r} is not a supported condition")

    def compare(self, op: str, left: Any, right: Any) -> ColumnElement[bool]:
        a, b = self.value(left), self.value(right)
        if "null" in (a.kind, b.kind):
            if op not in ("=", "<>"):
                raise QueryError("NULL can only be compared with = or <>; use IS NULL")
            other = b if a.kind == "null" else a
            sql = attribute_text(other.key) if other.kind == "attr" and other.key else other.sql
            return sql.is_(None) if op == "=" else sql.is_not(None)
        kinds = {a.kind, b.kind}
        if "geometry" in kinds:
            raise QueryError("geometries are compared with spatial functions such as S_EQUALS or S_INTERSECTS")
        if kinds == {"text", "number"} or kinds == {"bool", "number"} or kinds == {"bool", "text"}:
            first, second = sorted(kinds)
            raise QueryError(f"cannot compare a {first} value with a {second} value")
        if "number" in kinds:
            return COMPARISONS[op](self.number(a), self.number(b))
        if kinds == {"bool"} or kinds == {"bool", "attr"}:
            if op not in ("=", "<>"):
                raise QueryError("booleans can only be compared with = or <>")
            return COMPARISONS[op](self.boolean(a), self.boolean(b))
        if op == "=" and a.kind == "attr" and a.key and b.kind == "text" and isinstance(right, str):
            return attribute_equals_text(a.key, right)
        if op == "=" and b.kind == "attr" and b.key and a.kind == "text" and isinstance(left, str):
            return attribute_equals_text(b.key, left)
        return COMPARISONS[op](self.text(a), self.text(b))

    def within_list(self, subject: Any, items: Any) -> ColumnElement[bool]:
        if not isinstance(items, list) or not items:
            raise QueryError("IN needs a non-empty list")
        operand = self.value(subject)
        values = [self.value(item) for item in items]
        if any(v.kind in ("geometry", "null") for v in values):
            raise QueryError("IN lists hold numbers, strings or booleans")
        if operand.kind == "number" or (operand.kind == "attr" and all(v.kind == "number" for v in values)):
            return self.number(operand).in_([self.number(v) for v in values])
        return self.text(operand).in_([self.text(v) for v in values])

    def dwithin(self, args: list[Any]) -> ColumnElement[bool]:
        if len(args) not in (3, 4):
            raise QueryError("S_DWITHIN needs a geometry, another geometry and a distance in metres")
        if len(args) == 4:
            unit = args[3].get("property") if isinstance(args[3], dict) else args[3]
            if str(unit).lower() not in METRE_UNITS:
                raise QueryError(f"S_DWITHIN distances are in metres, not {_show(args[3])}")
        a, b = self.value(args[0]), self.value(args[1])
        distance = args[2]
        if isinstance(distance, bool) or not isinstance(distance, int | float):
            raise QueryError("the S_DWITHIN distance must be a non-negative number of metres")
        checked("the S_DWITHIN distance", float(distance), 0, MAX_DISTANCE, "metres")
        ga, gb = self.geometry(a), self.geometry(b)
        if a.is_footprint and not b.is_footprint:
            return within_metres(gb, float(distance))
        if b.is_footprint and not a.is_footprint:
            return within_metres(ga, float(distance))
        return func.ST_DWithin(func.geography(ga), func.geography(gb), float(distance))

    # values -----------------------------------------------------------------------------------------------
    def value(self, node: Any) -> Operand:
        if node is None:
            return Operand(None, "null")
        if isinstance(node, bool):
            return Operand(literal(node, Boolean), "bool")
        if isinstance(node, int | float):
            return Operand(literal(checked("a number in the filter", float(node)), Float), "number")
        if isinstance(node, str):
            return Operand(literal(node, Text), "text")
        if not isinstance(node, dict):
            raise QueryError(f"{_show(node)} is not a value")
        if "property" in node:
            return self.property(str(node["property"]))
        if "bbox" in node:
            return Operand(self.envelope(node["bbox"]), "geometry")
        if "type" in node and ("coordinates" in node or "geometries" in node):
            check_coordinates("a filter geometry's point", _points(node, self.crs.lat_first), self.crs.bounds)
            geojson = literal(orjson.dumps(node).decode(), Text)
            return Operand(to_storage(func.ST_Force2D(func.ST_GeomFromGeoJSON(geojson)), self.crs), "geometry")
        if {"timestamp", "date", "interval"} & node.keys():
            raise QueryError("temporal literals are not supported in filters; use the datetime parameter")
        op = str(node.get("op", "")).lower()
        args = list(node.get("args", []))
        if op == "casei":
            return Operand(func.lower(self.text(self.value(_one(args, op)))), "text")
        if op in ARITHMETIC:
            a, b = (self.number(self.value(x)) for x in _two(args, op))
            return Operand(ARITHMETIC[op](a, b), "number")
        raise QueryError(f"{op or _show(node)!r} is not a supported function or value")

    def property(self, name: str) -> Operand:
        if name in GEOMETRY_NAMES:
            return Operand(OBJECTS.c.footprint, "geometry", is_footprint=True)
        if name in CORE_TEXT:
            return Operand(OBJECTS.c[name], "text")
        if name in CORE_NUMBER:
            return Operand(OBJECTS.c[name], "number")
        key = name.removeprefix("attributes.") if name not in self.queryables.attributes else name
        if key in self.queryables.attributes:
            return Operand(OBJECTS.c.attributes[key], "attr", key=key)
        known = self.queryables.names()
        listed = ", ".join(known[:40]) + (", …" if len(known) > 40 else "")
        raise QueryError(f"unknown property {name!r}; this collection's queryables are: {listed}")

    def envelope(self, numbers: Any) -> ColumnElement[Any]:
        if not isinstance(numbers, list) or len(numbers) not in (4, 6) or not all(
                isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
            raise QueryError("BBOX takes 4 or 6 numbers")
        x1, y1, x2, y2 = (numbers[0], numbers[1], numbers[3], numbers[4]) if len(numbers) == 6 else numbers
        corners = [(y1, x1), (y2, x2)] if self.crs.lat_first else [(x1, y1), (x2, y2)]
        check_coordinates("a BBOX corner", corners, self.crs.bounds)
        return to_storage(func.ST_MakeEnvelope(float(x1), float(y1), float(x2), float(y2)), self.crs)

    # coercions --------------------------------------------------------------------------------------------
    def text(self, operand: Operand) -> Any:
        if operand.kind == "attr" and operand.key:
            return attribute_text(operand.key)
        if operand.kind == "text":
            return operand.sql
        raise QueryError(f"expected text, got a {operand.kind} value")

    def number(self, operand: Operand) -> Any:
        if operand.kind == "attr" and operand.key:
            return attribute_number(operand.key)
        if operand.kind == "number":
            return operand.sql
        raise QueryError(f"expected a number, got a {operand.kind} value")

    def boolean(self, operand: Operand) -> Any:
        if operand.kind == "attr" and operand.key:
            return case((func.jsonb_typeof(operand.sql) == "boolean", cast(attribute_text(operand.key), Boolean)),
                        else_=None)
        return operand.sql

    def geometry(self, operand: Operand) -> Any:
        if operand.kind != "geometry":
            raise QueryError(f"spatial functions take geometries, got a {operand.kind} value")
        return operand.sql


def _one(args: list[Any], op: str) -> Any:
    if len(args) != 1:
        raise QueryError(f"{op} takes one argument")
    return args[0]


def _two(args: list[Any], op: str) -> tuple[Any, Any]:
    if len(args) != 2:
        raise QueryError(f"{op} takes two arguments")
    return args[0], args[1]


def _show(node: Any) -> str:
    text = orjson.dumps(node, default=str).decode()
    return text if len(text) <= 80 else text[:77] + "…"


def _points(geometry: Any, lat_first: bool) -> list[list[float]]:
    """Every position of a GeoJSON geometry (collections included) as x/y(/z), each a list of 2–3 numbers."""
    if "geometries" in geometry:
        return [p for part in geometry["geometries"] if isinstance(part, dict) for p in _points(part, lat_first)]
    found: list[list[float]] = []
    stack = [geometry.get("coordinates")]
    while stack:
        item = stack.pop()
        if not isinstance(item, list):
            raise QueryError(f"{_show(item)} is not a coordinate")
        if item and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item):
            if len(item) not in (2, 3):
                raise QueryError(f"a position has 2 or 3 numbers, not {_show(item)}")
            found.append([float(item[1]), float(item[0]), *item[2:]] if lat_first else [float(v) for v in item])
        else:
            stack.extend(item)
    return found
