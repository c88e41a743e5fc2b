"""OpenSceneGraph's ASCII scene format (`.osgt`, as `osgconv` writes it) read into a generic block tree.

The format is line based: `osg::Class {` opens an object, `Name args… {` a property block, `Name args…` is a
simple property and `}` closes. Blocks whose first line is data (numbers or quoted strings: vectors, range lists,
matrices, base64 image data) are kept as raw text and parsed by whoever needs them, with numpy. An object written
a second time is only its `UniqueID`: such references are replaced by the object first written with that id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_DATA_START = frozenset('0123456789-+."')


class OsgtError(ValueError):
    """Text that is not the ASCII scene format as this reader understands it."""


@dataclass
class Block:
    """An object (`osg::Geometry`) or property block (`Children 2`): simple properties, nested blocks, raw data."""

    name: str
    args: list[str] = field(default_factory=list)
    props: dict[str, list[str]] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    data: str | None = None

    @property
    def is_object(self) -> bool:
        return "::" in self.name

    def block(self, name: str) -> Block | None:
        """The first nested block called `name`."""
        return next((b for b in self.blocks if b.name == name), None)

    def prop(self, name: str, default: str | None = None) -> str | None:
        values = self.props.get(name)
        return values[0] if values else default

    def objects(self) -> list[Block]:
        return [b for b in self.blocks if b.is_object]

    def object_in(self, name: str) -> Block | None:
        """The object held by property block `name` (e.g. `VertexArray TRUE { osg::Vec3Array {…} }`)."""
        holder = self.block(name)
        if holder is None:
            return None
        found = holder.objects()
        return found[0] if found else None

    def numbers(self, dtype: type = np.float64) -> NDArray:
        """The raw data of this block as a flat array of numbers."""
        if self.data is None:
            return np.zeros(0, dtype=dtype)
        values = np.fromstring(self.data, dtype=np.float64, sep=" ")  # text mode: whitespace separated
        return values.astype(dtype, copy=False)

    def strings(self) -> list[str]:
        """The raw data of this block as its quoted strings, unquoted."""
        data = self.data or ""
        if "\\" not in data:  # no escapes (always so for base64 image data): split on the quotes
            return data.split('"')[1::2]
        return [unquote(t) for t in _TOKEN.findall(data) if t.startswith('"')]


def unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return token


def _reference(block: Block) -> bool:
    """An object or image block that only names an id written earlier."""
    return not block.blocks and block.data is None and set(block.props) <= {"UniqueID", "ClassName"}


def parse_osgt(text: str) -> Block:
    """The whole document as a root block whose `blocks` are the top-level objects."""
    if not text.startswith("#Ascii"):
        raise OsgtError("not an OpenSceneGraph ASCII scene (no '#Ascii' header)")
    root = Block("")
    stack = [root]
    by_id: dict[str, Block] = {}
    pos, end = 0, len(text)
    while pos < end:
        newline = text.find("\n", pos)
        newline = end if newline < 0 else newline
        line = text[pos:newline].strip()
        pos = newline + 1
        if not line or line[0] == "#":
            continue
        if line == "}":
            if len(stack) == 1:
                raise OsgtError("unbalanced '}'")
            done = stack.pop()
            uid = done.prop("UniqueID")
            if uid is not None and (done.is_object or done.name == "Image"):
                if _reference(done) and uid in by_id:
                    stack[-1].blocks[-1] = by_id[uid]
                else:
                    by_id.setdefault(uid, done)
            continue
        if line[-1] != "{":
            tokens = _TOKEN.findall(line)
            stack[-1].props.setdefault(tokens[0], tokens[1:])
            continue
        header = line[:-1].split()
        block = Block(header[0] if header else "", header[1:])
        stack[-1].blocks.append(block)
        first = _next_content(text, pos)
        if first < end and text[first] in _DATA_START:
            block.data, pos = _raw_data(text, first)
        else:
            stack.append(block)
    if len(stack) != 1:
        raise OsgtError("the scene ends inside a block (truncated?)")
    return root


def _next_content(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _raw_data(text: str, start: int) -> tuple[str, int]:
    """Raw text from `start` to the '}' closing its block (outside quotes); returns it and the position after."""
    pos = start
    while True:
        brace = text.find("}", pos)
        quote = text.find('"', pos)
        if brace < 0:
            raise OsgtError("a data block is never closed (truncated?)")
        if 0 <= quote < brace:
            closing = text.find('"', quote + 1)
            while closing > 0 and text[closing - 1] == "\\":
                closing = text.find('"', closing + 1)
            if closing < 0:
                raise OsgtError("a quoted string is never closed (truncated?)")
            pos = closing + 1
            continue
        newline = text.find("\n", brace)
        return text[start:brace], (len(text) if newline < 0 else newline + 1)
