"""Fire and smoke in a building: a two-zone model per space, engineering correlations throughout.

Every space is a compartment with a hot upper layer filling from the ceiling down over an ambient lower layer
(20 °C); the pressure stays ambient (the building leaks), so a layer's volume follows from its mass and heat.

- Heat release: a t² fire Q = α (t − t₀)² up to its peak (kW), then optionally a linear decay; α from the growth
  class by its growth time to 1,055 kW (slow 600 s, medium 300 s, fast 150 s, ultrafast 75 s: NFPA 72, Annex B,
  after Heskestad and Delichatsios; SFPE Handbook, "Design fires") or given in kW/s².
- Fire plume (entrained mass, kg/s, z metres from the fuel to the interface), with the convective HRR
  Q_c = (1 − χ_r) Q: by default the NFPA 92 (2021) axisymmetric plume after Heskestad, flame height
  z_l = 0.166 Q_c^(2/5), m = 0.071 Q_c^(1/3) z^(5/3) + 0.0018 Q_c above it and 0.032 Q_c^(3/5) z within it;
  or Zukoski's, m = 0.076 Q^(1/3) z^(5/3) (Zukoski, Kubota and Cetegen 1981, "Entrainment in fire plumes",
  Fire Safety J. 3).
- Smoke filling (NFPA 92 / Yamana and Tanaka 1985 style, integrated in time, Heun's method at ≤ 0.2 s): the layer's
  mass grows by the plume, its heat by (1 − χ_l) Q_c with χ_l = 0.6 lost to the fire room's boundaries (NFPA 92,
  Annex, heat loss fraction), and at ambient pressure its volume is V = m / ρ₀ + E / (ρ₀ c_p T₀) (ideal gas); the
  interface lies at H − V / A. A layer that would overfill its room leaks out of the building.
- Spread (Emmons, SFPE Handbook, "Vent flows"; Karlsson and Quintiere 2000, "Enclosure fire dynamics", ch. 5): once
  a layer's interface is below an open opening's soffit it flows through it as a hot layer over the lower air,
  m = (2/3) C_d W ρ_u √(2 g (T_u − T_b) / T_b) (h_s − z)^(3/2), C_d = 0.7, T_b the gas across the opening at the
  soffit (the neighbour's layer if it reaches that low, else ambient air); the flow carries the layer's mean mass
  fractions of heat, soot, CO and CO₂ into the neighbour's layer (or out of the building). Door jets entrain no air
  and the smoke keeps its heat away from the fire room (both pessimistic). A closed opening carries nothing.
- Products from the burning rate Q / ΔH_c and the fuel's yields. Defaults (`Fuel`) are the design values of the
  New Zealand Verification Method C/VM2 (MBIE 2014) for a generic building fire: ΔH_c = 20 MJ/kg, soot yield
  0.07, CO 0.04, CO₂ 1.5 kg/kg, radiative fraction χ_r = 0.35.
- What people meet (`scenes.drills.tenability`): visibility (Jin), walking speed (Frantzich and Nilsson 2003) only
  where the layer is below head height (1.8 m: above it people walk in clear air), tenability (layer below 1.8 m and
  visibility < 10 m or > 60 °C, or > 2.5 kW/m² from the layer), and the FED rate (Purser; ISO 13571).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from scenes.drills import tenability
from scenes.drills.errors import PlanError

GROWTH_TIME_S = {"slow": 600.0, "medium": 300.0, "fast": 150.0, "ultrafast": 75.0}
GROWTH_KW_S2 = {name: 1055.0 / t**2 for name, t in GROWTH_TIME_S.items()}
T0 = 293.15  # K
RHO0 = 1.204  # kg/m³ at T0
CP = 1.005  # kJ/kg/K
G = 9.81
M_AIR, M_CO, M_CO2 = 28.96, 28.01, 44.01
EMPTY_KG = 1e-9
O2_AMBIENT, O2_MASS_FRACTION = 0.2095, 0.232
O2_FULL_BURNING = 0.17  # the fire burns fully down to this oxygen fraction, and dies out at the lower limit
HEAT_PER_KG_O2 = 13_100.0  # kJ (Huggett 1980)
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Compartment:
    id: str
    area: float  # floor area, m²
    height: float  # ceiling height, m
    storey: int = 0


@dataclass(frozen=True)
class Opening:
    a: str
    b: str | None  # None: outside
    width: float  # m
    height: float = 2.0  # soffit above the floor, m
    open: bool = True
    id: str = ""


@dataclass(frozen=True)
class Fire:
    space: str
    growth: str | float = "fast"  # a growth class or α in kW/s²
    peak_kw: float = 2500.0
    start_s: float = 0.0
    decay_start_s: float | None = None  # simulated second the decay begins
    decay_s: float = 0.0  # linear decay to 0 over this long
    base_m: float = 0.0  # fuel surface above the floor

    @property
    def alpha(self) -> float:
        return GROWTH_KW_S2[self.growth] if isinstance(self.growth, str) else float(self.growth)

    def hrr(self, t: float) -> float:
        """Heat release rate (kW) at simulated second t."""
        since = max(0.0, t - self.start_s)
        q = min(self.peak_kw, self.alpha * since * since)
        if self.decay_start_s is not None and t > self.decay_start_s:
            at_decay = self.hrr(self.decay_start_s)
            left = 1.0 - (t - self.decay_start_s) / self.decay_s if self.decay_s > 0 else 0.0
            q = min(q, at_decay * max(0.0, left))
        return q


@dataclass(frozen=True)
class Fuel:
    heat_of_combustion: float = 20_000.0  # kJ/kg
    soot_yield: float = 0.07  # kg/kg
    co_yield: float = 0.04
    co2_yield: float = 1.5
    radiative_fraction: float = 0.35


@dataclass(frozen=True)
class ZoneSettings:
    plume: str = "nfpa92"  # or "zukoski"
    heat_loss_fraction: float = 0.6
    discharge: float = 0.7
    head_m: float = 1.8  # below this, people breathe and walk in the smoke
    tenability_m: float = 1.8
    sign: float = tenability.SIGN_REFLECTING
    min_speed_factor: float = tenability.MIN_SPEED_FACTOR
    step_s: float = 0.2
    lower_oxygen_limit: float = 0.15  # volume fraction; 0 turns the oxygen limit off


@dataclass(frozen=True)
class SpaceState:
    layer_m: float  # interface height above the floor
    temperature_c: float  # upper layer
    extinction_per_m: float
    visibility_m: float
    co_ppm: float
    co2_percent: float
    radiant_kw_m2: float
    untenable: bool


def plume_mass_flow(q_kw: float, z_m: float, convective_fraction: float = 0.65, kind: str = "nfpa92") -> float:
    """Mass flow (kg/s) of the fire plume at z metres above the fuel."""
    if q_kw <= 0 or z_m <= 0:
        return 0.0
    if kind == "zukoski":
        return 0.076 * q_kw ** (1 / 3) * z_m ** (5 / 3)
    qc = convective_fraction * q_kw
    if z_m > 0.166 * qc**0.4:
        return 0.071 * qc ** (1 / 3) * z_m ** (5 / 3) + 0.0018 * qc
    return 0.032 * qc**0.6 * z_m


@dataclass
class _Net:
    a: NDArray[np.int64]
    b: NDArray[np.int64]  # −1: outside
    width: Array
    soffit: Array
    open: NDArray[np.bool_]
    ids: list[str] = field(default_factory=list)


class FireSmoke:
    """The zone model, stepped by `advance`; species per space: mass, heat above ambient, soot, CO, CO₂ (kg, kJ)."""

    def __init__(self, compartments: Iterable[Compartment], openings: Iterable[Opening], fire: Fire,
                 fuel: Fuel | None = None, settings: ZoneSettings | None = None) -> None:
        rooms = list(compartments)
        self.fuel, self.settings, self.fire = fuel or Fuel(), settings or ZoneSettings(), fire
        self.ids = [r.id for r in rooms]
        self.index = {rid: i for i, rid in enumerate(self.ids)}
        _check(rooms, self.index, fire, self.fuel, self.settings)
        self.area = np.array([r.area for r in rooms], dtype=np.float64)
        self.height = np.array([r.height for r in rooms], dtype=np.float64)
        self.storey = {r.id: r.storey for r in rooms}
        self.net = _network(list(openings), self.index, self.height)
        self._y = np.zeros((5, len(rooms)))  # mass, energy, soot, co, co2
        self.fire_room = self.index[fire.space]
        self._o2_initial = O2_MASS_FRACTION * RHO0 * float(self.area[self.fire_room] * self.height[self.fire_room])
        self._o2 = self._o2_initial
        self.t = 0.0
        self.leaked_kg = 0.0  # out of the building by leakage (a layer overfilling its room)
        self.vented_kg = 0.0  # out of the building through openings to the outside
        self._states: dict[str, SpaceState] | None = None

    # -- the model ------------------------------------------------------------------------------------------
    def hrr(self, t: float | None = None) -> float:
        """Heat release rate (kW) now (or at t, with the fire room's oxygen as it is now)."""
        return self.fire.hrr(self.t if t is None else t) * self._oxygen_factor(self._o2)

    def oxygen_fraction(self) -> float:
        """Oxygen by volume in the fire room (well mixed for this purpose)."""
        return O2_AMBIENT * max(0.0, self._o2) / self._o2_initial

    def _oxygen_factor(self, o2: float) -> float:
        lol = self.settings.lower_oxygen_limit
        if lol <= 0:
            return 1.0
        x = O2_AMBIENT * max(0.0, o2) / self._o2_initial
        return min(1.0, max(0.0, (x - lol) / (O2_FULL_BURNING - lol)))

    def _layers(self, s: Array) -> tuple[Array, Array]:
        """Interface heights (m) and layer temperatures (K) of state s."""
        mass, energy = s[0], s[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            temp = np.where(mass > EMPTY_KG, T0 + energy / (CP * np.maximum(mass, EMPTY_KG)), T0)
        volume = mass / RHO0 + energy / (RHO0 * CP * T0)
        return np.maximum(0.0, self.height - volume / self.area), temp

    def _rates(self, s: Array, o2: float, t: float) -> tuple[Array, Array, float, float]:
        """d(state)/dt, each room's outflow (kg/s), the outflow to the outside (kg/s), d(O₂ of the fire room)/dt."""
        z, temp = self._layers(s)
        d = np.zeros_like(s)
        q = self.fire.hrr(t) * self._oxygen_factor(o2)
        chi_r, f = self.fuel.radiative_fraction, self.fire_room
        plume_z = z[f] - self.fire.base_m
        d[0, f] += plume_mass_flow(q, plume_z, 1 - chi_r, self.settings.plume)
        d[1, f] += (1 - self.settings.heat_loss_fraction) * (1 - chi_r) * q
        burning = q / self.fuel.heat_of_combustion
        d[2:, f] += burning * np.array([self.fuel.soot_yield, self.fuel.co_yield, self.fuel.co2_yield])
        outflow = np.zeros(len(self.ids))
        outside = 0.0
        net = self.net
        if net.a.size:
            flows = []
            for src, dst in ((net.a, net.b), (net.b, net.a)):
                inside = src >= 0
                s_idx = np.where(inside, src, 0)
                o_idx = np.where(dst >= 0, dst, 0)
                other_reaches = (dst >= 0) & (z[o_idx] < net.soffit) & (s[0, o_idx] > EMPTY_KG)
                t_other = np.where(other_reaches, temp[o_idx], T0)
                depth = np.clip(net.soffit - z[s_idx], 0.0, None)
                drive = np.clip(temp[s_idx] - t_other, 0.0, None) / t_other
                rho = RHO0 * T0 / temp[s_idx]
                m = ((2 / 3) * self.settings.discharge * net.width * rho * np.sqrt(2 * G * drive) * depth**1.5)
                m = np.where(inside & net.open & (s[0, s_idx] > EMPTY_KG), m, 0.0)
                flows.append((s_idx, dst, m))
            for s_idx, dst, m in flows:
                share = m / np.maximum(s[0, s_idx], EMPTY_KG)
                carried = s[:, s_idx] * share
                np.add.at(d.T, s_idx, -carried.T)
                np.add.at(outflow, s_idx, m)
                into = dst >= 0
                np.add.at(d.T, dst[into], carried[:, into].T)
                outside += float(m[~into].sum())
        do2 = O2_MASS_FRACTION * outflow[f] - q / HEAT_PER_KG_O2
        return d, outflow, outside, do2

    def _step(self, dt: float) -> float:
        k1, out, vent1, o1 = self._rates(self._y, self._o2, self.t)
        stiff = out > 0
        if stiff.any():  # no room loses more than half its layer in a step
            dt = min(dt, 0.5 * float(np.min(self._y[0, stiff] / out[stiff])))
            dt = max(dt, 1e-3)
        k2, _, vent2, o2 = self._rates(np.maximum(self._y + dt * k1, 0.0), self._o2 + dt * o1, self.t + dt)
        self._o2 = min(self._o2_initial, max(0.0, self._o2 + 0.5 * dt * (o1 + o2)))
        self._y = np.maximum(self._y + 0.5 * dt * (k1 + k2), 0.0)
        self._leak()
        self.vented_kg += 0.5 * dt * (vent1 + vent2)
        self.t += dt
        self._states = None
        return dt

    def _leak(self) -> None:
        """The part of a layer that would overfill its room leaves the building."""
        volume = self._y[0] / RHO0 + self._y[1] / (RHO0 * CP * T0)
        room = self.area * self.height
        over = volume > room
        if over.any():
            keep = np.where(over, room / np.maximum(volume, 1e-12), 1.0)
            self.leaked_kg += float((self._y[0] * (1 - keep)).sum())
            self._y *= keep

    def advance(self, until_s: float) -> None:
        if until_s < self.t - 1e-9:
            raise PlanError(f"the fire model is at {self.t:.2f} s and cannot go back to {until_s:.2f} s")
        while self.t < until_s - 1e-9:
            self._step(min(self.settings.step_s, until_s - self.t))
        self.t = max(self.t, until_s)

    def set_open(self, opening_id: str, is_open: bool) -> None:
        """Open or close an opening (an inject: a door shut or forced open)."""
        hits = [i for i, oid in enumerate(self.net.ids) if oid == opening_id]
        if not opening_id or not hits:
            raise PlanError(f"no opening {opening_id!r}", "injects")
        self.net.open[hits] = is_open
        self._states = None

    # -- what people meet ------------------------------------------------------------------------------------
    def _space(self, space: str) -> int:
        if space not in self.index:
            raise PlanError(f"unknown space {space!r}")
        return self.index[space]

    def space_state(self, space: str) -> SpaceState:
        self._space(space)
        return self.state()[space]

    def state(self) -> dict[str, SpaceState]:
        """Per space now: interface, layer temperature, extinction, visibility, CO, CO₂, radiation, untenable."""
        if self._states is None:
            z, temp = self._layers(self._y)
            self._states = {s: self._describe(i, float(z[i]), float(temp[i])) for i, s in enumerate(self.ids)}
        return self._states

    def _describe(self, i: int, z: float, temp: float) -> SpaceState:
        mass = float(self._y[0, i])
        depth = float(self.height[i]) - z
        if mass <= EMPTY_KG or depth <= 0:
            return SpaceState(float(self.height[i]), T0 - 273.15, 0.0, math.inf, 0.0,
                              tenability.AMBIENT_CO2_PERCENT, 0.0, False)
        k = tenability.extinction(float(self._y[2, i] / (depth * self.area[i])))
        moles = mass / M_AIR
        co_ppm = 1e6 * float(self._y[3, i] / M_CO) / moles
        co2 = tenability.AMBIENT_CO2_PERCENT + 100 * float(self._y[4, i] / M_CO2) / moles
        flux = tenability.radiant_flux(k, depth, temp, T0)
        visibility = tenability.visibility(k, self.settings.sign)
        celsius = temp - 273.15
        low = z < self.settings.tenability_m
        return SpaceState(z, celsius, k, visibility, co_ppm, co2, flux,
                          tenability.untenable(low, visibility, celsius, flux))

    def smoky(self, space: str) -> bool:
        """The layer reaches below head height here."""
        i = self._space(space)
        return bool(self._y[0, i] > EMPTY_KG) and self.space_state(space).layer_m < self.settings.head_m

    def speed_factor(self, space: str) -> float:
        """Walking speed over the free speed, in (0, 1]: 1 while the layer stays above head height."""
        if not self.smoky(space):
            return 1.0
        return tenability.speed_factor(self.space_state(space).extinction_per_m, self.settings.min_speed_factor)

    def untenable_spaces(self) -> list[str]:
        return [s for s in self.ids if self.space_state(s).untenable]

    def fed_rate(self, space: str | None) -> float:
        """Fractional effective dose per second for someone in this space (0 for None: outside)."""
        if space is None:
            return 0.0
        st = self.space_state(space)
        return tenability.fed_rate(self.smoky(space), st.co_ppm, st.co2_percent, st.temperature_c,
                                   st.radiant_kw_m2)

    def frame_state(self) -> list[dict[str, object]]:
        """The spaces smoke has reached, rounded for a frame."""
        out: list[dict[str, object]] = []
        for space in self.ids:
            if self._y[0, self.index[space]] <= EMPTY_KG:
                continue
            st = self.space_state(space)
            out.append({"space": space, "layer_m": round(st.layer_m, 2), "temperature_c": round(st.temperature_c, 1),
                        "visibility_m": round(st.visibility_m, 1) if math.isfinite(st.visibility_m) else None,
                        "co_ppm": round(st.co_ppm, 1), "untenable": st.untenable})
        return out


def _check(rooms: list[Compartment], index: dict[str, int], fire: Fire, fuel: Fuel, settings: ZoneSettings) -> None:
    if not rooms:
        raise PlanError("a fire needs at least one space", "spaces")
    if len(index) != len(rooms):
        dupes = sorted({r.id for r in rooms if sum(o.id == r.id for o in rooms) > 1})
        raise PlanError(f"spaces listed twice: {', '.join(dupes)}", "spaces")
    for r in rooms:
        if not (math.isfinite(r.area) and r.area > 0 and math.isfinite(r.height) and r.height > 0):
            raise PlanError(f"space {r.id!r} needs a positive floor area and ceiling height "
                            f"(got {r.area} m², {r.height} m)", "spaces")
    if fire.space not in index:
        raise PlanError(f"the fire starts in unknown space {fire.space!r}", "incident.space")
    if isinstance(fire.growth, str) and fire.growth not in GROWTH_KW_S2:
        raise PlanError(f"unknown growth class {fire.growth!r}; one of {', '.join(GROWTH_KW_S2)}", "fire.growth")
    if not (fire.alpha > 0 and fire.peak_kw > 0 and math.isfinite(fire.peak_kw)):
        raise PlanError("a fire needs a growth rate and a peak above 0", "fire")
    if fire.decay_start_s is not None and fire.decay_s < 0:
        raise PlanError("a decay lasts 0 s or more", "fire.decay_s")
    if not (0 <= fire.base_m < 0.9 * next(r.height for r in rooms if r.id == fire.space)):
        raise PlanError("the fuel lies between the floor and the ceiling", "fire.base_m")
    yields = (fuel.soot_yield, fuel.co_yield, fuel.co2_yield)
    if not (fuel.heat_of_combustion > 0 and min(yields) >= 0 and 0 <= fuel.radiative_fraction < 1):
        raise PlanError("fuel: heat of combustion above 0, yields ≥ 0, radiative fraction in [0, 1)", "fire")
    if settings.plume not in ("nfpa92", "zukoski") or not 0 <= settings.heat_loss_fraction <= 1:
        raise PlanError("plume is nfpa92 or zukoski, heat loss fraction in [0, 1]", "fire")


def _network(openings: list[Opening], index: dict[str, int], height: Array) -> _Net:
    for n, o in enumerate(openings):
        for end in (o.a, o.b):
            if end is not None and end not in index:
                raise PlanError(f"opening {o.id or n} joins unknown space {end!r}", f"openings[{n}]")
        if o.a == o.b:
            raise PlanError(f"opening {o.id or n} joins space {o.a!r} to itself", f"openings[{n}]")
        if not (o.width > 0 and o.height > 0 and math.isfinite(o.width) and math.isfinite(o.height)):
            raise PlanError(f"opening {o.id or n} needs a positive width and height", f"openings[{n}]")
    a = np.array([index[o.a] for o in openings], dtype=np.int64)
    b = np.array([index[o.b] if o.b is not None else -1 for o in openings], dtype=np.int64)
    soffit = np.array([o.height for o in openings], dtype=np.float64)
    if openings:
        soffit = np.minimum(soffit, height[a])
    return _Net(a, b, np.array([o.width for o in openings], dtype=np.float64), soffit,
                np.array([o.open for o in openings], dtype=bool), [o.id for o in openings])
