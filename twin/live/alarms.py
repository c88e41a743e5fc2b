"""Graded alarms (分级分色预警): thresholds with hysteresis and a minimum duration, evaluated on reading time.

A rule names a direction (`above` or `below`), up to four levels blue < yellow < orange < red with their
thresholds, a hysteresis and a minimum duration. A value *indicates* the highest level whose threshold it
crosses; once at a level, the value must fall back past that threshold by the hysteresis before a lower level
is indicated. A change of level happens when readings have indicated it (or a level further in the same
direction) for at least the minimum duration of reading time, so noise around a threshold does not flap.
Everything here is pure: the same readings in the same order give the same transitions.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LEVELS = ("blue", "yellow", "orange", "red")
RANK = {level: i + 1 for i, level in enumerate(LEVELS)}
_ALARM_NAMESPACE = uuid.UUID("7d3b1c52-4a8e-4f0b-9a57-0c2f8f1f5e21")


class RuleError(ValueError):
    """A threshold rule that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class Rule:
    direction: str
    thresholds: tuple[tuple[int, float], ...]  # (rank, threshold), rank ascending
    hysteresis: float
    min_duration_s: float

    def as_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "levels": {LEVELS[r - 1]: t for r, t in self.thresholds},
                "hysteresis": self.hysteresis, "min_duration_s": self.min_duration_s}

    def crosses(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.direction == "above" else value <= threshold

    def indicated(self, value: float, current: int) -> int:
        """The level `value` indicates for a sensor now at rank `current` (0 = no alarm)."""
        raw = 0
        for rank, threshold in self.thresholds:
            if self.crosses(value, threshold):
                raw = rank
        if raw >= current:
            return raw
        back = self.hysteresis if self.direction == "above" else -self.hysteresis
        held = 0
        for rank, threshold in self.thresholds:
            if rank <= current and self.crosses(value, threshold - back):
                held = rank
        return held


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def parse_rule(raw: Any) -> Rule:
    """A rule from its JSON form; RuleError with the reason when it is not usable."""
    if not isinstance(raw, dict):
        raise RuleError("a threshold rule is an object with direction, levels, hysteresis, min_duration_s")
    unknown = set(raw) - {"direction", "levels", "hysteresis", "min_duration_s"}
    if unknown:
        raise RuleError(f"unknown threshold fields: {', '.join(sorted(unknown))}")
    direction = raw.get("direction", "above")
    if direction not in ("above", "below"):
        raise RuleError(f"direction must be 'above' or 'below', got {direction!r}")
    levels = raw.get("levels")
    if not isinstance(levels, dict) or not levels:
        raise RuleError("levels must map one or more of blue, yellow, orange, red to thresholds")
    bad = [name for name in levels if name not in RANK]
    if bad:
        raise RuleError(f"unknown alarm levels {bad}; levels are {', '.join(LEVELS)}")
    thresholds = tuple(sorted((RANK[name], _number(v, f"level {name}")) for name, v in levels.items()))
    values = [t for _, t in thresholds]
    ordered = all(a < b for a, b in itertools.pairwise(values)) if direction == "above" else \
        all(a > b for a, b in itertools.pairwise(values))
    if not ordered:
        raise RuleError(f"thresholds must {'rise' if direction == 'above' else 'fall'} from blue to red: {levels}")
    hysteresis = _number(raw.get("hysteresis", 0.0), "hysteresis")
    duration = _number(raw.get("min_duration_s", 0.0), "min_duration_s")
    if hysteresis < 0 or duration < 0:
        raise RuleError("hysteresis and min_duration_s must not be negative")
    return Rule(direction, thresholds, hysteresis, duration)


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a sensor's alarm: raised, escalated, de-escalated or cleared."""

    alarm_id: str
    sensor_id: str
    action: str
    level: str | None
    previous: str | None
    value: float
    time: datetime
    raised_at: datetime


def alarm_id(sensor_id: str, raised_at: datetime) -> str:
    """A stable alarm id: every worker evaluating the same readings names the alarm alike."""
    return str(uuid.uuid5(_ALARM_NAMESPACE, f"{sensor_id}|{raised_at.isoformat()}"))


@dataclass(slots=True)
class SensorAlarm:
    """Where one sensor's alarm stands: its level, and a pending change with the reading time it began."""

    rank: int = 0
    raised_at: datetime | None = None
    pending: int | None = None
    since: datetime | None = None
    acknowledged_by: str | None = None
    alarm_id: str | None = None


def step(state: SensorAlarm, rule: Rule, sensor_id: str, time: datetime, value: float) -> Transition | None:
    """Advance `state` by one reading (newer than the last); the transition it causes, if any."""
    target = rule.indicated(value, state.rank)
    if target == state.rank:
        state.pending = state.since = None
        return None
    rising = target > state.rank
    if state.pending is None or (state.pending > state.rank) != rising or state.since is None:
        state.pending, state.since = target, time
    else:
        state.pending = target
    if (time - state.since).total_seconds() < rule.min_duration_s:
        return None
    previous = state.rank
    state.rank, state.pending, state.since = target, None, None
    if previous == 0:
        state.raised_at, state.acknowledged_by = time, None
        action = "raised"
    elif target == 0:
        action = "cleared"
    else:
        action = "escalated" if rising else "de-escalated"
    assert state.raised_at is not None
    if action == "raised":
        state.alarm_id = alarm_id(sensor_id, time)
    assert state.alarm_id is not None
    transition = Transition(state.alarm_id, sensor_id, action,
                            LEVELS[target - 1] if target else None, LEVELS[previous - 1] if previous else None,
                            value, time, state.raised_at)
    if target == 0:
        state.raised_at = state.alarm_id = None
    return transition


def worst(levels: list[str | None]) -> str | None:
    """The worst of some levels (an object's level is the worst of its sensors')."""
    ranks = [RANK[level] for level in levels if level]
    return LEVELS[max(ranks) - 1] if ranks else None
