"""Fire and smoke in a building as a zone model: each space a compartment with a hot upper layer that fills from
the ceiling down, engineering correlations throughout.

- Heat release: a t² fire, Q = α (t − t₀)², capped at the peak; α per growth class (slow 0.00293, medium 0.01172,
  fast 0.0469, ultrafast 0.1876 kW/s²: NFPA 72, after Heskestad and SFPE Handbook ch. "Design fires").
- Fire plume mass flow (NFPA 92, 2021, axisymmetric plume, after Heskestad): with the convective HRR Q_c = 0.7 Q and
  the flame height z_l = 0.166 Q_c^(2/5): m = 0.071 Q_c^(1/3) z^(5/3) + 0.0018 Q_c above the flame, m = 0.032
  Q_c^(3/5) z within it (kg/s, z metres from the fuel to the layer's interface).
- The layer: mass and energy balances (a fraction χ = 0.6 of the convective heat lost to the bounding surfaces,
  NFPA 92 annex), the ideal gas law for its density, depth = volume / floor area.
- Smoke through open doors (and exits, and stairs up) once the interface lies below the opening's soffit: the
  vent flow of a hot layer through an opening, m = (2/3) C_d W ρ_s √(2 g ΔT/T_s) (h_s − z)^(3/2), C_d = 0.7
  (Emmons, SFPE Handbook ch. "Vent flows"); what flows out carries its share of the layer's mass, heat, soot and CO
  into the neighbour's layer (or out of the building).
- Visibility: soot from the soot yield, extinction coefficient K = σ_m c_soot with σ_m = 8,700 m²/kg (Mulholland
  and Croarkin 2000), visibility S = 3 / K for light-reflecting signs (Jin 1978).
- Walking speed in smoke (Frantzich and Nilsson 2003, as used by FDS+Evac): v = v₀ max(0.1, 1 + β K / α) with
  α = 0.706 m/s and β = −0.057 m²/s — where the layer reaches below head height (1.8 m); above it people walk free.
- Tenability: a space is untenable with the layer below head height and visibility under 10 m or the layer above
  60 °C, or a layer of 200 °C or more overhead (2.5 kW/m² radiation; SFPE Handbook ch. "Tenability").
- Fractional effective dose (Purser, SFPE Handbook; ISO 13571): per minute 3.317e-5 [CO ppm]^1.036 RMV / D for CO
  (RMV 25 L/min, light work; D = 30 % COHb) plus 1 / (5e7 T^-3.4) for convected heat (T °C), breathed only below
  the layer's interface. The coupler sums each person's dose from the space they are in.

Heat of combustion 20 MJ/kg, soot yield 0.015 and CO yield 0.004 by default (SFPE Handbook tables, a
cellulosic/plastics mix in offices); plan values override them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from scenes.drills.errors import PlanError

GROWTH_KW_S2 = {"slow": 0.00293, "medium": 0.01172, "fast": 0.0469, "ultrafast": 0.1876}
AIR_DENSITY = 1.2  # kg/m³ at T0
T0 = 293.15  # K
CP = 1.0  # kJ/kg/K
G = 9.81
LOSS_FRACTION = 0.6
CONVECTIVE_FRACTION = 0.7
DISCHARGE = 0.7
SIGMA_SOOT = 8700.0  # m²/kg
HEAD_M = 1.8
STEP_S = 0.25
MIN_LAYER_M = 0.05  # a layer this thin is not there yet (the first ceiling jet)
CO_MOLAR = 28.01
AIR_MOLAR = 28.96


@dataclass(frozen=True)
class Compartment:
    id: str
    area: float  # m²
    height: float  # ceiling height, m
    storey: int


@dataclass(frozen=True)
class Opening:
    a: str
    b: str | None  # None: outside
    width: float
    soffit: float = 2.0  # m above a's floor


@dataclass(frozen=True)
class FireSpec:
    space: str
    alpha: float  # kW/s²
    peak_kw: float
    start_s: float = 0.0
    heat_of_combustion: float = 20_000.0  # kJ/kg
    soot_yield: float = 0.015
    co_yield: float = 0.004


class _Layer:
    __slots__ = ("co", "energy", "mass", "soot")

    def __init__(self) -> None:
        self.mass = self.energy = self.soot = self.co = 0.0  # kg, kJ above ambient, kg, kg


class FireSmoke:
    def __init__(self, compartments: Iterable[Compartment], openings: Iterable[Opening], fire: FireSpec) -> None:
        self.rooms = {c.id: c for c in compartments}
        for room in self.rooms.values():
            if not (room.area > 0 and math.isfinite(room.area) and room.height > 0):
                raise PlanError(f"space {room.id!r} needs a positive floor area and ceiling height")
        if fire.space not in self.rooms:
            raise PlanError(f"the fire starts in unknown space {fire.space!r}", "incident.space")
        if not (fire.alpha > 0 and fire.peak_kw > 0):
            raise PlanError("a fire needs a growth rate and a peak above 0", "fire")
        self.openings = tuple(openings)
        for o in self.openings:
            if o.a not in self.rooms or (o.b is not None and o.b not in self.rooms):
                raise PlanError(f"an opening joins unknown spaces {o.a!r} and {o.b!r}")
        self.fire = fire
        self.layers = {room: _Layer() for room in sorted(self.rooms)}
        self.t = 0.0

    # -- the model ------------------------------------------------------------------------------------------
    def hrr(self, t: float) -> float:
        """Heat release rate (kW) at t."""
        since = max(0.0, t - self.fire.start_s)
        return min(self.fire.peak_kw, self.fire.alpha * since * since)

    def temperature(self, room: str) -> float:
        layer = self.layers[room]
        return T0 + (layer.energy / (layer.mass * CP) if layer.mass > 1e-9 else 0.0)

    def interface(self, room: str) -> float:
        """Height of the layer's lower edge above the floor (m)."""
        layer, box = self.layers[room], self.rooms[room]
        if layer.mass <= 0:
            return box.height
        density = AIR_DENSITY * T0 / self.temperature(room)
        return max(0.0, box.height - layer.mass / density / box.area)

    def _plume(self, q_convective: float, z: float) -> float:
        if q_convective <= 0 or z <= 0:
            return 0.0
        flame = 0.166 * q_convective ** 0.4
        if z > flame:
            return 0.071 * q_convective ** (1 / 3) * z ** (5 / 3) + 0.0018 * q_convective
        return 0.032 * q_convective ** 0.6 * z

    def _step(self, dt: float) -> None:
        t_mid = self.t + dt / 2
        q = self.hrr(t_mid)
        room = self.fire.space
        layer = self.layers[room]
        z = self.interface(room)
        plume = self._plume(CONVECTIVE_FRACTION * q, z)
        fuel = q / self.fire.heat_of_combustion
        layer.mass += plume * dt
        layer.energy += (1 - LOSS_FRACTION) * CONVECTIVE_FRACTION * q * dt
        layer.soot += self.fire.soot_yield * fuel * dt
        layer.co += self.fire.co_yield * fuel * dt
        moves = []
        for opening in self.openings:
            for source, target in ((opening.a, opening.b), (opening.b, opening.a)):
                if source is None:
                    continue
                flow = self._vent(source, opening) * dt
                if flow > 0:
                    moves.append((source, target, flow))
        for source, target, flow in moves:
            self._move(source, target, flow)
        self.t += dt

    def _vent(self, room: str, opening: Opening) -> float:
        layer = self.layers[room]
        z = self.interface(room)
        if layer.mass <= 0 or z >= opening.soffit or self.rooms[room].height - z < MIN_LAYER_M:
            return 0.0
        ts = self.temperature(room)
        rho = AIR_DENSITY * T0 / ts
        depth = opening.soffit - z
        return (2 / 3) * DISCHARGE * opening.width * rho * math.sqrt(2 * G * (ts - T0) / ts) * depth ** 1.5

    def _move(self, source: str, target: str | None, flow: float) -> None:
        layer = self.layers[source]
        share = min(1.0, flow / layer.mass) if layer.mass > 0 else 0.0
        if share <= 0:
            return
        parts = [share * layer.mass, share * layer.energy, share * layer.soot, share * layer.co]
        layer.mass, layer.energy, layer.soot, layer.co = (v * (1 - share) for v in
                                                          (layer.mass, layer.energy, layer.soot, layer.co))
        if target is not None:
            other = self.layers[target]
            other.mass += parts[0]
            other.energy += parts[1]
            other.soot += parts[2]
            other.co += parts[3]

    def advance(self, until: float) -> None:
        while self.t < until - 1e-9:
            self._step(min(STEP_S, until - self.t))

    # -- what people meet ------------------------------------------------------------------------------------
    def _volume(self, room: str) -> float:
        box = self.rooms[room]
        return max(box.area * (box.height - self.interface(room)), 1e-9)

    def extinction(self, room: str) -> float:
        """Extinction coefficient of the layer (1/m)."""
        return SIGMA_SOOT * self.layers[room].soot / self._volume(room) if self.layers[room].mass > 0 else 0.0

    def visibility(self, room: str) -> float:
        k = self.extinction(room)
        return 3.0 / k if k > 0 else math.inf

    def co_ppm(self, room: str) -> float:
        layer = self.layers[room]
        if layer.mass <= 0:
            return 0.0
        return 1e6 * (layer.co / CO_MOLAR) / (layer.mass / AIR_MOLAR)

    def smoky(self, room: str) -> bool:
        """The layer reaches below head height."""
        return self.layers[room].mass > 0 and self.interface(room) < HEAD_M

    def speed_factor(self, room: str) -> float:
        if not self.smoky(room):
            return 1.0
        return round(max(0.1, 1.0 - 0.057 / 0.706 * self.extinction(room)), 3)

    def untenable(self, room: str) -> bool:
        hot = self.temperature(room) - 273.15
        if self.smoky(room):
            return self.visibility(room) < 10.0 or hot > 60.0
        return self.layers[room].mass > 0 and hot >= 200.0

    def untenable_spaces(self) -> list[str]:
        return [room for room in self.layers if self.untenable(room)]

    def fed_rate(self, room: str) -> float:
        """Dose per second breathed in this space (0 under a layer that stays above head height)."""
        if room not in self.layers or not self.smoky(room):
            return 0.0
        co = self.co_ppm(room)
        celsius = self.temperature(room) - 273.15
        per_minute = 3.317e-5 * co ** 1.036 * 25.0 / 30.0 + (celsius ** 3.4 / 5e7 if celsius > 25 else 0.0)
        return per_minute / 60.0

    def frame_state(self) -> list[dict[str, object]]:
        """The spaces smoke has reached, for a frame."""
        out: list[dict[str, object]] = []
        for room, layer in self.layers.items():
            if layer.mass <= 0:
                continue
            visibility = self.visibility(room)
            out.append({"space": room, "layer_m": round(self.interface(room), 2),
                        "temperature_c": round(self.temperature(room) - 273.15, 1),
                        "visibility_m": round(visibility, 1) if math.isfinite(visibility) else None,
                        "co_ppm": round(self.co_ppm(room), 1), "untenable": self.untenable(room)})
        return out
