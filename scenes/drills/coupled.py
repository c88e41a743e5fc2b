"""The coupled drill: one scheme of a plan stepped frame by frame, every simulator of its hazard advanced to the
same instant, injects applied when their time comes, and one frame made of them all. A pure function of (plan,
scheme, seed, twin data): the same inputs give byte-identical frames (`scenes.drills.frames`)."""

from __future__ import annotations

import math
from typing import Any, Protocol

from scenes.drills.dispatch import Vehicle
from scenes.drills.errors import PlanError
from scenes.drills.parts import parts_for
from scenes.drills.plan import Inject, Plan, Scheme
from scenes.drills.twin_data import TwinData

TAIL_S = 10.0
"""After everyone is out and every unit has arrived, a fire drill runs this much longer, then ends."""


class Part(Protocol):
    """One simulator of a drill, as the coupler drives it."""

    def advance(self, t: float) -> None: ...

    def frame(self, t: float, out: dict[str, Any]) -> None: ...

    def report(self, out: dict[str, Any]) -> None: ...

    def inject(self, inject: Inject, t: float) -> bool: ...

    @property
    def settled(self) -> bool: ...


class Dispatch:
    """The scheme's units on their way from their stations (routes gathered from pgRouting beforehand)."""

    def __init__(self, data: TwinData) -> None:
        self.vehicles = [Vehicle(route) for route in data.routes]

    def advance(self, t: float) -> None:
        return None

    def frame(self, t: float, out: dict[str, Any]) -> None:
        if not self.vehicles:
            return
        vehicles = []
        for vehicle in self.vehicles:
            position = vehicle.at(t)
            vehicles.append({"unit": vehicle.route.unit, "kind": vehicle.route.kind, "state": vehicle.state(t),
                             "position": [round(position[0], 7), round(position[1], 7)] if position else None})
        out["vehicles"] = vehicles

    def report(self, out: dict[str, Any]) -> None:
        responders = [{"unit": v.route.unit, "kind": v.route.kind, "station": v.route.station,
                       "depart_s": v.route.depart_s, "reachable": v.reachable,
                       "arrival_s": round(v.arrival_s, 3) if v.arrival_s is not None else None}
                      for v in self.vehicles]
        out["responders"] = responders
        arrivals = [r["arrival_s"] for r in responders if r["arrival_s"] is not None]
        out["responders_summary"] = {"units": len(responders), "unreachable": sum(not r["reachable"]
                                                                                  for r in responders),
                                     "first_arrival_s": min(arrivals) if arrivals else None,
                                     "last_arrival_s": max(arrivals) if arrivals else None}

    def inject(self, inject: Inject, t: float) -> bool:
        return False

    @property
    def settled(self) -> bool:
        return all(not v.reachable or v.arrival_s is not None for v in self.vehicles)

    def done_at(self, t: float) -> bool:
        return all(v.state(t) in ("arrived", "unreachable") for v in self.vehicles)


class Drill:
    def __init__(self, plan: Plan, scheme: Scheme, seed: int, parts: list[Any], dispatch: Dispatch) -> None:
        self.plan, self.scheme, self.seed = plan, scheme, seed
        self.parts, self.dispatch = parts, dispatch
        self.interval = plan.time.frame_interval_s
        self.duration = plan.time.duration_s
        self.start = plan.incident.start_s
        self.index = 0
        self.t = 0.0
        self.pending = sorted(scheme.injects, key=lambda i: i.at_s)
        self.applied: list[dict[str, Any]] = []
        self.ended_at: float | None = None
        self.settled_at: float | None = None
        self.timeline: dict[str, list[float]] = {"t": []}

    def _injects_due(self, t: float) -> list[dict[str, Any]]:
        due = []
        while self.pending and self.pending[0].at_s <= t + 1e-9:
            inject = self.pending.pop(0)
            taken = any(part.inject(inject, t) for part in self.parts)
            record = {**inject.model_dump(mode="json", exclude_none=True), "applied": taken}
            self.applied.append(record)
            due.append(record)
        return due

    def step(self) -> dict[str, Any] | None:
        """The next frame, or None once the drill has ended."""
        if self.ended_at is not None:
            return None
        t = round(self.index * self.interval, 6)
        if t > self.duration + 1e-9:
            self.ended_at = self.t
            return None
        injects = self._injects_due(t)
        for part in self.parts:
            part.advance(t)
        frame: dict[str, Any] = {"t": t}
        for part in [*self.parts, self.dispatch]:
            part.frame(t, frame)
        if injects:
            frame["injects"] = injects
        self._record(t, frame)
        self.t = t
        self.index += 1
        if self._over(t):
            self.ended_at = t
        return frame

    def _record(self, t: float, frame: dict[str, Any]) -> None:
        self.timeline["t"].append(t)
        for key, value in (frame.get("counts") or {}).items():
            self.timeline.setdefault(key, []).append(value)

    def _over(self, t: float) -> bool:
        if not self.parts:
            return self.dispatch.done_at(t)
        if self.plan.hazard != "fire" or not all(part.settled for part in self.parts) \
                or not self.dispatch.done_at(t):
            self.settled_at = None
            return False
        if self.settled_at is None:
            self.settled_at = t
        return t - self.settled_at >= TAIL_S

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"plan": self.plan.id, "scheme": self.scheme.id, "seed": self.seed,
                               "hazard": self.plan.hazard, "simulated_s": self.t, "frame_interval_s": self.interval,
                               "injects": self.applied, "timeline": self.timeline}
        for part in [*self.parts, self.dispatch]:
            part.report(out)
        return out


def build_parts(plan: Plan, scheme: Scheme, seed: int, data: TwinData) -> list[Any]:
    """The hazard's simulators for this scheme (the building's fire and its evacuation, the gas plume, the
    water) — each fed from the plan and the twin data."""
    return parts_for(plan, scheme, seed, data)


def build_drill(plan: Plan, scheme_id: str, seed: int, data: TwinData) -> Drill:
    if not 0 <= seed < 2**63 or not math.isfinite(seed):
        raise PlanError("seed is a whole number from 0 to 2^63 − 1", "seed")
    scheme = plan.scheme(scheme_id)
    return Drill(plan, scheme, seed, build_parts(plan, scheme, seed, data), Dispatch(data))


def check_scheme(plan: Plan, scheme_id: str, data: TwinData) -> None:
    """PlanError unless the scheme can run on this twin data (its sites built, its ids found)."""
    build_drill(plan, scheme_id, 0, data)
