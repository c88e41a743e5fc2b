"""The simulators of a drill, adapted to the coupler's `Part` protocol (`scenes.drills.coupled`): the building's
evacuation (JuPedSim) coupled with its fire and smoke, the outdoor gas plume and the water on the ground. Each
takes its inputs from the plan and the twin data and gives its share of every frame and of the report."""

from __future__ import annotations

from typing import Any

from scenes.drills.errors import PlanError
from scenes.drills.evacuation_spec import WEIDMANN_SPEED, Distribution, EvacuationSpec
from scenes.drills.outdoor_parts import GasLeak, WaterLogging
from scenes.drills.plan import Evacuation as EvacuationPlan
from scenes.drills.plan import Plan, Scheme
from scenes.drills.twin_data import TwinData


def evacuation_spec(plan: EvacuationPlan) -> EvacuationSpec:
    pre = plan.premovement
    speed = Distribution("normal", plan.speed_m_s, WEIDMANN_SPEED.sd, WEIDMANN_SPEED.min,
                         max(WEIDMANN_SPEED.max, plan.speed_m_s))
    spec = EvacuationSpec(occupants=dict(plan.occupants), density=dict(plan.density),
                          premovement=Distribution(pre.dist, pre.mean_s, pre.sd_s, pre.min_s, pre.max_s),
                          exits=plan.exits if isinstance(plan.exits, str) else dict(plan.exits),
                          closed_stairs=plan.closed_stairs, speed=speed)
    spec.check()
    return spec


def parts_for(plan: Plan, scheme: Scheme, seed: int, data: TwinData) -> list[Any]:
    if plan.hazard == "gas_leak":
        return [GasLeak(plan, data)]
    if plan.hazard == "water_logging":
        return [WaterLogging(plan, data)]
    raise PlanError("no simulator runs fire drills on this server yet", "incident.kind")
