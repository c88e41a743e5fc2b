"""What an evacuation is asked to simulate (pure data, no pydantic: `scenes.drills.plan` converts into it), and
the seeded distributions of pre-movement times and walking speeds.

Sources for the defaults:
- Walking speed on the level: Weidmann, U. (1993), *Transporttechnik der Fussgänger*, ETH Zürich, IVT Schriftenreihe
  90 — free walking speed 1.34 m/s, standard deviation 0.26 m/s; drawn normal, clipped to [0.5, 2.0] m/s.
- Speed on stairs: the hydraulic model of the SFPE Handbook of Fire Protection Engineering (Gwynne & Rosenbaum,
  "Employing the hydraulic model in assessing emergency movement", after Nelson & Mowrer), speed
  S = k (1 − 0.266 D) with k = 1.40 m/s on the level and 1.08 m/s on a 7/11 stair (178 mm risers, 279 mm goings):
  a person's speed along the stair is their level speed × 1.08 / 1.40.
- Stair capacity from the same model: maximum specific flow 1.01 persons/s per metre of effective width on a 7/11
  stair (the width less 0.15 m boundary layer per side), at a density of 1.88 persons/m².
- Pre-movement: lognormal by default, as the SFPE Handbook's human-behaviour chapters fit recorded drills; the mean,
  spread and bounds come from the plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from scenes.drills.errors import PlanError

DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal")
STAIR_SPEED_FACTOR = 1.08 / 1.40  # SFPE hydraulic model: k on a 7/11 stair over k on the level
STAIR_SPECIFIC_FLOW = 1.01  # persons / s / m of effective width, 7/11 stair (SFPE)
STAIR_DENSITY = 1.88  # persons / m² on a stair at its maximum flow (SFPE)
BOUNDARY_LAYER = 0.15  # metres per side (SFPE effective width)
LEVEL_SPECIFIC_FLOW = 1.3  # persons / s / m of effective width through doors and corridors (SFPE)


@dataclass(frozen=True)
class Distribution:
    """A seeded distribution: `fixed` (always `mean`), `uniform` (`min`..`max`), `normal` or `lognormal` (with
    `mean` and `sd`), every draw clipped to [`min`, `max`]."""

    dist: str = "fixed"
    mean: float = 0.0
    sd: float = 0.0
    min: float = 0.0
    max: float = math.inf

    def check(self, where: str) -> None:
        if self.dist not in DISTRIBUTIONS:
            raise PlanError(f"unknown distribution {self.dist!r} (one of {', '.join(DISTRIBUTIONS)})", where)
        for name in ("mean", "sd", "min", "max"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or math.isnan(value) or value < 0:
                raise PlanError(f"{name} must be a number ≥ 0, not {value!r}", f"{where}.{name}")
        if self.max < self.min:
            raise PlanError("max must not be below min", f"{where}.max")
        if self.dist == "lognormal" and self.mean <= 0:
            raise PlanError("a lognormal distribution needs a mean above 0", f"{where}.mean")

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        if self.dist == "fixed":
            values = np.full(n, float(self.mean))
        elif self.dist == "uniform":
            values = rng.uniform(self.min, self.max if math.isfinite(self.max) else self.min, n)
        elif self.dist == "normal":
            values = rng.normal(self.mean, self.sd, n)
        else:
            sigma2 = math.log1p((self.sd / self.mean) ** 2)
            values = rng.lognormal(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2), n)
        return np.clip(values, self.min, self.max)


WEIDMANN_SPEED = Distribution("normal", 1.34, 0.26, 0.5, 2.0)
DEFAULT_PREMOVEMENT = Distribution("lognormal", 60.0, 20.0, 0.0, 600.0)


@dataclass(frozen=True)
class EvacuationSpec:
    """Who is where, when they go, where to and how fast.

    occupants: people per space id; density: persons per m² of a storey's spaces per storey id (`"*"`: every
    storey not named, and only storeys someone can leave). exits: `"nearest"` (by walking distance) or a mapping of
    space or storey ids to exit ids (a space's own entry wins; people not covered take the nearest).
    closed_stairs: stair ids nobody may use. dt: JuPedSim's time step in seconds.
    """

    occupants: Mapping[str, int] = field(default_factory=dict)
    density: Mapping[str, float] = field(default_factory=dict)
    premovement: Distribution = DEFAULT_PREMOVEMENT
    exits: str | Mapping[str, str] = "nearest"
    closed_stairs: tuple[str, ...] = ()
    speed: Distribution = WEIDMANN_SPEED
    stair_speed_factor: float = STAIR_SPEED_FACTOR
    radius: float = 0.2
    dt: float = 0.05

    def check(self) -> None:
        """PlanError for what no building could simulate (negative counts, bad distributions or parameters)."""
        for space, count in sorted(self.occupants.items()):
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise PlanError(f"occupants cannot be negative or fractional ({count!r} in {space!r})",
                                f"occupants.{space}")
        for storey, density in sorted(self.density.items()):
            if not isinstance(density, int | float) or not 0 <= density <= 4:
                raise PlanError(f"density must lie in 0..4 persons/m² ({density!r} on {storey!r})",
                                f"density.{storey}")
        self.premovement.check("premovement")
        self.speed.check("speed")
        if self.speed.min <= 0.05:
            raise PlanError("walking speeds need a minimum above 0.05 m/s", "speed.min")
        if isinstance(self.exits, str) and self.exits != "nearest":
            raise PlanError(f"exits is 'nearest' or a mapping of spaces or storeys to exits, not {self.exits!r}",
                            "exits")
        if not 0 < self.stair_speed_factor <= 1:
            raise PlanError("stair_speed_factor must lie in (0, 1]", "stair_speed_factor")
        if not 0.1 <= self.radius <= 0.4:
            raise PlanError("radius must lie in 0.1..0.4 m", "radius")
        if not 0.001 <= self.dt <= 0.1:
            raise PlanError("dt must lie in 0.001..0.1 s", "dt")
