"""A gas leak outdoors: the Gaussian plume of a continuous point release, reflected at the ground, over time.

C(x, y, z) = Q / (2π u σ_y σ_z) · exp(−y² / 2σ_y²) · [exp(−(z − H)² / 2σ_z²) + exp(−(z + H)² / 2σ_z²)]

x downwind, y crosswind, z up (m), Q the release (kg/s), u the wind speed (m/s), H the release height. σ_y(x), σ_z(x)
after Briggs (1973, "Diffusion estimation for small emissions", ATDL report 79), open-country and urban sets for the
Pasquill–Gifford stability classes A–F, as tabulated by Hanna, Briggs and Hosker (1982, "Handbook on atmospheric
diffusion", DOE/TIC-11223) and Griffiths (1994, "Errors in the use of the Briggs parameterization for atmospheric
dispersion coefficients", Atmospheric Environment 28). Below 1 m downwind σ is held at its 1 m value.

Over time: the gas released while one wind blows forms that wind's steady plume out to its front, u (t − t₀): there
is no gas beyond it. A change of wind (`set_wind`, an inject or a live sensor value) re-forms the plume: from then on
a new plume grows from the source along the new wind, while the gas released before the change keeps the shape it
had and drifts as a whole with the winds that follow (its further spreading is neglected; concentrations of the
pieces add). A release that stops leaves the source the same way. Concentrations are kg/m³ and ppm by volume at
25 °C and 1 atm (24.45 L/mol), at breathing height (1.5 m) unless asked elsewhere.

Zones are the areas (shapely polygons, local metres) where each threshold of the gas is reached, traced from the
plume's closed form (the half-width σ_y √(2 ln(C_axis / C_threshold)) at each distance), so higher thresholds lie
inside lower ones; where two pieces of the cloud overlap the zone is the union of each piece's (their sum can be a
little larger there). Default thresholds per gas: lower explosive limits and IDLH values from the NIOSH Pocket Guide
to Chemical Hazards, AEGL-2/3 (60 min) from the US EPA / National Research Council "Acute exposure guideline levels
for selected airborne chemicals". The recommended evacuation zone is the lowest threshold's zone widened by a margin
(100 m by default, a planning choice for the model's uncertainty and wind meander, not a standard's value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from scenes.drills.errors import PlanError

Array = NDArray[np.float64]
BREATHING_M = 1.5
MOLAR_VOLUME = 24.45e-3  # m³/mol at 25 °C, 1 atm
EVACUATION_MARGIN_M = 100.0
MIN_X_M = 1.0
STABILITY = "ABCDEF"
# Briggs: σ = a x (1 + b x)^c, for y then z
OPEN = {"A": ((0.22, 1e-4, -0.5), (0.20, 0.0, 1.0)), "B": ((0.16, 1e-4, -0.5), (0.12, 0.0, 1.0)),
        "C": ((0.11, 1e-4, -0.5), (0.08, 2e-4, -0.5)), "D": ((0.08, 1e-4, -0.5), (0.06, 1.5e-3, -0.5)),
        "E": ((0.06, 1e-4, -0.5), (0.03, 3e-4, -1.0)), "F": ((0.04, 1e-4, -0.5), (0.016, 3e-4, -1.0))}
URBAN = {"A": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)), "B": ((0.32, 4e-4, -0.5), (0.24, 1e-3, 0.5)),
         "C": ((0.22, 4e-4, -0.5), (0.20, 0.0, 1.0)), "D": ((0.16, 4e-4, -0.5), (0.14, 3e-4, -0.5)),
         "E": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5)), "F": ((0.11, 4e-4, -0.5), (0.08, 1.5e-3, -0.5))}


@dataclass(frozen=True)
class Gas:
    name: str
    molar_mass: float  # g/mol
    thresholds: tuple[tuple[str, float], ...]  # (label, ppm), lowest first


GASES = {g.name: g for g in (
    Gas("methane", 16.04, (("10 % LEL", 5_000.0), ("LEL", 50_000.0))),
    Gas("propane", 44.10, (("10 % LEL", 2_100.0), ("LEL", 21_000.0))),
    Gas("hydrogen_sulphide", 34.08, (("AEGL-2 60 min", 27.0), ("IDLH", 100.0), ("10 % LEL", 4_000.0))),
    Gas("chlorine", 70.90, (("AEGL-2 60 min", 2.0), ("IDLH", 10.0), ("AEGL-3 60 min", 20.0))),
    Gas("ammonia", 17.03, (("AEGL-2 60 min", 160.0), ("IDLH", 300.0), ("AEGL-3 60 min", 1_100.0))),
)}


def sigmas(x: ArrayLike, stability: str, terrain: str = "open") -> tuple[Array, Array]:
    """Briggs' σ_y and σ_z (m) at x metres downwind."""
    if stability not in OPEN or terrain not in ("open", "urban"):
        raise PlanError(f"stability is one of A–F and terrain open or urban, not {stability!r}, {terrain!r}", "gas")
    (ay, by, cy), (az, bz, cz) = (URBAN if terrain == "urban" else OPEN)[stability]
    xs = np.maximum(np.asarray(x, dtype=np.float64), MIN_X_M)
    return ay * xs * (1 + by * xs) ** cy, az * xs * (1 + bz * xs) ** cz


