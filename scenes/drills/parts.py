"""The simulators of a drill, adapted to the coupler's `Part` protocol (`scenes.drills.coupled`): the building's
evacuation (JuPedSim) coupled with its fire and smoke, the outdoor gas plume and the water on the ground. Each
takes its inputs from the plan and the twin data and gives its share of every frame and of the report."""

from __future__ import annotations

from typing import Any

from scenes.drills.building_parts import building_parts
from scenes.drills.outdoor_parts import GasLeak, WaterLogging
from scenes.drills.plan import Plan, Scheme
from scenes.drills.twin_data import TwinData


def parts_for(plan: Plan, scheme: Scheme, seed: int, data: TwinData) -> list[Any]:
    if plan.hazard == "gas_leak":
        return [GasLeak(plan, data)]
    if plan.hazard == "water_logging":
        return [WaterLogging(plan, data)]
    return list(building_parts(plan, scheme, seed, data))
