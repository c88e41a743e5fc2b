"""The drill plan format: defaults spelled out, JSON and YAML alike, every wrong field named by its path."""

from __future__ import annotations

from typing import Any

import pytest

from scenes.drills.dispatch import GEOD, RouteStep, UnitRoute, Vehicle
from scenes.drills.errors import PlanError
from scenes.drills.frames import decode_chunk, encode_chunk, encode_frame, positions
from scenes.drills.plan import load_plan_text, parse_plan

FIRE = {"id": "office-fire", "name": "Office fire", "incident": {"kind": "fire", "building": "b.1", "space": "s.1"},
        "schemes": [{"id": "all-exits"}]}


def _with(**changes: Any) -> dict[str, Any]:
    return {**FIRE, **changes}


def test_a_minimal_plan_gets_every_default_spelled_out() -> None:
    document = parse_plan(FIRE).document()
    assert document["time"] == {"mode": "accelerated", "speed": 1.0, "frame_interval_s": 1.0, "duration_s": 900.0}
    assert document["schemes"][0]["injects"] == []


def test_yaml_and_json_give_the_same_plan() -> None:
    text = """
id: office-fire
name: Office fire
incident: {kind: fire, building: b.1, space: s.1}
schemes:
  - id: all-exits
"""
    assert load_plan_text(text) == parse_plan(FIRE)


@pytest.mark.parametrize(("plan", "where", "reason"), [
    ({k: v for k, v in FIRE.items() if k != "name"}, "name", "is required"),
    (_with(bogus=1), "bogus", "unknown field"),
    (_with(schemes=[{"id": "a", "evacuation": {"occupants": {"s.1": -3}}}]), "schemes[0].evacuation.occupants",
     "cannot be negative"),
    (_with(schemes=[{"id": "a", "injects": [{"at_s": 60, "action": "block_exit"}]}]), "schemes[0].injects[0]",
     "names its exit"),
    (_with(schemes=[{"id": "a"}, {"id": "a"}]), "", "unique"),
    (_with(incident={"kind": "fire", "building": "b.1"}), "", "space the fire starts in"),
    (_with(incident={"kind": "gas_leak"}), "", "has a location"),
    (_with(time={"frame_interval_s": 0}), "time.frame_interval_s", "greater than or equal to 0.1"),
    (_with(rain={"hyetograph": [[60, 10], [0, 5]]}), "rain.hyetograph", "increasing time"),
])
def test_a_wrong_plan_is_refused_naming_the_field(plan: dict[str, Any], where: str, reason: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(plan)
    assert caught.value.where == where
    assert reason in caught.value.message


def test_text_that_is_not_yaml_is_refused_clearly() -> None:
    with pytest.raises(PlanError, match="not valid YAML or JSON"):
        load_plan_text("id: [unclosed")


def test_an_unknown_scheme_is_named_with_the_known_ones() -> None:
    with pytest.raises(PlanError, match="schemes: all-exits"):
        parse_plan(FIRE).scheme("nope")


def test_a_unit_drives_its_route_edge_by_edge_and_arrives_on_time() -> None:
    route = UnitRoute("engine-1", "fire_engine", "station", 30.0, (
        RouteStep(((13.0, 52.0), (13.001, 52.0)), 10.0),
        RouteStep(((13.001, 52.0), (13.001, 52.001), (13.002, 52.001)), 40.0)))
    vehicle = Vehicle(route)
    assert vehicle.arrival_s == pytest.approx(80.0)
    assert vehicle.at(0) == (13.0, 52.0) and vehicle.state(0) == "at_station"
    assert vehicle.at(35.0) == pytest.approx((13.0005, 52.0))
    north, east = (GEOD.inv(*a, *b)[2] for a, b in (((13.001, 52.0), (13.001, 52.001)),
                                                   ((13.001, 52.001), (13.002, 52.001))))
    corner = 40.0 + 40.0 * north / (north + east)  # the second edge's time is shared by its legs' lengths
    assert vehicle.at(corner) == pytest.approx((13.001, 52.001))
    assert vehicle.state(79.9) == "driving" and vehicle.state(80.0) == "arrived"


def test_a_unit_without_a_route_never_moves_and_says_so() -> None:
    vehicle = Vehicle(UnitRoute("engine-2", "fire_engine", "station", 0.0, None))
    assert vehicle.at(100) is None and vehicle.arrival_s is None and vehicle.state(100) == "unreachable"


def test_frames_round_trip_through_a_chunk_byte_for_byte() -> None:
    import numpy as np

    frames = [(float(t), encode_frame({"t": float(t), "people": {"positions": positions(
        np.array([13.1234567891]), np.array([52.1]), np.array([34.567]))}})) for t in range(3)]
    assert list(decode_chunk(encode_chunk(frames))) == frames
    assert b"13.1234568" in frames[0][1] and b"34.57" in frames[0][1]
