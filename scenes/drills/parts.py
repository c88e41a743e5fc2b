"""The hazard simulators of a drill, adapted to the coupler's `Part` protocol (`scenes.drills.coupled`)."""

from __future__ import annotations

from typing import Any

from scenes.drills.errors import PlanError
from scenes.drills.plan import Plan, Scheme
from scenes.drills.twin_data import TwinData


def parts_for(plan: Plan, scheme: Scheme, seed: int, data: TwinData) -> list[Any]:
    raise PlanError(f"no simulator runs {plan.hazard} drills on this server yet", "incident.kind")
