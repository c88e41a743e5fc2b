"""A fire drill in one building as a coupler `Part`: the evacuation (JuPedSim, `scenes.drills.evacuation`) on the
building's walkable floors, coupled every frame with its fire and smoke (`scenes.drills.fire`, the two-zone
model): walking speeds follow each space's visibility, untenable spaces close to routing, and each person's
fractional effective dose grows by the dose rate of the space they are in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from scenes.drills.densities import PositionLog, StoreyArea, peak_densities
from scenes.drills.errors import PlanError
from scenes.drills.evacuation import Evacuation, People
from scenes.drills.evacuation_spec import WEIDMANN_SPEED, Distribution, EvacuationSpec
from scenes.drills.fire import Compartment, FireSmoke, Fuel, Opening
from scenes.drills.fire import Fire as FireSource
from scenes.drills.frames import positions, rounded
from scenes.drills.plan import Evacuation as EvacuationPlan
from scenes.drills.plan import Fire, Inject, Plan, Scheme
from scenes.drills.site import BuildingSite
from scenes.drills.twin_data import TwinData

EYE_HEIGHT_M = 1.0
"""People are drawn this far above their storey's floor."""
DEFAULT_CEILING_M = 3.0
STATUS_CODES = {"waiting": 0, "moving": 1, "on_stair": 1, "evacuated": 2, "trapped": 3}
"""Frame codes: 0 waiting (pre-movement), 1 moving (on the level or a stair), 2 out, 3 trapped."""
LEVEL_STATUSES = frozenset({"waiting", "moving", "trapped"})
"""Where people count in a storey's densities (not on a stair, not out)."""


def fire_from_site(site: BuildingSite, plan: Plan) -> FireSmoke:
    """The two-zone model on the building: every space a compartment as high as its storey (the next storey's
    elevation above it, else 3 m), every door, exit and stair an open opening (a stair's soffit is its foot
    storey's ceiling, so smoke rises by it to the space it reaches); the plan's fire with the C/VM2 fuel, the
    plan's soot and CO yields in place of the design values when given."""
    storeys = list(site.storeys)
    ceiling = {}
    for below, above in zip(storeys, [*storeys[1:], None], strict=True):
        rise = above.elevation - below.elevation if above is not None else DEFAULT_CEILING_M
        ceiling[below.id] = rise if 2.2 <= rise <= 12 else DEFAULT_CEILING_M
    ordinal = {s.id: s.ordinal for s in storeys}
    rooms = [Compartment(s.id, s.area, ceiling[s.storey], ordinal[s.storey]) for s in site.spaces.values()
             if s.area > 0]
    known = {r.id for r in rooms}
    openings = [Opening(d.from_space, d.to_space, d.width, id=d.id) for d in site.doors.values()
                if d.from_space in known and d.to_space in known and d.from_space != d.to_space]
    openings += [Opening(e.from_space, None, e.width, id=e.id) for e in site.exits.values() if e.from_space in known]
    openings += [Opening(st.from_space, st.to_space, st.width, height=ceiling.get(st.from_storey, DEFAULT_CEILING_M),
                         id=st.id)
                 for st in site.stairs.values() if st.from_space in known and st.to_space in known
                 and st.from_space != st.to_space]
    fire = plan.fire or Fire()
    assert plan.incident.space is not None
    growth: str | float = fire.alpha_kw_s2 or fire.growth or "fast"
    design = Fuel()
    fuel = Fuel(soot_yield=fire.soot_yield or design.soot_yield, co_yield=fire.co_yield or design.co_yield)
    return FireSmoke(rooms, openings, FireSource(plan.incident.space, growth, fire.peak_kw, plan.incident.start_s),
                     fuel)


FED_LEVELS = (0.3, 1.0)
"""ISO 13571: 0.3 protects most of the population; 1.0 is the median incapacitating dose."""


