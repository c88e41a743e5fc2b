"""The websocket protocol's client messages, parsed and checked (docs/live-protocol.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twin.live.kinds import KINDS
from twin.live.readings import parse_time
from twin.live.scope import CHANNELS, Area, ScopeError, parse_area

OPS = ("subscribe", "ping", "readings", "replay", "drill_replay", "pause", "play", "seek", "speed", "live")
MAX_OBJECTS = 10_000


class ProtocolError(ValueError):
    """A client message that cannot be followed, with the reason (answered as an `error` message)."""


@dataclass(frozen=True)
class Subscribe:
    area: Area | None
    objects: tuple[str, ...] | None
    children: bool
    kinds: frozenset[str] | None
    channels: frozenset[str]
    resume: int | None


@dataclass(frozen=True)
class Replay:
    start: datetime
    end: datetime
    speed: float


def op_of(message: Any) -> str:
    if not isinstance(message, dict):
        raise ProtocolError("a message is a JSON object with an `op`")
    op = message.get("op")
    if op not in OPS:
        raise ProtocolError(f"unknown op {op!r}; ops are {', '.join(OPS)}")
    return str(op)


def parse_subscribe(message: dict[str, Any]) -> Subscribe:
    unknown = set(message) - {"op", "bbox", "polygon", "radius", "objects", "children", "kinds", "channels",
                              "resume", "id"}
    if unknown:
        raise ProtocolError(f"unknown subscribe fields: {', '.join(sorted(unknown))}")
    try:
        area = parse_area(message)
    except ScopeError as exc:
        raise ProtocolError(str(exc)) from None
    objects = message.get("objects")
    if objects is not None:
        if not isinstance(objects, list) or not all(isinstance(o, str) and o for o in objects):
            raise ProtocolError("objects is a list of twin object ids")
        if len(objects) > MAX_OBJECTS:
            raise ProtocolError(f"at most {MAX_OBJECTS:,} objects per subscription")
    kinds = message.get("kinds")
    if kinds is not None and (not isinstance(kinds, list) or not all(k in KINDS for k in kinds)):
        raise ProtocolError(f"kinds is a list of sensor kinds: {', '.join(sorted(KINDS))}")
    channels = message.get("channels", sorted(CHANNELS))
    if not isinstance(channels, list) or not channels or not all(c in CHANNELS for c in channels):
        raise ProtocolError(f"channels is a list of: {', '.join(sorted(CHANNELS))}")
    resume = message.get("resume")
    if resume is not None and (isinstance(resume, bool) or not isinstance(resume, int) or resume < 0):
        raise ProtocolError("resume is the `seq` of the last message you had")
    return Subscribe(area, tuple(objects) if objects is not None else None, bool(message.get("children", False)),
                     frozenset(kinds) if kinds is not None else None, frozenset(channels), resume)


def parse_speed(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0.01 <= value <= 10_000:
        raise ProtocolError("speed is a number from 0.01 to 10,000 (1 = real time)")
    return float(value)


def parse_instant(value: Any, what: str) -> datetime:
    if value is None:
        raise ProtocolError(f"{what} is missing")
    try:
        return parse_time(value, datetime.now().astimezone())
    except ValueError as exc:
        raise ProtocolError(f"{what}: {exc}") from None


def parse_seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ProtocolError(f"{what} is a number of seconds from the drill's start")
    return float(value)


def parse_replay(message: dict[str, Any]) -> Replay:
    start, end = parse_instant(message.get("from"), "from"), parse_instant(message.get("to"), "to")
    if end <= start:
        raise ProtocolError("to must come after from")
    return Replay(start, end, parse_speed(message.get("speed", 1)))
