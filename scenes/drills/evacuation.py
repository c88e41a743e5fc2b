"""Evacuation of a building with JuPedSim (Collision Free Speed Model V2; Tordeux, Chraibi & Seyfried 2016), stepped
by the drill's coupler: `Evacuation(site, spec, seed)`, then `advance(until_s)` again and again.

Multi-storey method — storeys simulated apart, handed over at the stairs. Each connected walkable part of each
storey (`scenes.drills.walkable_plane`) is its own JuPedSim simulation, because JuPedSim needs one connected
walkable area and storeys laid side by side in one plane would need stair corridors whose lengths and routes
cannot follow real stair positions without crossing other storeys. A person reaching a stair's landing steps
onto the stair when its flow capacity and area allow (the SFPE hydraulic model: specific flow × effective width,
at most the persons its area holds at the density of maximum flow), walks its length at their stair speed, and
steps off at the other landing into the next storey's simulation as soon as the spot is free.

People wait their pre-movement time standing (desired speed 0, obstacles to others), then go. Each follows the
shortest way out over the door/stair graph (`scenes.drills.routing`: to the nearest exit by walking distance, or
to their assigned one) as a JuPedSim journey: a waypoint at each door on the way and the exit (or the landing
where they board a stair) at the end. Blocking an exit, closing a space or a stair recomputes the routes and
switches the journeys of those whose way changed. Speed factors per space (smoke) scale the desired speed of the
people in that space, checked every `SPEED_EVERY_S`. Walking speeds and stair speeds: see
`scenes.drills.evacuation_spec` (Weidmann 1993; SFPE Handbook hydraulic model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import shapely
from shapely.geometry import Point

from scenes.drills.errors import PlanError
from scenes.drills.evacuation_result import (
    EVACUATED,
    STATUSES,
    TRAPPED,
    WAITING,
    EvacuationResult,
    People,
    build_result,
)
from scenes.drills.evacuation_spec import EvacuationSpec
from scenes.drills.jps_floor import JpsFloor, Log
from scenes.drills.population import check_ids, counts, place
from scenes.drills.routing import Routes
from scenes.drills.site import BuildingSite
from scenes.drills.stairs import StairFlow
from scenes.drills.walkable_plane import Part, landing, storey_parts
from scenes.drills.wayfinding import Wayfinding

CHECK_EVERY_S = 0.2  # stairs let people on and off this often
SPEED_EVERY_S = 0.5  # speed factors re-applied this often while any is below 1


class Evacuation:
    def __init__(self, site: BuildingSite, spec: EvacuationSpec, seed: int, *, log: Log | None = None) -> None:
        spec.check()
        check_ids(site, spec)
        self.site, self.spec, self.dt = site, spec, spec.dt
        self.parts: list[Part] = []
        for storey in site.storeys:
            self.parts += storey_parts(site, storey.id, len(self.parts))
        self.part_of_space = {s: p.index for p in self.parts for s in p.spaces}
        landings: dict[tuple[str, bool], Point] = {}
        unusable: list[str] = []
        for stair in sorted(site.stairs.values(), key=lambda s: s.id):
            for at_head in (False, True):
                part = self.part_of_space.get(stair.to_space if at_head else stair.from_space)
                landings[(stair.id, at_head)] = (Point(0, 0) if part is None else
                                                 landing(stair, site, at_head, self.parts[part].polygon))
                if part is None and stair.id not in unusable:
                    unusable.append(stair.id)
        self.unusable = tuple(unusable)
        lowest = min(s.height for s in site.storeys)
        self.level_z = {s.id: s.height - lowest for s in site.storeys}  # metres above the lowest floor
        self.closed_stairs = set(spec.closed_stairs)
        self.routes = Routes(site, landings, spec.stair_speed_factor, tuple(self.closed_stairs | set(unusable)))
        self.blocked: set[str] = set()
        self.closed_spaces: set[str] = set()
        per_space = counts(site, spec, self.routes.space_distance)
        self._check_assignments(per_space)
        self.floors = [JpsFloor(p.index, p.polygon, self.dt, log) for p in self.parts]
        self.way = Wayfinding(self, landings)
        rng = np.random.default_rng(seed)
        xy: list[tuple[float, float]] = []
        spaces: list[str] = []
        for space_id, n in per_space.items():
            part = self.parts[self.part_of_space[space_id]].polygon
            area = site.spaces[space_id].polygon.intersection(part)
            area = max(shapely.get_parts(area), key=lambda g: g.area) if not area.is_empty else part
            xy += place(area, n, spec.radius, int(rng.integers(2**31)), f"occupants.{space_id}",
                        f"space {space_id!r}")
            spaces += [space_id] * n
        n = len(xy)
        self.n = n
        self.base_speed = spec.speed.sample(rng, n)
        self.premove = spec.premovement.sample(rng, n)
        self.status = np.full(n, WAITING, dtype=np.int8)
        self.part = np.array([self.part_of_space[s] for s in spaces], dtype=np.int64)
        self.agent = np.full(n, -1, dtype=np.int64)
        self.factor = np.ones(n)
        self.exit_s = np.full(n, np.nan)
        self.exit_of: list[str | None] = [None] * n
        self.start_space = tuple(spaces)
        self.start_storey = [site.spaces[s].storey for s in spaces]
        self.storey_of = list(self.start_storey)
        self.present = {s.id: 0 for s in site.storeys}
        for start in self.start_storey:
            self.present[start] += 1
        self.storey_last: dict[str, float] = {}
        self.moving_on = np.zeros(len(self.parts), dtype=np.int64)
        self.by_agent: list[dict[int, int]] = [{} for _ in self.parts]
        self.flows = {s.id: StairFlow(s) for s in sorted(site.stairs.values(), key=lambda s: s.id)}
        self.factors: dict[str, float] = {}
        self.order = np.argsort(self.premove, kind="stable")
        self.started = 0
        self.steps = 0
        self.check_every = max(1, round(CHECK_EVERY_S / self.dt))
        self.speed_every = max(1, round(SPEED_EVERY_S / self.dt))
        for person in range(n):
            self.way.enter(person, spaces[person], xy[person], speed=0.0)

    def _check_assignments(self, per_space: Mapping[str, int]) -> None:
        if isinstance(self.spec.exits, str):
            return
        for space_id in per_space:
            exit_id = self.assigned(space_id)
            if exit_id is not None and not math.isfinite(self.routes.space_distance(space_id, exit_id)):
                raise PlanError(f"exit {exit_id!r} cannot be reached from space {space_id!r}", f"exits.{space_id}")

    def assigned(self, space_id: str) -> str | None:
        """The exit the plan assigns to people of this space (its own entry first, then its storey's)."""
        exits = self.spec.exits
        if isinstance(exits, str):
            return None
        return exits.get(space_id) or exits.get(self.site.spaces[space_id].storey)

    @property
    def t(self) -> float:
        return round(self.steps * self.dt, 6)

    @property
    def finished(self) -> bool:
        return bool(np.all((self.status == EVACUATED) | (self.status == TRAPPED)))

    def advance(self, until_s: float) -> None:
        """Step the simulation on to `until_s` seconds after the alarm (never back)."""
        target = math.floor(until_s / self.dt + 1e-9)
        while self.steps < target:
            self._step()

    def _step(self) -> None:
        t = self.t
        while self.started < self.n and self.premove[self.order[self.started]] <= t + 1e-9:
            self.way.go(int(self.order[self.started]))
            self.started += 1
        for floor in self.floors:
            if self.moving_on[floor.index]:
                for agent in floor.step():
                    self._removed(floor.index, agent)
        self.steps += 1
        if self.steps % self.check_every == 0 and self.flows:
            self.way.stairs(self.t)
        if self.steps % self.speed_every == 0 and (self.factors or np.any(self.factor != 1.0)):
            self.way.apply_speeds()

    def _removed(self, part: int, agent: int) -> None:
        person = self.by_agent[part].pop(agent)
        self.moving_on[part] -= 1
        self.status[person] = EVACUATED
        self.exit_s[person] = self.t
        target = self.way.target[person]
        self.exit_of[person] = target[1] if target is not None else None
        self.left_storey(person, self.t)

    def left_storey(self, person: int, t: float) -> None:
        storey = self.storey_of[person]
        self.present[storey] -= 1
        self.storey_last[storey] = max(self.storey_last.get(storey, 0.0), t)

    def block_exit(self, exit_id: str) -> None:
        """Nobody may leave by `exit_id` any more: those bound for it re-route."""
        self.site.exit(exit_id)
        self.blocked.add(exit_id)
        self._reroute()

    def open_exit(self, exit_id: str) -> None:
        self.site.exit(exit_id)
        self.blocked.discard(exit_id)
        self._reroute()

    def close_space(self, space_id: str) -> None:
        """The space is untenable: routes avoid it while another way exists; people in it leave it."""
        self.site.space(space_id)
        self.closed_spaces.add(space_id)
        self._reroute()

    def close_stair(self, stair_id: str) -> None:
        """Nobody else steps onto the stair; those on it walk on."""
        self.site.stair(stair_id)
        self.closed_stairs.add(stair_id)
        self._reroute()

    def set_speed_factors(self, factors: Mapping[str, float]) -> None:
        """Walking speed × factor (0 < factor ≤ 1) for people in each space named; 1 restores a space."""
        for space_id, factor in sorted(factors.items()):
            self.site.space(space_id)
            if not isinstance(factor, int | float) or not 0 < factor <= 1:
                raise PlanError(f"a speed factor lies in (0, 1], not {factor!r} (space {space_id!r})",
                                f"speed_factors.{space_id}")
            if factor == 1:
                self.factors.pop(space_id, None)
            else:
                self.factors[space_id] = float(factor)
        self.way.apply_speeds()

    def _reroute(self) -> None:
        self.routes.update(closed_spaces=self.closed_spaces, blocked_exits=self.blocked,
                           closed_stairs=self.closed_stairs | set(self.unusable))
        self.way.reroute()

    def people(self) -> People:
        """Everyone now (see People)."""
        return self.way.people()

    def result(self) -> EvacuationResult:
        return build_result(sorted(self.site.exits), self.exit_of, self.exit_s, self.start_storey,
                            [s.id for s in self.site.storeys], self.storey_last, self.present)


__all__ = ["STATUSES", "Evacuation", "EvacuationResult", "EvacuationSpec", "People"]
