"""The people side of an evacuation: their JuPedSim stages and journeys, the routes they follow, stepping on and
off stairs, speed factors, re-routing and where everyone is (the run itself is `scenes.drills.evacuation`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from scenes.drills.evacuation_result import EVACUATED, MOVING, ON_STAIR, STATUSES, TRAPPED, WAITING, People
from scenes.drills.walkable_plane import exit_opening, landing_stage

if TYPE_CHECKING:
    from scenes.drills.evacuation import Evacuation

DOOR_REACH = 0.6  # metres from a door's centre at which its waypoint counts as passed
LANDING_REACH = 0.3
SPOT_RING = 0.5  # metres around a landing where people stepping off may stand when its centre is taken

Target = tuple[str, str, bool]  # ("exit", exit id, False) or ("stair", stair id, boards at its head)


class Wayfinding:
    def __init__(self, ev: Evacuation, landings: dict[tuple[str, bool], Point]) -> None:
        self.ev = ev
        site, floors = ev.site, ev.floors
        self.exit_stage: dict[str, tuple[int, int]] = {}
        self.exit_point: dict[str, tuple[float, float]] = {}
        for exit_ in sorted(site.exits.values(), key=lambda e: e.id):
            part = ev.part_of_space.get(exit_.from_space)
            if part is not None:
                stage = exit_opening(exit_, site)[1]
                self.exit_stage[exit_.id] = (part, floors[part].exit_stage(stage))
                self.exit_point[exit_.id] = (stage.centroid.x, stage.centroid.y)
        self.door_stage: dict[str, tuple[int, int]] = {}
        for door in sorted(site.doors.values(), key=lambda d: d.id):
            part = ev.part_of_space.get(door.from_space)
            if part is not None:
                c = door.line.centroid
                self.door_stage[door.id] = (part, floors[part].waypoint((c.x, c.y), DOOR_REACH))
        self.landing: dict[tuple[str, bool], tuple[int, int, Polygon, Point, list[tuple[float, float]]]] = {}
        for (stair_id, at_head), point in sorted(landings.items()):
            stair = site.stairs[stair_id]
            part = ev.part_of_space.get(stair.to_space if at_head else stair.from_space)
            if part is None:
                continue
            polygon = ev.parts[part].polygon
            inner = polygon.buffer(-ev.spec.radius - 0.05)
            spots = [(point.x + dx, point.y + dy) for dx, dy in
                     ((0, 0), (SPOT_RING, 0), (-SPOT_RING, 0), (0, SPOT_RING), (0, -SPOT_RING))]
            spots = [s for s in spots if inner.covers(Point(s))] or [(point.x, point.y)]
            self.landing[(stair_id, at_head)] = (part, floors[part].waypoint((point.x, point.y), LANDING_REACH),
                                                 landing_stage(point, stair.width, polygon), point, spots)
        self.trees = {s.id: (shapely.STRtree([site.spaces[x].polygon for x in ids]), ids)
                      for s in site.storeys if (ids := [x.id for x in site.spaces_of(s.id)])}
        self.target: list[Target | None] = []
        self.stages: list[tuple[int, ...]] = []
        self.space: list[str] = []
        self.version = 0
        self.planned: list[int] = []
        self.bound: dict[tuple[str, bool], set[int]] = {k: set() for k in self.landing}
        self.riding: dict[int, tuple[str, bool]] = {}  # person → (stair, down)
        self._plans: dict[tuple[int, str | None, int], tuple[tuple[int, ...], Target] | None] = {}

    # routes ------------------------------------------------------------------------------------------------------
    def plan(self, space: str, xy: tuple[float, float], part: int) -> tuple[tuple[int, ...], Target] | None:
        """The stages on this part and the target (exit, or the stair to board) of the shortest way out."""
        ev, routes = self.ev, self.ev.routes
        assigned = ev.assigned(space)
        choices = ([assigned] if assigned is not None and assigned not in ev.blocked else []) + [None]
        for exit_id in choices:
            first, _ = routes.first_portals(space, np.array([xy]), exit_id)
            if first[0] < 0:
                continue
            key = (int(first[0]), exit_id, part)
            if key not in self._plans:
                self._plans[key] = self._stages(routes.path(int(first[0]), exit_id), part)
            if self._plans[key] is not None:
                return self._plans[key]
        return None

    def _stages(self, path: list[int], part: int) -> tuple[tuple[int, ...], Target] | None:
        routes, stages = self.ev.routes, []
        for i, index in enumerate(path):
            node = routes.nodes[index]
            if node.kind == "door" and node.ref in self.door_stage and self.door_stage[node.ref][0] == part:
                stages.append(self.door_stage[node.ref][1])
            elif node.kind == "exit" and node.ref in self.exit_stage:
                stages.append(self.exit_stage[node.ref][1])
                return tuple(stages), ("exit", node.ref, False)
            elif node.kind == "landing" and i + 1 < len(path) and routes.nodes[path[i + 1]].ref == node.ref:
                at_head = routes.landing_node[(node.ref, True)] == index
                if (node.ref, at_head) in self.landing:
                    stages.append(self.landing[(node.ref, at_head)][1])
                    return tuple(stages), ("stair", node.ref, at_head)
                return None
        return None

    def _speed(self, person: int) -> float:
        ev = self.ev
        ev.factor[person] = ev.factors.get(self.space[person], 1.0)
        return float(ev.base_speed[person] * ev.factor[person])

    def _bind(self, person: int, target: Target | None) -> None:
        old = self.target[person]
        if old is not None and old[0] == "stair":
            self.bound[(old[1], old[2])].discard(person)
        self.target[person] = target
        if target is not None and target[0] == "stair" and self.ev.status[person] == MOVING:
            self.bound[(target[1], target[2])].add(person)

    def enter(self, person: int, space: str, xy: tuple[float, float], speed: float | None) -> None:
        """Put a person into the simulation of `space`'s part; `speed` None: moving at their own speed."""
        ev = self.ev
        part = ev.part_of_space[space]
        planned = self.plan(space, xy, part)
        if person == len(self.target):
            self.target.append(None)
            self.stages.append(())
            self.space.append(space)
            self.planned.append(self.version)
        self.space[person], self.planned[person] = space, self.version
        stages: tuple[int, ...]
        if planned is None:  # no way out now: stand at the landing (only after a stair, with every exit blocked)
            key = next(k for k in self.landing if self.landing[k][0] == part)
            stages, target, speed, status = (self.landing[key][1],), None, 0.0, TRAPPED
        else:
            stages, target = planned
            status = WAITING if speed == 0.0 else MOVING
        ev.status[person] = status
        if status == MOVING:
            ev.moving_on[part] += 1
            speed = self._speed(person)
        agent = ev.floors[part].add(xy, float(speed or 0.0), ev.spec.radius, stages)
        ev.agent[person], ev.part[person] = agent, part
        ev.by_agent[part][agent] = person
        self.stages[person] = stages
        self._bind(person, target)

    def go(self, person: int) -> None:
        """Pre-movement over: on their way (re-planned if the routes changed while they waited)."""
        ev = self.ev
        part, agent = int(ev.part[person]), int(ev.agent[person])
        floor = ev.floors[part]
        if self.planned[person] != self.version:
            self._replan(person, floor.sim.agent(agent).position)
            if ev.status[person] == TRAPPED:
                return
        ev.status[person] = MOVING
        ev.moving_on[part] += 1
        floor.speed(agent, self._speed(person))
        self._bind(person, self.target[person])

    def _replan(self, person: int, xy: tuple[float, float]) -> None:
        ev = self.ev
        part, agent = int(ev.part[person]), int(ev.agent[person])
        space = self.space_at(ev.storey_of[person], xy, part) or self.space[person]
        self.space[person], self.planned[person] = space, self.version
        planned = self.plan(space, xy, part)
        floor = ev.floors[part]
        if planned is None:
            if ev.status[person] == MOVING:
                ev.moving_on[part] -= 1
                floor.speed(agent, 0.0)
            ev.status[person] = TRAPPED
            self._bind(person, None)
            return
        stages, target = planned
        if stages != self.stages[person]:
            floor.switch(agent, stages)
            self.stages[person] = stages
        if ev.status[person] == TRAPPED:
            ev.status[person] = MOVING
            ev.moving_on[part] += 1
            floor.speed(agent, self._speed(person))
        self._bind(person, target)

    def reroute(self) -> None:
        """Routes changed: everyone on their way (or stuck) takes the new shortest way from where they are."""
        self.version += 1
        self._plans.clear()
        ev = self.ev
        for person in np.flatnonzero((ev.status == MOVING) | (ev.status == TRAPPED)).tolist():
            position = ev.floors[int(ev.part[person])].sim.agent(int(ev.agent[person])).position
            self._replan(person, position)

    def space_at(self, storey: str, xy: tuple[float, float], part: int | None = None) -> str | None:
        if storey not in self.trees:
            return None
        tree, ids = self.trees[storey]
        hits = tree.query(Point(xy), predicate="intersects")
        if len(hits):
            return ids[int(min(hits))]
        if part is None:
            return None
        return ids[int(tree.nearest(Point(xy)))]

    # stairs ------------------------------------------------------------------------------------------------------
    def stairs(self, t: float) -> None:
        ev = self.ev
        for key in sorted(k for k, members in self.bound.items() if members):
            stair_id, at_head = key
            flow = ev.flows[stair_id]
            if stair_id in ev.closed_stairs or not flow.can_board(t):
                continue
            part, _, square, point, _ = self.landing[key]
            floor = ev.floors[part]
            members, by_agent = self.bound[key], ev.by_agent[part]
            reach = (square.bounds[2] - square.bounds[0]) / 2
            near = []
            for agent in floor.sim.agents_in_range((point.x, point.y), reach):
                person = by_agent.get(agent)
                if person in members:
                    x, y = floor.sim.agent(agent).position
                    near.append((math.hypot(x - point.x, y - point.y), person))
            for _, person in sorted(near):
                if not flow.can_board(t):
                    break
                floor.remove(int(ev.agent[person]))
                del by_agent[int(ev.agent[person])]
                ev.status[person] = ON_STAIR
                ev.moving_on[part] -= 1
                members.discard(person)
                ev.left_storey(person, t)
                flow.board(person, at_head, t, float(ev.base_speed[person] * ev.spec.stair_speed_factor))
                self.riding[person] = (stair_id, at_head)
        for stair_id, flow in ev.flows.items():
            held: set[bool] = set()
            for walker in flow.due(t):
                if walker.down in held:
                    continue
                part, _, _, _, spots = self.landing[(stair_id, not walker.down)]
                sim, clearance, spot = ev.floors[part].sim, 2 * ev.spec.radius + 0.05, None
                for candidate in spots:
                    if not list(sim.agents_in_range(candidate, clearance)):
                        spot = candidate
                        break
                if spot is None:
                    held.add(walker.down)
                    continue
                flow.step_off(walker)
                person = walker.person
                stair = ev.site.stairs[stair_id]
                storey, space = (stair.from_storey, stair.from_space) if walker.down else (stair.to_storey,
                                                                                          stair.to_space)
                del self.riding[person]
                ev.storey_of[person] = storey
                ev.present[storey] += 1
                self.enter(person, space, spot, None)

    # speeds ------------------------------------------------------------------------------------------------------
    def apply_speeds(self) -> None:
        """Desired speeds = own speed × the factor of the space each moving person is in (positions looked up in
        the storey's spaces at once; JuPedSim's own polygon query takes convex polygons only)."""
        ev = self.ev
        slowed_parts = {ev.part_of_space.get(s) for s in ev.factors}
        for floor in ev.floors:
            index = floor.index
            if not ev.moving_on[index]:
                continue
            if index not in slowed_parts and not np.any((ev.factor != 1.0) & (ev.part == index)):
                continue
            by_agent, persons, points = ev.by_agent[index], [], []
            for agent in floor.sim.agents():
                person = by_agent.get(agent.id)
                if person is not None and ev.status[person] == MOVING:
                    persons.append(person)
                    points.append(agent.position)
            if not persons:
                continue
            tree, ids = self.trees[ev.parts[index].storey]
            where, hit = tree.query(shapely.points(np.asarray(points)), predicate="intersects")
            factor = {persons[int(w)]: ev.factors.get(ids[int(h)], 1.0) for w, h in zip(where[::-1], hit[::-1],
                                                                                      strict=True)}
            for person in persons:
                new = factor.get(person, 1.0)
                if new != ev.factor[person]:
                    ev.factor[person] = new
                    floor.speed(int(ev.agent[person]), float(ev.base_speed[person] * new))

    # state -------------------------------------------------------------------------------------------------------
    def people(self) -> People:
        ev, site = self.ev, self.ev.site
        n = ev.n
        x, y, z = np.zeros(n), np.zeros(n), np.zeros(n)
        storey = np.zeros(n, dtype=np.int64)
        space: list[str | None] = [None] * n
        for floor in ev.floors:
            if not floor.count:
                continue
            by_agent = ev.by_agent[floor.index]
            for agent in floor.sim.agents():
                person = by_agent.get(agent.id)  # None: stepped onto a stair, gone at the next step
                if person is not None:
                    x[person], y[person] = agent.position
        for person in range(n):
            level = site.storey_by_id[ev.storey_of[person]]
            storey[person], z[person] = level.ordinal, ev.level_z[level.id]
            status = ev.status[person]
            if status == EVACUATED:
                target = self.target[person]
                x[person], y[person] = self.exit_point[target[1]] if target else (math.nan, math.nan)
            elif status == ON_STAIR:
                stair_id, down = self.riding[person]
                stair = site.stairs[stair_id]
                walker = next(w for w in ev.flows[stair_id].walkers if w.person == person)
                f = ev.flows[stair_id].progress(walker, ev.t)
                a, b = self.landing[(stair_id, down)][3], self.landing[(stair_id, not down)][3]
                x[person], y[person] = a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f
                za, zb = ev.level_z[stair.to_storey], ev.level_z[stair.from_storey]
                z[person] = za + (zb - za) * f if down else zb + (za - zb) * f
            else:
                space[person] = self.space_at(ev.storey_of[person], (x[person], y[person]))
        return People(np.arange(n), x, y, z, storey, space, np.array([STATUSES[s] for s in ev.status.tolist()]))
