"""The `$filter` and `$orderby` grammar of SensorThings API 1.1 (its OData subset) as a recursive-descent parser:
text → a small tree of values. Pure; nothing here knows the data model or SQL.

    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("eq"|"ne"|"gt"|"ge"|"lt"|"le") sum)?
    sum     := product (("add"|"sub") product)*
    product := unary (("mul"|"div"|"mod") unary)*
    unary   := "-" unary | primary
    primary := literal | "(" or ")" | name "(" [or ("," or)*] ")" | path
    path    := name ("/" name)*
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_LENGTH = 10_000
MAX_DEPTH = 64


class FilterError(ValueError):
    """A filter or order that does not parse, with the reason and where."""


@dataclass(frozen=True)
class Literal:
    """A constant: `type` is string, number, boolean, null, datetime or geometry (the value then WKT text)."""

    value: Any
    type: str


@dataclass(frozen=True)
class Path:
    """A property, possibly through navigation properties: `Datastream/ObservedProperty/name`."""

    segments: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "neg"
    operand: Node


Node = Literal | Path | Call | Binary | Unary

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})"
TOKENS = re.compile(rf"""
    (?P<space>\s+)
  | (?P<geo>(?:geography|geometry)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>{DATETIME})
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[@A-Za-z_$][A-Za-z0-9_.]*)
  | (?P<punct>[()/,-])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"a filter or order is at most {MAX_LENGTH:,} characters")
    tokens: list[Token] = []
    at = 0
    while at < len(text):
        match = TOKENS.match(text, at)
        if match is None:
            if text[at] == "'":
                raise FilterError(f"unterminated string literal at position {at}")
            raise FilterError(f"unexpected character {text[at]!r} at position {at}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group(), at))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _datetime(text: str, at: int) -> datetime:
    """The literal with its own offset (for `totaloffsetminutes`); one that leaves the calendar in UTC is bad."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        value.astimezone(UTC)
        return value
    except (ValueError, OverflowError):
        raise FilterError(f"bad datetime literal {text!r} at position {at}") from None


def depth(node: Node) -> int:
    """How deep a tree nests (without recursion: a long chain of `add` is deep too)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(current, Binary):
            stack += [(current.left, level + 1), (current.right, level + 1)]
        elif isinstance(current, Unary):
            stack.append((current.operand, level + 1))
        elif isinstance(current, Call):
            stack += [(a, level + 1) for a in current.args]
    return deepest


def _shallow(node: Node) -> Node:
    if depth(node) > MAX_DEPTH:
        raise FilterError(f"a filter nests at most {MAX_DEPTH} levels (a chain of n operators nests n deep)")
    return node


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, *words: str) -> str | None:
        """The current token when it is one of `words` (case-sensitive, as OData's operators are)."""
        if self.token.kind == "name" and self.token.text in words:
            return self.take().text
        return None

    def expect(self, text: str) -> None:
        if self.token.text != text or self.token.kind not in ("punct",):
            found = self.token.text or "the end"
            raise FilterError(f"expected {text!r} at position {self.token.at}, found {found!r}")
        self.take()

    def end(self) -> None:
        if self.token.kind != "end":
            raise FilterError(f"unexpected {self.token.text!r} at position {self.token.at}")

    # -- the grammar ---------------------------------------------------------------------------------------------
    def expression(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"a filter nests at most {MAX_DEPTH} levels")
        try:
            node = self.conjunction()
            while self.keyword("or"):
                node = Binary("or", node, self.conjunction())
            return node
        finally:
            self.depth -= 1

    def conjunction(self) -> Node:
        node = self.negation()
        while self.keyword("and"):
            node = Binary("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.keyword("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterError(f"a filter nests at most {MAX_DEPTH} levels")
            try:
                return Unary("not", self.negation())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        op = self.keyword(*COMPARISONS)
        if op is not None:
            node = Binary(op, node, self.sum())
            if self.token.kind == "name" and self.token.text in COMPARISONS:
                raise FilterError(f"comparisons do not chain (position {self.token.at}); use and")
        return node

    def sum(self) -> Node:
        node = self.product()
        while (op := self.keyword("add", "sub")) is not None:
            node = Binary(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while (op := self.keyword("mul", "div", "mod")) is not None:
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.token.kind == "punct" and self.token.text == "-":
            self.take()
            operand = self.unary()
            if isinstance(operand, Literal) and operand.type == "number":
                return Literal(-operand.value, "number")
            return Unary("neg", operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "string":
            self.take()
            return Literal(token.text[1:-1].replace("''", "'"), "string")
        if token.kind == "geo":
            self.take()
            body = token.text[token.text.index("'") + 1:-1].replace("''", "'")
            return Literal(body, "geometry")
        if token.kind == "datetime":
            self.take()
            return Literal(_datetime(token.text, token.at), "datetime")
        if token.kind == "number":
            self.take()
            number = float(token.text) if re.search(r"[.eE]", token.text) or len(token.text) > 15 else int(token.text)
            if isinstance(number, float) and number in (float("inf"), float("-inf")):
                raise FilterError(f"number {token.text} at position {token.at} is out of range")
            return Literal(number, "number")
        if token.kind == "punct" and token.text == "(":
            self.take()
            node = self.expression()
            self.expect(")")
            return node
        if token.kind == "name":
            return self.name()
        raise FilterError(f"expected a value at position {token.at}, found {token.text or 'the end'!r}")

    def name(self) -> Node:
        token = self.take()
        if token.text in ("true", "false"):
            return Literal(token.text == "true", "boolean")
        if token.text == "null":
            return Literal(None, "null")
        if token.text in (*COMPARISONS, "and", "or", "add", "sub", "mul", "div", "mod"):
            raise FilterError(f"operator {token.text!r} at position {token.at} needs a value before it")
        if self.token.kind == "punct" and self.token.text == "(":
            self.take()
            args: list[Node] = []
            if not (self.token.kind == "punct" and self.token.text == ")"):
                args.append(self.expression())
                while self.token.kind == "punct" and self.token.text == ",":
                    self.take()
                    args.append(self.expression())
            self.expect(")")
            return Call(token.text.lower(), tuple(args))
        segments = [token.text]
        while self.token.kind == "punct" and self.token.text == "/":
            self.take()
            if self.token.kind != "name":
                raise FilterError(f"expected a property name after '/' at position {self.token.at}")
            segments.append(self.take().text)
        return Path(tuple(segments))


def parse_filter(text: str) -> Node:
    """A `$filter` value as a tree; FilterError naming what and where when it does not parse."""
    parser = Parser(text)
    if parser.token.kind == "end":
        raise FilterError("$filter is empty")
    node = parser.expression()
    parser.end()
    return _shallow(node)


def parse_orderby(text: str) -> list[tuple[Node, bool]]:
    """A `$orderby` value: expressions each with `descending`."""
    parser = Parser(text)
    order: list[tuple[Node, bool]] = []
    while True:
        if parser.token.kind == "end":
            raise FilterError("$orderby names no property" if not order else "$orderby ends with ','")
        node = parser.sum()
        direction = None  # asc or desc, in any case (clients send ASC)
        if parser.token.kind == "name" and parser.token.text.lower() in ("asc", "desc"):
            direction = parser.take().text.lower()
        order.append((_shallow(node), direction == "desc"))
        if parser.token.kind == "end":
            return order
        if parser.token.text != ",":
            raise FilterError(f"expected asc, desc or ',' at position {parser.token.at}, found "
                              f"{parser.token.text!r}")
        parser.take()
