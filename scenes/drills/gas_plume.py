"""A gas leak outdoors: the Gaussian plume of a continuous point release with reflection at the ground.

C(x, y, z) = Q / (2π u σ_y σ_z) · exp(−y² / 2σ_y²) · [exp(−(z − H)² / 2σ_z²) + exp(−(z + H)² / 2σ_z²)]

x downwind, y crosswind, z up (metres), Q the release (kg/s), u the wind speed, H the release height; σ_y(x), σ_z(x)
after Briggs (1973) for the Pasquill–Gifford stability classes A–F, open-country and urban sets (as tabulated in
Griffiths 1994, "Errors in the use of the Briggs parameterization for atmospheric dispersion coefficients", and
the TNO Yellow Book ch. 4). The plume front moves at the wind speed: nothing lies beyond x = u (t − t₀). A change
of wind (an inject) at t₁ starts a new plume from the source, out to its own front; the old plume keeps its shape
but leaves the source like a plug, holding only where u (t − t₁) < x ≤ u (t − t₀) along its old axis — a simple,
documented way to turn a steady plume (it neglects the old cloud's drift with the new wind).

Concentrations are reported in ppm (at 25 °C, 1 atm) at breathing height (1.5 m). Threshold zones are the ground
areas where the concentration reaches each level of the gas (fractions of the lower explosive limit, IDLH and
AEGL-2 values from NIOSH and the US EPA); the recommended evacuation zone is the lowest level's zone widened by
50 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from scenes.drills.errors import PlanError

BREATHING_M = 1.5
MOLAR_VOLUME = 24.45e-3  # m³/mol at 25 °C, 1 atm
EVACUATION_MARGIN_M = 50.0
GASES: dict[str, tuple[float, tuple[tuple[str, float], ...]]] = {
    # molar mass g/mol, (level, ppm) from the lowest: LEL = lower explosive limit
    "methane": (16.04, (("10 % LEL", 5_000.0), ("LEL", 50_000.0))),
    "propane": (44.10, (("10 % LEL", 2_100.0), ("LEL", 21_000.0))),
    "hydrogen_sulphide": (34.08, (("IDLH", 50.0), ("10 % LEL", 4_000.0))),
    "chlorine": (70.90, (("AEGL-2 60 min", 2.0), ("IDLH", 10.0))),
    "ammonia": (17.03, (("AEGL-2 60 min", 160.0), ("IDLH", 300.0))),
}
# Briggs: sigma = a x (1 + b x)^c for y, then for z
OPEN = {"A": ((0.22, 1e-4, -0.5), (0.20, 0.0, 1.0)), "B": ((0.16, 1e-4, -0.5), (0.12, 0.0, 1.0)),
        "C": ((0.11, 1e-4, -0.5), (0.08, 2e-4, -0.5)), "D": ((0.08, 1e-4, -0.5), (0.06, 1.5e-3, -0.5)),
        "E": ((0.06, 1e-4, -0.5), (0.03, 3e-4, -1.0)), "F": ((0.04, 1e-4, -0.5), (0.016, 3e-4, -1.0))}
URBAN = {"A": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)), "B": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)),
         "C": ((0.22, 4e-4, -0.5), (0.20, 0.0, 1.0)), "D": ((0.16, 4e-4, -0.5), (0.14, 3e-4, -0.5)),
         "E": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5)), "F": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5))}


def sigmas(x: NDArray[np.float64], stability: str, terrain: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    (ay, by, cy), (az, bz, cz) = (URBAN if terrain == "urban" else OPEN)[stability]
    return ay * x * (1 + by * x) ** cy, az * x * (1 + bz * x) ** cz


@dataclass(frozen=True)
class Wind:
    speed: float  # m/s
    direction: float  # degrees the wind blows from, clockwise from north
    stability: str
    since: float  # simulated second it began

    def downwind(self) -> tuple[float, float]:
        towards = math.radians(self.direction + 180.0)
        return math.sin(towards), math.cos(towards)


class GasPlume:
    def __init__(self, substance: str, release_kg_s: float, height_m: float, wind: Wind, terrain: str = "urban",
                 start_s: float = 0.0) -> None:
        if substance not in GASES:
            raise PlanError(f"unknown gas {substance!r}; one of {', '.join(GASES)}", "gas.substance")
        if not (release_kg_s > 0 and height_m >= 0 and wind.speed > 0):
            raise PlanError("a release needs a rate and a wind speed above 0 and a height of 0 or more", "gas")
        self.substance, self.release, self.height, self.terrain = substance, release_kg_s, height_m, terrain
        self.start = start_s
        self.winds = [Wind(wind.speed, wind.direction, wind.stability, max(start_s, wind.since))]
        self.t = 0.0

    @property
    def molar_mass(self) -> float:
        return GASES[self.substance][0]

    @property
    def levels(self) -> tuple[tuple[str, float], ...]:
        return GASES[self.substance][1]

    def set_wind(self, speed: float, direction: float, stability: str, at_s: float) -> None:
        if speed <= 0 or stability not in OPEN:
            raise PlanError("a wind needs a speed above 0 and a stability class A–F", "wind")
        self.winds.append(Wind(speed, direction, stability, max(at_s, self.start)))

    def advance(self, until: float) -> None:
        self.t = until

    def _steady(self, wind: Wind, x: NDArray[np.float64], y: NDArray[np.float64], z: float) -> NDArray[np.float64]:
        """kg/m³ of the steady plume in its own frame (0 upwind)."""
        ahead = x > 0.5
        xs = np.where(ahead, x, 1.0)
        sy, sz = sigmas(xs, wind.stability, self.terrain)
        c = (self.release / (2 * math.pi * wind.speed * sy * sz) * np.exp(-(y**2) / (2 * sy**2))
             * (np.exp(-((z - self.height) ** 2) / (2 * sz**2)) + np.exp(-((z + self.height) ** 2) / (2 * sz**2))))
        return np.where(ahead, c, 0.0)

    def concentration(self, east: NDArray[np.float64], north: NDArray[np.float64], z: float = BREATHING_M,
                      t: float | None = None) -> NDArray[np.float64]:
        """kg/m³ at points in the local frame (metres from the source) at simulated second t (default: now)."""
        t = self.t if t is None else t
        east, north = np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)
        out = np.zeros(np.broadcast(east, north).shape)
        claimed = np.zeros(out.shape, dtype=bool)
        winds = [w for w in self.winds if w.since <= t]
        for index in range(len(winds) - 1, -1, -1):  # the newest plume wins where it has reached
            wind = winds[index]
            dx, dy = wind.downwind()
            x = east * dx + north * dy
            y = -east * dy + north * dx
            tail = wind.speed * (t - winds[index + 1].since) if index + 1 < len(winds) else -1.0
            reach = (x > tail) & (x >= 0) & (x <= wind.speed * (t - wind.since))
            take = reach & ~claimed
            out = np.where(take, self._steady(wind, x, y, z), out)
            claimed |= reach
        return out

    def ppm(self, kg_m3: NDArray[np.float64]) -> NDArray[np.float64]:
        return kg_m3 * 1000.0 / self.molar_mass * MOLAR_VOLUME * 1e6

    def zones(self, cell_m: float = 5.0, extent_m: float = 3000.0) -> list[tuple[str, float, BaseGeometry]]:
        """(level, ppm, area) for each level reached now, in local metres; higher levels lie inside lower ones."""
        n = int(2 * extent_m / cell_m)
        axis = (np.arange(n) + 0.5) * cell_m - extent_m
        east, north = np.meshgrid(axis, axis)
        ppm = self.ppm(self.concentration(east, north))
        out = []
        for level, threshold in self.levels:
            mask = ppm >= threshold
            if not mask.any():
                continue
            boxes = []
            for row in np.flatnonzero(mask.any(axis=1)):
                cols = np.flatnonzero(mask[row])
                breaks = np.flatnonzero(np.diff(cols) > 1)
                for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, len(cols) - 1], strict=True):
                    x0, x1 = axis[cols[a]] - cell_m / 2, axis[cols[b]] + cell_m / 2
                    y0 = axis[row] - cell_m / 2
                    boxes.append(shapely.box(x0, y0, x1, y0 + cell_m))
            area = shapely.union_all(boxes).simplify(cell_m / 4)
            out.append((level, threshold, area if isinstance(area, Polygon | MultiPolygon) else MultiPolygon()))
        return out

    def evacuation_zone(self, zones: list[tuple[str, float, BaseGeometry]]) -> BaseGeometry | None:
        return zones[0][2].buffer(EVACUATION_MARGIN_M) if zones else None
