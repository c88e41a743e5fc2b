"""Stairs between storeys as the SFPE hydraulic model treats them (see `scenes.drills.evacuation_spec` for the
source): people step on at one landing no faster than the stair's flow capacity — the maximum specific flow times
its effective width — and no more of them than its area holds at the density of maximum flow; each walks its
length at their own stair speed and steps off at the other landing, in order, as soon as the spot there is free.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from scenes.drills.evacuation_spec import BOUNDARY_LAYER, STAIR_DENSITY, STAIR_SPECIFIC_FLOW
from scenes.drills.routing import stair_length
from scenes.drills.site import Stair


@dataclass
class Walker:
    person: int
    down: bool  # from head to foot
    on_at: float
    off_at: float  # earliest time at the far landing


@dataclass
class StairFlow:
    stair: Stair
    length: float = 0.0
    rate: float = 0.0  # persons per second it lets on
    capacity: int = 1  # persons on it at once
    next_on: float = 0.0
    walkers: deque[Walker] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.length = stair_length(self.stair.rise, self.stair.run)
        effective = max(self.stair.width - 2 * BOUNDARY_LAYER, 0.3)
        self.rate = STAIR_SPECIFIC_FLOW * effective
        self.capacity = max(1, math.floor(STAIR_DENSITY * effective * self.length))

    def can_board(self, t: float) -> bool:
        return len(self.walkers) < self.capacity and t + 1e-9 >= self.next_on

    def board(self, person: int, down: bool, t: float, speed: float) -> None:
        """`speed`: the person's speed along the stair, m/s."""
        self.walkers.append(Walker(person, down, t, t + self.length / speed))
        self.next_on = max(self.next_on, t) + 1.0 / self.rate

    def due(self, t: float) -> list[Walker]:
        """Walkers at the far landing by `t`, in order (a walker waiting to step off holds those behind)."""
        ready = []
        for walker in self.walkers:
            if walker.off_at > t + 1e-9:
                break
            ready.append(walker)
        return ready

    def step_off(self, walker: Walker) -> None:
        self.walkers.remove(walker)

    def progress(self, walker: Walker, t: float) -> float:
        """0 at the landing they boarded at, 1 at the other."""
        span = max(walker.off_at - walker.on_at, 1e-9)
        return min(max((t - walker.on_at) / span, 0.0), 1.0)