@dataclass(frozen=True)
class Wind:
    since_s: float
    speed: float  # m/s
    direction_deg: float  # where it blows from, clockwise from north
    stability: str

    def axes(self) -> tuple[Array, Array]:
        """Unit vectors (east, north) downwind and to its left."""
        towards = math.radians(self.direction_deg + 180.0)
        down = np.array([math.sin(towards), math.cos(towards)])
        return down, np.array([-down[1], down[0]])


@dataclass(frozen=True)
class Zone:
    label: str
    ppm: float
    area: BaseGeometry  # local metres


@dataclass(frozen=True)
class _Piece:
    wind: Wind
    x_lo: float  # the piece spans x_lo < x ≤ x_hi along its wind, from its drifted origin
    x_hi: float
    origin: Array


class GaussianPlume:
    def __init__(self, gas: str | Gas, release_kg_s: float, height_m: float, wind_speed: float,
                 direction_deg: float, stability: str, *, terrain: str = "open", source: tuple[float, float] = (0, 0),
                 start_s: float = 0.0, end_s: float | None = None,
                 thresholds: Iterable[tuple[str, float]] | None = None,
                 margin_m: float = EVACUATION_MARGIN_M) -> None:
        if isinstance(gas, str):
            if gas not in GASES:
                raise PlanError(f"unknown gas {gas!r}; one of {', '.join(GASES)}", "gas.substance")
            gas = GASES[gas]
        levels = tuple(thresholds) if thresholds is not None else gas.thresholds
        if not levels or any(not (ppm > 0) for _, ppm in levels) or [p for _, p in levels] != sorted(
                p for _, p in levels):
            raise PlanError("thresholds are (label, ppm > 0) pairs, lowest first", "gas.thresholds")
        if not (gas.molar_mass > 0 and release_kg_s > 0 and math.isfinite(release_kg_s)):
            raise PlanError("a release needs a rate above 0 kg/s", "gas.release_kg_s")
        if not (height_m >= 0 and math.isfinite(height_m)):
            raise PlanError("the release height is 0 m or more", "gas.height_m")
        if end_s is not None and end_s <= start_s:
            raise PlanError("a release ends after it starts", "gas.end_s")
        if margin_m < 0:
            raise PlanError("the evacuation margin is 0 m or more", "gas.margin_m")
        sigmas(1.0, stability, terrain)  # checks both
        self.gas, self.levels, self.release, self.height, self.terrain = gas, levels, release_kg_s, height_m, terrain
        self.source = np.array(source, dtype=np.float64)
        self.start, self.end, self.margin = start_s, end_s, margin_m
        self.winds: list[Wind] = []
        self._add_wind(Wind(-math.inf, wind_speed, direction_deg, stability))
        self.t = 0.0

    def _add_wind(self, wind: Wind) -> None:
        if not (wind.speed > 0 and math.isfinite(wind.speed) and math.isfinite(wind.direction_deg)):
            raise PlanError(f"a wind needs a speed above 0 m/s and a direction, not {wind.speed}", "wind")
        if wind.stability not in OPEN:
            raise PlanError(f"stability class {wind.stability!r} is not one of A–F", "wind.stability")
        if self.winds and wind.since_s < self.winds[-1].since_s:
            raise PlanError("wind changes come in time order", "wind")
        self.winds.append(wind)

    def set_wind(self, speed: float, direction_deg: float, at_s: float, stability: str | None = None) -> None:
        """The wind changes at `at_s` (keeping its stability class unless given)."""
        self._add_wind(Wind(at_s, speed, direction_deg, stability or self.winds[-1].stability))

    def advance(self, until_s: float) -> None:
        if until_s < self.t - 1e-9:
            raise PlanError(f"the plume is at {self.t:.2f} s and cannot go back to {until_s:.2f} s")
        self.t = until_s

    def _pieces(self, t: float) -> list[_Piece]:
        winds = [w for w in self.winds if w.since_s <= t]
        bounds = [w.since_s for w in winds[1:]] + [math.inf]
        end = math.inf if self.end is None else self.end
        out = []
        for k, (wind, b) in enumerate(zip(winds, bounds, strict=True)):
            s, e = max(wind.since_s, self.start), min(b, end, t)
            if e <= s:
                continue
            stop = min(t, b)
            drift = np.zeros(2)
            for later, lb in zip(winds[k + 1:], bounds[k + 1:], strict=True):
                blown = max(0.0, min(lb, t) - max(later.since_s, stop))
                drift += later.speed * blown * later.axes()[0]
            out.append(_Piece(wind, wind.speed * (stop - e), wind.speed * (stop - s), self.source + drift))
        return out

    def front_m(self) -> float:
        """How far downwind the plume still issuing from the source reaches along the present wind (0 before the
        release starts and once it has stopped)."""
        current = [w for w in self.winds if w.since_s <= self.t][-1]
        pieces = self._pieces(self.t)
        issuing = pieces and pieces[-1].wind is current and pieces[-1].x_lo <= 0
        return pieces[-1].x_hi if issuing else 0.0

    def _axis(self, wind: Wind, x: Array, z: float) -> tuple[Array, Array]:
        """The steady plume's ground-reflected centreline concentration (kg/m³) at distance x, and σ_y."""
        sy, sz = sigmas(x, wind.stability, self.terrain)
        vertical = (np.exp(-((z - self.height) ** 2) / (2 * sz**2)) + np.exp(-((z + self.height) ** 2) / (2 * sz**2)))
        return self.release / (2 * math.pi * wind.speed * sy * sz) * vertical, sy

    def concentration(self, x: ArrayLike, y: ArrayLike, z: float = BREATHING_M, t: float | None = None) -> Array:
        """kg/m³ at local points (x east, y north, m) and height z, at simulated second t (default: now)."""
        east, north = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        out = np.zeros(east.shape)
        for piece in self._pieces(self.t if t is None else t):
            down, left = piece.wind.axes()
            de, dn = east - piece.origin[0], north - piece.origin[1]
            along, across = de * down[0] + dn * down[1], de * left[0] + dn * left[1]
            inside = (along > max(piece.x_lo, 0.0)) & (along <= piece.x_hi)
            axis, sy = self._axis(piece.wind, along, z)
            out += np.where(inside, axis * np.exp(-(across**2) / (2 * sy**2)), 0.0)
        return out

    def to_ppm(self, kg_m3: ArrayLike) -> Array:
        return np.asarray(kg_m3, dtype=np.float64) * 1000.0 / self.gas.molar_mass * MOLAR_VOLUME * 1e6

    def ppm(self, x: ArrayLike, y: ArrayLike, z: float = BREATHING_M) -> Array:
        return self.to_ppm(self.concentration(x, y, z))

    def _outline(self, piece: _Piece, kg_m3: float, z: float) -> list[Polygon]:
        lo, hi = max(piece.x_lo, 0.0), piece.x_hi
        if hi <= lo:
            return []
        xs = np.unique(np.concatenate([[lo, hi], np.geomspace(MIN_X_M, max(hi, 2 * MIN_X_M), 600)]))
        xs = xs[(xs >= lo) & (xs <= hi)]
        axis, sy = self._axis(piece.wind, xs, z)
        ratio = np.log(np.maximum(axis, 1e-300) / kg_m3)
        down, left = piece.wind.axes()
        polygons = []
        above = ratio >= 0
        edges = np.flatnonzero(np.diff(np.r_[0, above.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):  # runs a..b-1 above the threshold
            run_x, half = xs[a:b], sy[a:b] * np.sqrt(2 * ratio[a:b])
            if a > 0:  # the threshold is crossed between samples: close there with zero width
                f = ratio[a - 1] / (ratio[a - 1] - ratio[a])
                run_x, half = np.r_[xs[a - 1] + f * (xs[a] - xs[a - 1]), run_x], np.r_[0.0, half]
            if b < len(xs):
                f = ratio[b - 1] / (ratio[b - 1] - ratio[b])
                run_x, half = np.r_[run_x, xs[b - 1] + f * (xs[b] - xs[b - 1])], np.r_[half, 0.0]
            px, py = np.r_[run_x, run_x[::-1]], np.r_[half, -half[::-1]]
            east = piece.origin[0] + px * down[0] + py * left[0]
            north = piece.origin[1] + px * down[1] + py * left[1]
            polygon = shapely.make_valid(Polygon(np.column_stack([east, north])))
            if polygon.area > 0:
                polygons.append(polygon)
        return polygons

    def zones(self, z: float = BREATHING_M) -> list[Zone]:
        """Each threshold's zone now, lowest first (empty where it is not reached)."""
        out = []
        pieces = self._pieces(self.t)
        for label, ppm in self.levels:
            kg_m3 = ppm / (MOLAR_VOLUME * 1e6) * self.gas.molar_mass / 1000.0
            parts = [p for piece in pieces for p in self._outline(piece, kg_m3, z)]
            out.append(Zone(label, ppm, shapely.union_all(parts) if parts else Polygon()))
        return out

    def evacuation_zone(self, zones: list[Zone] | None = None) -> BaseGeometry:
        """The lowest threshold's zone widened by the margin (empty while no threshold is reached)."""
        lowest = (zones if zones is not None else self.zones())[0].area
        return lowest.buffer(self.margin) if not lowest.is_empty else Polygon()

    def affected(self, objects: Mapping[str, BaseGeometry], zones: list[Zone] | None = None) -> dict[str, list[str]]:
        """Per threshold (and "evacuation"), the ids of the objects (footprints, points; local metres) it touches."""
        zones = zones if zones is not None else self.zones()
        ids = sorted(objects)
        geoms = np.array([objects[i] for i in ids], dtype=object)
        areas = {zone.label: zone.area for zone in zones} | {"evacuation": self.evacuation_zone(zones)}
        return {label: [ids[i] for i in np.flatnonzero(shapely.intersects(geoms, area))] if ids else []
                for label, area in areas.items()}