class BuildingEvacuation:
    def __init__(self, plan: Plan, scheme: Scheme, seed: int, data: TwinData,
                 spec_of: Callable[[EvacuationPlan], EvacuationSpec],
                 fire_of: Callable[[BuildingSite, Plan], FireSmoke] | None) -> None:
        if data.floors is None:
            raise PlanError("a fire drill needs the building's walkable floors", "incident.building")
        self.site = BuildingSite.from_floors(data.floors)
        space = plan.incident.space
        if space is not None and space not in self.site.spaces:
            raise PlanError(f"unknown space {space!r} in building {self.site.building!r}", "incident.space")
        self.evacuation = Evacuation(self.site, spec_of(scheme.evacuation or EvacuationPlan()), seed)
        for index, inject in enumerate(scheme.injects):
            self._check_target(inject, f"schemes.{scheme.id}.injects[{index}]")
        self.fire = fire_of(self.site, plan) if fire_of is not None else None
        self.closed: set[str] = set()
        self.factors: dict[str, float] = {}
        self.t = 0.0
        people = self.evacuation.people()
        self.fed: NDArray[np.float64] = np.zeros(len(people.id))
        self.offset = self.site.storeys[0].height  # people's z counts from the lowest floor
        self.first_untenable: dict[str, float] = {}
        self.interval = plan.time.frame_interval_s
        self.positions = PositionLog()
        self.storey_at = {s.ordinal: s.id for s in self.site.storeys}

    def _check_target(self, inject: Inject, where: str) -> None:
        if inject.exit is not None:
            self.site.exit(inject.exit)
        if inject.space is not None:
            self.site.space(inject.space)
        if inject.stair is not None:
            self.site.stair(inject.stair)
        if inject.action in ("wind", "rain"):
            raise PlanError(f"a {inject.action} inject has no effect inside a building", where)

    # -- the coupler's protocol -----------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        dt = t - self.t
        if self.fire is not None and dt > 0:
            self.fire.advance(t)
            factors = {s: self.fire.speed_factor(s) for s in self.fire.ids}
            changed = {s: f for s, f in factors.items() if self.factors.get(s, 1.0) != f}
            if changed:
                self.evacuation.set_speed_factors(changed)
                self.factors.update(changed)
            for space in sorted(set(self.fire.untenable_spaces()) - self.closed):
                self.first_untenable.setdefault(space, t)
                self.closed.add(space)
                self.evacuation.close_space(space)
        self.evacuation.advance(t)
        if self.fire is not None and dt > 0:
            people = self.evacuation.people()
            known = self.fire.index
            rates = np.array([self.fire.fed_rate(s) if s in known else 0.0 for s in people.space])
            self.fed += rates * dt
        self.t = t

    def inject(self, inject: Inject, t: float) -> bool:
        if inject.action == "block_exit" and inject.exit is not None:
            self.evacuation.block_exit(inject.exit)
            return True
        if inject.action == "open_exit" and inject.exit is not None:
            self.evacuation.open_exit(inject.exit)
            return True
        if inject.action == "close_space" and inject.space is not None:
            self.closed.add(inject.space)
            self.evacuation.close_space(inject.space)
            return True
        if inject.action == "close_stair" and inject.stair is not None:
            self.evacuation.close_stair(inject.stair)
            return True
        return False

    def frame(self, t: float, out: dict[str, Any]) -> None:
        people = self.evacuation.people()
        lon, lat = self.site.to_lonlat(np.asarray(people.x), np.asarray(people.y))
        heights = np.asarray(people.z, dtype=np.float64) + self.offset + EYE_HEIGHT_M
        status = np.array([STATUS_CODES[str(s)] for s in people.status], dtype=np.int64)
        stored = positions(np.asarray(lon), np.asarray(lat), heights)
        out["people"] = {"positions": stored, "status": [int(s) for s in status], "fed": rounded(self.fed, 4)}
        self._log_positions(t, people, np.asarray(stored).reshape(-1, 3))
        out["counts"] = {"total": len(status), "waiting": int((status == 0).sum()),
                         "moving": int((status == 1).sum()), "evacuated": int((status == 2).sum()),
                         "trapped": int((status == 3).sum())}
        if self.fire is not None:
            out["smoke"] = self.fire.frame_state()

    def _log_positions(self, t: float, people: People, stored: NDArray[np.float64]) -> None:
        """The positions as the frame stores them (rounded lon/lat, back in local metres) of everyone standing or
        walking on a storey, for the densities."""
        level = np.array([str(s) in LEVEL_STATUSES for s in people.status], dtype=bool)
        x, y = self.site.from_lonlat(stored[level, 0].tolist(), stored[level, 1].tolist())  # lists: one point too
        storeys = [self.storey_at[int(o)] for o in np.asarray(people.storey)[level]]
        self.positions.add(t, np.asarray(people.id)[level], np.asarray(x), np.asarray(y), storeys)

    def _densities(self) -> dict[str, dict[str, Any]]:
        """Per storey its peak Voronoi and classic densities (PedPy), positions in lon/lat."""
        parts = self.evacuation.parts
        areas = [StoreyArea(s.id, tuple(p.polygon for p in parts if p.storey == s.id),
                            {sp.id: sp.polygon for sp in self.site.spaces_of(s.id)}) for s in self.site.storeys]
        peaks = peak_densities(areas, self.positions, self.interval)
        for peak in peaks.values():
            voronoi = peak["voronoi"]
            if voronoi is not None:
                lon, lat = self.site.to_lonlat(voronoi.pop("x"), voronoi.pop("y"))
                voronoi["at"] = [round(float(lon), 7), round(float(lat), 7)]
                voronoi["per_m2"] = round(voronoi["per_m2"], 3)
            if peak["classic"] is not None:
                peak["classic"]["per_m2"] = round(peak["classic"]["per_m2"], 3)
        return peaks

    def report(self, out: dict[str, Any]) -> None:
        result = self.evacuation.result().document()
        names = {s.id: s.name for s in self.site.storeys}
        started: dict[str, int] = {}
        for person in result["persons"]:
            started[person["start_storey"]] = started.get(person["start_storey"], 0) + 1
        densities = self._densities()
        result["storeys"] = {storey: {"name": names.get(storey), "rset_s": rset, "people": started.get(storey, 0),
                                      "peak_density": densities.get(storey)}
                             for storey, rset in result["storeys"].items()}
        peaks = [d["voronoi"]["per_m2"] for d in densities.values() if d["voronoi"] is not None]
        result["peak_density_per_m2"] = max(peaks) if peaks else None
        out["evacuation"] = result
        out["exposure"] = {"max_fed": round(float(self.fed.max()), 4) if len(self.fed) else 0.0,
                           **{f"fed_over_{str(level).replace('.', '_')}": int((self.fed >= level).sum())
                              for level in FED_LEVELS}}
        if self.fire is not None:
            out["smoke"] = {"first_untenable_s": dict(sorted(self.first_untenable.items()))}

    @property
    def settled(self) -> bool:
        return bool(self.evacuation.finished)


def evacuation_spec(plan: EvacuationPlan) -> EvacuationSpec:
    """The plan's evacuation as the simulator takes it (walking speeds: Weidmann's spread around the plan's mean)."""
    pre = plan.premovement
    speed = Distribution("normal", plan.speed_m_s, WEIDMANN_SPEED.sd, WEIDMANN_SPEED.min,
                         max(WEIDMANN_SPEED.max, plan.speed_m_s))
    spec = EvacuationSpec(occupants=dict(plan.occupants), density=dict(plan.density),
                          premovement=Distribution(pre.dist, pre.mean_s, pre.sd_s, pre.min_s, pre.max_s),
                          exits=plan.exits if isinstance(plan.exits, str) else dict(plan.exits),
                          closed_stairs=plan.closed_stairs, speed=speed)
    spec.check()
    return spec


def building_parts(plan: Plan, scheme: Scheme, seed: int, data: TwinData, *, smoke: bool = True
                   ) -> list[BuildingEvacuation]:
    """The fire drill's one part (`smoke=False`: the same evacuation with no fire, to compare against)."""
    return [BuildingEvacuation(plan, scheme, seed, data, evacuation_spec, fire_from_site if smoke else None)]
