"""Graded alarms as a pure function of readings: levels, hysteresis, minimum duration, and their validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twin.live.alarms import RuleError, SensorAlarm, parse_rule, step, worst

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
GAS = {"direction": "above", "levels": {"blue": 5, "yellow": 10, "orange": 20, "red": 25}, "hysteresis": 2,
       "min_duration_s": 0}


def run(rule: dict, values: list[float], every_s: float = 1.0) -> list[tuple[str, str | None]]:
    parsed, state = parse_rule(rule), SensorAlarm()
    out = []
    for i, value in enumerate(values):
        t = step(state, parsed, "S", T0 + timedelta(seconds=i * every_s), value)
        if t is not None:
            out.append((t.action, t.level))
    return out


def test_an_alarm_is_raised_escalated_de_escalated_and_cleared_as_values_cross_the_levels() -> None:
    assert run(GAS, [1, 6, 12, 30, 21, 15, 2]) == [
        ("raised", "blue"), ("escalated", "yellow"), ("escalated", "red"), ("de-escalated", "orange"),
        ("de-escalated", "yellow"), ("cleared", None)]


def test_hysteresis_keeps_a_level_until_the_value_falls_back_past_it() -> None:
    assert run(GAS, [12, 9.5, 8.5, 10.5, 7.9]) == [("raised", "yellow"), ("de-escalated", "blue")]


def test_noise_shorter_than_the_minimum_duration_does_not_raise() -> None:
    rule = {**GAS, "min_duration_s": 5}
    assert run(rule, [12, 3, 12, 3, 12, 3]) == []
    assert run(rule, [12, 12, 12, 12, 12, 12, 1, 1, 1, 1, 1, 1]) == [("raised", "yellow"), ("cleared", None)]


def test_a_rising_value_held_long_enough_raises_the_highest_level_it_reached() -> None:
    assert run({**GAS, "min_duration_s": 3}, [6, 12, 22, 30, 30]) == [("raised", "red")]


def test_below_thresholds_alarm_on_falling_values() -> None:
    rule = {"direction": "below", "levels": {"yellow": 0.3, "red": 0.1}, "hysteresis": 0.05, "min_duration_s": 0}
    assert run(rule, [0.5, 0.25, 0.05, 0.12, 0.2, 0.4]) == [
        ("raised", "yellow"), ("escalated", "red"), ("de-escalated", "yellow"), ("cleared", None)]


def test_every_worker_names_an_alarm_alike() -> None:
    a, b = SensorAlarm(), SensorAlarm()
    rule = parse_rule(GAS)
    first = step(a, rule, "S", T0, 30)
    second = step(b, rule, "S", T0, 30)
    assert first is not None and second is not None and first.alarm_id == second.alarm_id


@pytest.mark.parametrize("rule, reason", [
    ({"levels": {"red": 1, "blue": 5}}, "rise"),
    ({"direction": "sideways", "levels": {"red": 1}}, "direction"),
    ({"levels": {"purple": 1}}, "unknown alarm levels"),
    ({"levels": {"red": float("nan")}}, "finite"),
    ({"levels": {"red": 1}, "hysteresis": -1}, "negative"),
    ({"levels": {}}, "levels"),
    ({"levels": {"red": 1}, "colour": "x"}, "unknown threshold fields"),
])
def test_unusable_rules_are_refused_with_the_reason(rule: dict, reason: str) -> None:
    with pytest.raises(RuleError, match=reason):
        parse_rule(rule)


def test_an_objects_level_is_the_worst_of_its_sensors() -> None:
    assert worst(["blue", None, "orange", "yellow"]) == "orange" and worst([None]) is None
