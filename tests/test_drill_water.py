"""Water-logging on a grid (local-inertial shallow water): volume kept on a closed basin, water running downhill
and pooling in the hollow, a lake at rest staying at rest, inlets taking no more than their capacity, the same
inputs giving the same depths, bad inputs refused; the drill's report of a given terrain with inlets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest

from scenes.demo_plans import rain_plan
from scenes.drills.errors import PlanError
from scenes.drills.outdoor_parts import WaterLogging
from scenes.drills.plan import parse_plan
from scenes.drills.twin_data import Terrain, TwinData
from scenes.drills.water_flow import WaterFlow, valley

STORM = [(0.0, 60.0), (1200.0, 0.0)]


def test_a_closed_basin_keeps_every_drop_of_rain_within_a_tenth_of_a_percent() -> None:
    flow = WaterFlow(valley(600, 10), 10.0, STORM)
    flow.advance(2400)
    assert flow.rain_in == pytest.approx(0.06 / 3600 * 1200 * 600 * 600, rel=1e-9)
    assert flow.volume() == pytest.approx(flow.rain_in, rel=1e-3)


def test_water_runs_downhill_and_pools_in_the_hollow() -> None:
    ground = valley(600, 10)
    flow = WaterFlow(ground, 10.0, STORM)
    flow.advance(3600)
    deepest = np.unravel_index(np.argmax(flow.h), flow.h.shape)
    lowest = np.unravel_index(np.argmin(ground), ground.shape)
    assert np.hypot(deepest[0] - lowest[0], deepest[1] - lowest[1]) <= 3
    assert flow.h.max() > 10 * np.median(flow.h)


def test_a_lake_at_rest_stays_at_rest() -> None:
    ground = valley(300, 10)
    flow = WaterFlow(ground, 10.0, [(0.0, 0.0)])
    flow.h = np.maximum(9.5 - ground, 0.0)
    start = flow.h.copy()
    flow.advance(600)
    assert np.abs(flow.h - start).max() < 1e-9


def test_an_inlet_takes_no_more_than_its_capacity_and_the_books_balance() -> None:
    ground = valley(400, 10)
    i, j = np.unravel_index(np.argmin(ground), ground.shape)
    flow = WaterFlow(ground, 10.0, STORM, inlets=[(int(i), int(j), 0.05)])
    flow.advance(2400)
    assert 0 < flow.drained <= 0.05 * 2400 + 1e-9
    assert flow.volume() + flow.drained == pytest.approx(flow.rain_in, rel=1e-3)


def test_an_open_boundary_lets_water_leave_and_says_how_much() -> None:
    flat = np.fromfunction(lambda i, j: 10.0 - 0.01 * j, (20, 40))  # a slope down to the east
    flow = WaterFlow(flat, 10.0, STORM, closed=False)
    flow.advance(3600)
    assert flow.outflow > 0
    assert flow.volume() + flow.outflow == pytest.approx(flow.rain_in, rel=1e-2)


def test_the_same_inputs_give_the_same_depths() -> None:
    runs = []
    for _ in range(2):
        flow = WaterFlow(valley(300, 10), 10.0, STORM)
        flow.advance(900)
        runs.append(flow.h.tobytes())
    assert runs[0] == runs[1]


def test_deeper_zones_lie_inside_shallower_ones() -> None:
    flow = WaterFlow(valley(600, 10), 10.0, [(0.0, 120.0), (1800.0, 0.0)])
    flow.advance(3600)
    zones = flow.zones(-300, -300)
    assert [z[0] for z in zones] == [0.15, 0.3, 0.5]
    assert zones[0][1].buffer(1e-6).contains(zones[-1][1])


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros(5), 10.0, STORM), "2-D grid"), ((np.zeros((5, 5)), 0.0, STORM), "cell size"),
    ((np.zeros((5, 5)), 10.0, [(0.0, -1.0)]), "mm/h"), ((np.full((5, 5), np.nan), 10.0, STORM), "no heights"),
])
def test_bad_inputs_are_refused_clearly(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PlanError, match=message):
        WaterFlow(*args)


def test_a_cloudburst_on_a_given_terrain_with_inlets_reports_its_books_as_plain_json_numbers() -> None:
    plan = parse_plan(rain_plan())
    lon, lat = plan.incident.location[:2]  # type: ignore[index]
    ground = valley(400, 10)
    terrain = Terrain(ground, 10.0, -200.0, -200.0, "terrain test")
    inlet = (lon + 30 / (111_319.49 * math.cos(math.radians(lat))), lat)  # 30 m east of the centre, on the grid
    part = WaterLogging(plan, TwinData(terrain=terrain, inlets=(("drainage.inlet-1", *inlet),)))
    part.advance(1800)
    report: dict[str, Any] = {}
    part.report(report)
    water = orjson.loads(orjson.dumps(report))["water"]  # numpy scalars would not serialise
    assert water["terrain"] == "terrain test" and water["volume"]["drained_m3"] > 0
    assert all(type(v) is float for v in water["volume"].values())
