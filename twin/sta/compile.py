"""Filter and order trees → SQL over an entity's view, every client value a bound parameter (`$n` for asyncpg).
Types are checked here, so a request that compares a name with a number, calls an unknown function or names an
unknown property is refused with the reason before any SQL runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely import wkt

from twin.sta.filter import COMPARISONS, Binary, Call, FilterError, Literal, Node, Path, Unary
from twin.sta.model import ENTITIES, Entity

SQL_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
SQL_ARITHMETIC = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
SPATIAL = {"geo.intersects": "ST_Intersects", "st_intersects": "ST_Intersects", "st_within": "ST_Within",
           "st_contains": "ST_Contains", "st_equals": "ST_Equals", "st_disjoint": "ST_Disjoint",
           "st_touches": "ST_Touches", "st_overlaps": "ST_Overlaps", "st_crosses": "ST_Crosses"}
STRING_FUNCTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    # name: (argument types, result type, SQL with {0}, {1}, … for the arguments)
    "substringof": (("string", "string"), "boolean", "(strpos({1}, {0}) > 0)"),
    "contains": (("string", "string"), "boolean", "(strpos({0}, {1}) > 0)"),
    "startswith": (("string", "string"), "boolean", "(left({0}, length({1})) = {1})"),
    "endswith": (("string", "string"), "boolean", "(right({0}, length({1})) = {1})"),
    "length": (("string",), "number", "length({0})::float8"),
    "indexof": (("string", "string"), "number", "(strpos({0}, {1}) - 1)::float8"),
    "tolower": (("string",), "string", "lower({0})"),
    "toupper": (("string",), "string", "upper({0})"),
    "trim": (("string",), "string", "btrim({0})"),
    "concat": (("string", "string"), "string", "({0} || {1})"),
    "round": (("number",), "number", "round({0})"),
    "floor": (("number",), "number", "floor({0})"),
    "ceiling": (("number",), "number", "ceiling({0})"),
    "year": (("datetime",), "number", "extract(year FROM {0} AT TIME ZONE 'UTC')::float8"),
    "month": (("datetime",), "number", "extract(month FROM {0} AT TIME ZONE 'UTC')::float8"),
    "day": (("datetime",), "number", "extract(day FROM {0} AT TIME ZONE 'UTC')::float8"),
    "hour": (("datetime",), "number", "extract(hour FROM {0} AT TIME ZONE 'UTC')::float8"),
    "minute": (("datetime",), "number", "extract(minute FROM {0} AT TIME ZONE 'UTC')::float8"),
    "second": (("datetime",), "number", "floor(extract(second FROM {0}))::float8"),
    "fractionalseconds": (("datetime",), "number",
                          "(extract(second FROM {0}) - floor(extract(second FROM {0})))::float8"),
    "date": (("datetime",), "date", "({0} AT TIME ZONE 'UTC')::date"),
    "time": (("datetime",), "time", "({0} AT TIME ZONE 'UTC')::time"),
    "now": ((), "datetime", "now()"),
    "mindatetime": ((), "datetime", "'-infinity'::timestamptz"),
    "maxdatetime": ((), "datetime", "'infinity'::timestamptz"),
    "geo.distance": (("geometry", "geometry"), "number", "ST_Distance({0}, {1})"),
    "geo.length": (("geometry",), "number", "ST_Length({0})"),
    "st_relate": (("geometry", "geometry", "string"), "boolean", "ST_Relate({0}, {1}, {2})"),
}
FUNCTIONS = sorted([*STRING_FUNCTIONS, *SPATIAL, "substring", "totaloffsetminutes"])


@dataclass(frozen=True)
class Typed:
    sql: str
    type: str


class Compiler:
    """Collects bound parameters (shared by every part of one statement) and names subquery aliases."""

    def __init__(self, params: list[Any] | None = None) -> None:
        self.params: list[Any] = params if params is not None else []
        self.aliases = 0

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{cast}"

    def alias(self) -> str:
        self.aliases += 1
        return f"n{self.aliases}"

    # -- entry points ------------------------------------------------------------------------------------------
    def condition(self, node: Node, entity: Entity, alias: str) -> str:
        typed = self.expression(node, entity, alias)
        if typed.type != "boolean":
            raise FilterError(f"$filter must be a condition, not a {typed.type} value")
        return typed.sql

    def order(self, order: list[tuple[Node, bool]], entity: Entity, alias: str) -> list[str]:
        terms = []
        for node, descending in order:
            typed = self.expression(node, entity, alias)
            if typed.type in ("geometry", "json"):
                raise FilterError(f"cannot order by a {typed.type} value")
            column = entity.properties.get(node.segments[0]) if isinstance(node, Path) else None
            if column is not None and column.required and len(node.segments) == 1:  # type: ignore[union-attr]
                terms.append(f"{typed.sql} {'DESC' if descending else 'ASC'}")
            else:  # null is the lowest value (OData)
                terms.append(f"{typed.sql} {'DESC NULLS LAST' if descending else 'ASC NULLS FIRST'}")
        return terms

    # -- expressions -------------------------------------------------------------------------------------------
    def expression(self, node: Node, entity: Entity, alias: str) -> Typed:
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, Path):
            return self.path(node.segments, entity, alias)
        if isinstance(node, Unary):
            operand = self.expression(node.operand, entity, alias)
            if node.op == "not":
                if operand.type != "boolean":
                    raise FilterError(f"not needs a condition, got a {operand.type} value")
                return Typed(f"(NOT {operand.sql})", "boolean")
            return Typed(f"(- {self._coerce(operand, 'number', '-')})", "number")
        if isinstance(node, Call):
            return self.call(node, entity, alias)
        return self.binary(node, entity, alias)

    def literal(self, node: Literal) -> Typed:
        if node.type == "string":
            if "\x00" in node.value:
                raise FilterError("string literals must not hold NUL characters")
            return Typed(self.param(node.value, "text"), "string")
        if node.type == "number":
            value = float(node.value)
            if not math.isfinite(value) or (value != 0 and abs(value) < 1e-300) or abs(value) > 1e300:
                raise FilterError(f"number {node.value} is out of range")
            return Typed(self.param(value, "float8"), "number")
        if node.type == "boolean":
            return Typed("true" if node.value else "false", "boolean")
        if node.type == "datetime":
            assert isinstance(node.value, datetime)
            return Typed(self.param(node.value, "timestamptz"), "datetime")
        if node.type == "geometry":
            return Typed(f"ST_GeomFromText({self.param(check_wkt(node.value), 'text')}, 4326)", "geometry")
        return Typed("NULL", "null")

    def path(self, segments: tuple[str, ...], entity: Entity, alias: str) -> Typed:
        head, rest = segments[0], segments[1:]
        column = entity.properties.get(head)
        if column is not None:
            sql = f"{alias}.{column.column}"
            if not rest:
                return Typed(sql, column.type)
            if column.type != "json":
                raise FilterError(f"{entity.name} property {head!r} has no member {rest[0]!r}")
            return Typed(f"({sql} #> {self.param(list(rest), 'text[]')})", "json")
        navigation = entity.navigations.get(head)
        if navigation is None:
            known = ", ".join(sorted({*entity.properties, *entity.navigations}))
            raise FilterError(f"{entity.name} has no property {head!r} (it has {known})")
        if not rest:
            raise FilterError(f"{head} is an entity, not a value: name one of its properties ({head}/name)")
        if navigation.many and not navigation.single:
            raise FilterError(f"filtering through {entity.name}/{head} (many entities) is not supported")
        target = ENTITIES[navigation.target]
        inner_alias = self.alias()
        inner = self.path(rest, target, inner_alias)
        return Typed(f"(SELECT {inner.sql} FROM ({target.sql}) AS {inner_alias} WHERE {inner_alias}."
                     f"{navigation.target_column} = {alias}.{navigation.source_column} LIMIT 1)", inner.type)

    def call(self, node: Call, entity: Entity, alias: str) -> Typed:
        if node.name == "totaloffsetminutes":  # stored times are UTC; a literal keeps the offset it was written with
            if len(node.args) != 1 or Compiler().expression(node.args[0], entity, alias).type != "datetime":
                raise FilterError("totaloffsetminutes takes one datetime")
            literal = node.args[0]
            offset = literal.value.utcoffset() if isinstance(literal, Literal) else None
            minutes = offset.total_seconds() / 60 if offset is not None else 0.0
            return Typed(self.param(minutes, "float8"), "number")
        args = [self.expression(a, entity, alias) for a in node.args]
        if node.name == "substring":
            if len(args) not in (2, 3):
                raise FilterError("substring takes (text, start) or (text, start, length)")
            text, *numbers = [self._coerce(a, k, "substring") for a, k in zip(args, ("string", "number", "number"),
                                                                              strict=False)]
            length = f", ({numbers[1]})::int" if len(numbers) == 2 else ""
            return Typed(f"substr({text}, ({numbers[0]})::int + 1{length})", "string")
        if node.name in SPATIAL:
            kinds: tuple[str, ...] = ("geometry", "geometry")
            result, template = "boolean", f"{SPATIAL[node.name]}({{0}}, {{1}})"
        elif node.name in STRING_FUNCTIONS:
            kinds, result, template = STRING_FUNCTIONS[node.name]
        else:
            raise FilterError(f"unsupported function {node.name!r}; supported: {', '.join(FUNCTIONS)}")
        if len(args) != len(kinds):
            raise FilterError(f"{node.name} takes {len(kinds)} argument(s), got {len(args)}")
        sqls = [self._coerce(a, k, node.name) for a, k in zip(args, kinds, strict=True)]
        return Typed(template.format(*sqls), result)

    def binary(self, node: Binary, entity: Entity, alias: str) -> Typed:
        left, right = self.expression(node.left, entity, alias), self.expression(node.right, entity, alias)
        if node.op in ("and", "or"):
            for side in (left, right):
                if side.type != "boolean":
                    raise FilterError(f"{node.op} needs conditions on both sides, got a {side.type} value")
            return Typed(f"({left.sql} {node.op.upper()} {right.sql})", "boolean")
        if node.op in COMPARISONS:
            return self.compare(node.op, left, right)
        a, b = self._coerce(left, "number", node.op), self._coerce(right, "number", node.op)
        if node.op == "mod":
            return Typed(f"(({a})::numeric % ({b})::numeric)::float8", "number")
        return Typed(f"({a} {SQL_ARITHMETIC[node.op]} {b})", "number")

    def compare(self, op: str, left: Typed, right: Typed) -> Typed:
        if "null" in (left.type, right.type):
            if op not in ("eq", "ne"):
                raise FilterError(f"null can only be compared with eq or ne, not {op}")
            other = right if left.type == "null" else left
            return Typed(f"({other.sql} IS {'' if op == 'eq' else 'NOT '}NULL)", "boolean")
        if left.type == "json" and right.type == "json":
            left, right = Typed(f"({left.sql} #>> '{{}}')", "string"), Typed(f"({right.sql} #>> '{{}}')", "string")
        elif left.type == "json":
            left = Typed(self._coerce(left, right.type, op), right.type)
        elif right.type == "json":
            right = Typed(self._coerce(right, left.type, op), left.type)
        if {left.type, right.type} == {"boolean", "number"}:  # the result of a state kind: 0/1 as false/true
            left, right = (Typed(f"({t.sql})::int::float8", "number") if t.type == "boolean" else t
                           for t in (left, right))
        if left.type != right.type:
            raise FilterError(f"cannot compare a {left.type} value with a {right.type} value ({op})")
        if left.type == "geometry":
            raise FilterError("geometries are compared with st_equals, not eq")
        if left.type == "boolean" and op not in ("eq", "ne"):
            raise FilterError(f"true and false can only be compared with eq or ne, not {op}")
        return Typed(f"({left.sql} {SQL_COMPARE[op]} {right.sql})", "boolean")

    def _coerce(self, typed: Typed, kind: str, where: str) -> str:
        if typed.type == kind:
            return typed.sql
        if typed.type == "json":
            if kind == "string":
                return f"({typed.sql} #>> '{{}}')"
            if kind == "number":
                return f"(CASE WHEN jsonb_typeof({typed.sql}) = 'number' THEN ({typed.sql} #>> '{{}}')::float8 END)"
            if kind == "boolean":
                return f"(CASE WHEN jsonb_typeof({typed.sql}) = 'boolean' THEN ({typed.sql} #>> '{{}}')::bool END)"
        raise FilterError(f"{where} needs a {kind} value, got a {typed.type} value")


def check_wkt(text: str) -> str:
    """A WKT literal PostGIS will read: parsed here first, so a bad one is a reason, not a database error."""
    try:
        geometry = wkt.loads(text)
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise FilterError(f"bad WKT literal {text[:80]!r}: {exc}") from None
    coords = shapely.get_coordinates(geometry)
    if geometry.is_empty or not all(math.isfinite(c) for c in coords.flat):
        raise FilterError(f"WKT literal {text[:80]!r} is empty or not finite")
    if any(abs(x) > 180 or abs(y) > 90 for x, y in coords):
        raise FilterError(f"WKT literal {text[:80]!r} lies outside lon/lat degrees (EPSG:4326)")
    return geometry.wkt
