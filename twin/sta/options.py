"""Query options (`$top`, `$skip`, `$count`, `$select`, `$expand`, `$filter`, `$orderby`) parsed and checked
against the entity they apply to, `$expand` with its nested options (`Datastreams($expand=Observations($top=1;
$orderby=phenomenonTime desc))` and the path form `Datastreams/Observations`). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from twin.sta.filter import FilterError, Node, Path, parse_filter, parse_orderby
from twin.sta.model import ENTITIES, Entity

DEFAULT_TOP = 100
MAX_TOP = 10_000
MAX_SKIP = 1_000_000
MAX_EXPAND_DEPTH = 4
OPTIONS = ("$top", "$skip", "$count", "$select", "$expand", "$filter", "$orderby", "$resultFormat")


@dataclass
class Expand:
    navigation: str
    query: Query


@dataclass
class Query:
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False
    select: list[str] | None = None
    expand: list[Expand] = field(default_factory=list)
    filter: Node | None = None
    orderby: list[tuple[Node, bool]] = field(default_factory=list)
    top_given: bool = False
    data_array: bool = False
    """`$resultFormat=dataArray`: Observations as one table per Datastream."""
    options: list[tuple[str, str]] = field(default_factory=list)
    """The options as given (for the next page's link)."""

    def is_latest(self) -> bool:
        """`$top=1;$orderby=phenomenonTime desc` (or resultTime) alone: the latest observation, from the hot store."""
        return (self.top == 1 and self.skip == 0 and not self.count and self.filter is None and not self.expand
                and len(self.orderby) == 1 and self.orderby[0][1]
                and self.orderby[0][0] in (Path(("phenomenonTime",)), Path(("resultTime",))))


def split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside parentheses and quoted strings."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise FilterError(f"unbalanced ')' at position {i} of {text[:80]!r}")
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quoted:
        raise FilterError(f"unbalanced parentheses or quotes in {text[:80]!r}")
    parts.append(text[start:])
    return parts


def _integer(name: str, text: str, high: int) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise FilterError(f"{name} must be a whole number from 0 to {high:,}, got {text[:40]!r}")
    value = int(text)
    if value > high:
        raise FilterError(f"{name} is at most {high:,}, got {value:,}")
    return value


def parse_query(options: list[tuple[str, str]], entity: Entity, depth: int = 0) -> Query:
    """The options of a request (or of an `$expand` item) for `entity`; FilterError with the reason."""
    query = Query(options=list(options))
    seen: set[str] = set()
    for name, value in options:
        if name in seen:
            raise FilterError(f"{name} is given twice")
        seen.add(name)
        if name == "$top":
            query.top, query.top_given = _integer("$top", value, MAX_TOP), True
        elif name == "$skip":
            query.skip = _integer("$skip", value, MAX_SKIP)
        elif name == "$count":
            if value not in ("true", "false"):
                raise FilterError(f"$count is true or false, got {value[:40]!r}")
            query.count = value == "true"
        elif name == "$select":
            query.select = _select(value, entity)
        elif name == "$filter":
            query.filter = parse_filter(value)
        elif name == "$orderby":
            query.orderby = parse_orderby(value)
        elif name == "$expand":
            query.expand = _expand(value, entity, depth)
        elif name == "$resultFormat":
            if value not in ("default", "dataArray"):
                raise FilterError(f"$resultFormat is default or dataArray, got {value[:40]!r}")
            if value == "dataArray" and (entity.name != "Observation" or depth):
                raise FilterError("$resultFormat=dataArray applies to a collection of Observations only")
            query.data_array = value == "dataArray"
        else:
            raise FilterError(f"unknown query option {name[:40]!r}; known: {', '.join(OPTIONS)}")
    if query.data_array:
        if query.expand:
            raise FilterError("$resultFormat=dataArray takes no $expand")
        for name in query.select or ():
            if name not in entity.properties:
                raise FilterError(f"$resultFormat=dataArray: {name!r} is not a property of Observations")
    return query


def _select(value: str, entity: Entity) -> list[str]:
    names = [n.strip() for n in value.split(",")]
    for name in names:
        if name not in entity.properties and name not in entity.navigations and name != "@iot.selfLink":
            known = ", ".join(sorted({*entity.properties, *entity.navigations}))
            raise FilterError(f"$select: {entity.name} has no property {name[:60]!r} (it has {known})")
    return names


def _expand(value: str, entity: Entity, depth: int) -> list[Expand]:
    if depth >= MAX_EXPAND_DEPTH:
        raise FilterError(f"$expand nests at most {MAX_EXPAND_DEPTH} levels")
    expands: list[Expand] = []
    for item in split_top(value, ","):
        item = item.strip()
        match = re.fullmatch(r"([A-Za-z]+)(?:/([^()]*?))?(?:\((.*)\))?", item, re.DOTALL)
        if match is None:
            raise FilterError(f"$expand: cannot read {item[:80]!r}")
        head, rest, inner = match.groups()
        navigation = entity.navigations.get(head)
        if navigation is None:
            raise FilterError(f"$expand: {entity.name} has no navigation property {head!r} "
                              f"(it has {', '.join(sorted(entity.navigations))})")
        target = ENTITIES[navigation.target]
        options: list[tuple[str, str]] = []
        if inner is not None:
            for part in split_top(inner, ";"):
                key, sep, text = part.partition("=")
                if not sep:
                    raise FilterError(f"$expand: option {part[:60]!r} of {head} is not $name=value")
                options.append((key.strip(), text))
        if rest:  # the path form: Datastreams/Observations(...)
            options = [("$expand", rest + (f"({inner})" if inner is not None else ""))]
        query = parse_query(options, target, depth + 1)
        if not navigation.many and (query.top_given or query.skip or query.count or query.filter or query.orderby):
            raise FilterError(f"$expand: {head} is one entity; $top, $skip, $count, $filter and $orderby do not "
                              "apply to it")
        expands.append(Expand(head, query))
    return expands
