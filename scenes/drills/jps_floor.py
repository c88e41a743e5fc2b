"""One connected walkable part of a storey as one JuPedSim simulation (Collision Free Speed Model V2, Tordeux,
Chraibi & Seyfried 2016, "Collision-free speed model for pedestrian dynamics"), with its stages and journeys
cached, and every call that changes it written to an optional log so that the bare JuPedSim loop can replay the
same run (`replay`, used by `bench drills` to measure our overhead)."""

from __future__ import annotations

import itertools
from typing import Any

import jupedsim as jps
from shapely.geometry import Polygon

Log = list[tuple[Any, ...]]


class JpsFloor:
    def __init__(self, index: int, polygon: Polygon, dt: float, log: Log | None = None) -> None:
        self.index = index
        self.log = log
        self.sim = jps.Simulation(model=jps.CollisionFreeSpeedModelV2(), geometry=polygon, dt=dt)
        self.journeys: dict[tuple[int, ...], int] = {}
        self.count = 0  # agents in the simulation
        self.exits = 0  # exit stages: without any, no step removes anyone
        if log is not None:
            log.append(("floor", index, polygon.wkb, dt))

    def exit_stage(self, polygon: Polygon) -> int:
        stage = self.sim.add_exit_stage(polygon)
        self.exits += 1
        if self.log is not None:
            self.log.append(("exit", self.index, polygon.wkb, stage))
        return stage

    def waypoint(self, xy: tuple[float, float], distance: float) -> int:
        stage = self.sim.add_waypoint_stage(xy, distance)
        if self.log is not None:
            self.log.append(("waypoint", self.index, xy, distance, stage))
        return stage

    def journey(self, stages: tuple[int, ...]) -> int:
        """The journey through `stages` in order (created once per sequence)."""
        found = self.journeys.get(stages)
        if found is None:
            if self.log is not None:
                self.log.append(("journey", self.index, stages))
            found = self.journeys[stages] = _journey(self.sim, stages)
        return found

    def add(self, xy: tuple[float, float], speed: float, radius: float, stages: tuple[int, ...]) -> int:
        journey = self.journey(stages)
        self.count += 1
        parameters = jps.CollisionFreeSpeedModelV2AgentParameters(
            position=xy, desired_speed=speed, radius=radius, journey_id=journey, stage_id=stages[0])
        agent = self.sim.add_agent(parameters)
        if self.log is not None:
            self.log.append(("add", self.index, xy, speed, radius, stages, agent))
        return agent

    def speed(self, agent: int, speed: float) -> None:
        if self.log is not None:
            self.log.append(("speed", self.index, agent, speed))
        self.sim.agent(agent).model.desired_speed = speed

    def switch(self, agent: int, stages: tuple[int, ...]) -> None:
        journey = self.journey(stages)
        if self.log is not None:
            self.log.append(("switch", self.index, agent, stages))
        self.sim.switch_agent_journey(agent, journey, stages[0])

    def remove(self, agent: int) -> None:
        if self.log is not None:
            self.log.append(("remove", self.index, agent))
        self.count -= 1
        self.sim.mark_agent_for_removal(agent)  # gone at the next step, and not among its removed agents

    def step(self) -> list[int]:
        """One time step; the agents it removed through an exit."""
        if self.log is not None:
            self.log.append(("step", self.index))
        self.sim.iterate()
        if not self.exits:
            return []
        removed = list(self.sim.removed_agents())
        self.count -= len(removed)
        return removed


def _journey(sim: jps.Simulation, stages: tuple[int, ...]) -> int:
    description = jps.JourneyDescription(list(stages))
    for a, b in itertools.pairwise(stages):
        description.set_transition_for_stage(a, jps.Transition.create_fixed_transition(b))
    return sim.add_journey(description)


def replay(log: Log) -> int:
    """The bare JuPedSim loop: the logged simulations, stages, agents and calls, nothing else; returns the steps
    taken. (JuPedSim numbers stages and agents process-wide, so the logged ids are mapped to the replay's.)"""
    from shapely import from_wkb

    sims: dict[int, jps.Simulation] = {}
    stage: dict[int, int] = {}
    agent: dict[int, int] = {}
    journeys: dict[tuple[int, tuple[int, ...]], int] = {}
    steps = 0
    for entry in log:
        op, index = entry[0], entry[1]
        if op == "step":
            sims[index].iterate()
            steps += 1
        elif op == "add":
            _, _, xy, speed, radius, stages, logged = entry
            agent[logged] = sims[index].add_agent(jps.CollisionFreeSpeedModelV2AgentParameters(
                position=xy, desired_speed=speed, radius=radius, journey_id=journeys[(index, stages)],
                stage_id=stage[stages[0]]))
        elif op == "speed":
            sims[index].agent(agent[entry[2]]).model.desired_speed = entry[3]
        elif op == "switch":
            sims[index].switch_agent_journey(agent[entry[2]], journeys[(index, entry[3])], stage[entry[3][0]])
        elif op == "remove":
            sims[index].mark_agent_for_removal(agent[entry[2]])
        elif op == "journey":
            journeys[(index, entry[2])] = _journey(sims[index], tuple(stage[s] for s in entry[2]))
        elif op == "exit":
            stage[entry[3]] = sims[index].add_exit_stage(from_wkb(entry[2]))
        elif op == "waypoint":
            stage[entry[4]] = sims[index].add_waypoint_stage(entry[2], entry[3])
        elif op == "floor":
            sims[index] = jps.Simulation(model=jps.CollisionFreeSpeedModelV2(), geometry=from_wkb(entry[2]),
                                         dt=entry[3])
    return steps
