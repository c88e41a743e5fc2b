"""Responder dispatch: units drive from their stations to the incident along routes found on the road network
(pgRouting, by `twin.drills.inputs`), each road step at its own travel time, so a unit's position at any instant
and its arrival time follow from the route alone. A unit without a route (no network, or no path) is reported
unreachable and never moves."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from pyproj import Geod

from scenes.drills.errors import PlanError

GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class RouteStep:
    """One road edge as driven: its points (lon, lat) in driving order and the seconds it takes."""

    points: tuple[tuple[float, float], ...]
    seconds: float


@dataclass(frozen=True)
class UnitRoute:
    unit: str
    kind: str
    station: str
    depart_s: float
    steps: tuple[RouteStep, ...] | None  # None: unreachable


class Vehicle:
    """A unit's position over time along its route: piecewise linear in time within every road edge."""

    def __init__(self, route: UnitRoute) -> None:
        self.route = route
        self.times: list[float] = []  # the instant each vertex is reached
        self.points: list[tuple[float, float]] = []
        t = route.depart_s
        for step in route.steps or ():
            if step.seconds < 0 or len(step.points) < 2:
                raise PlanError(f"route of unit {route.unit!r} has a step with no length or negative time")
            lengths = [GEOD.inv(a[0], a[1], b[0], b[1])[2] for a, b in zip(step.points, step.points[1:],
                                                                           strict=False)]
            total = sum(lengths) or 1.0
            if not self.points:
                self.points.append(step.points[0])
                self.times.append(t)
            for point, length in zip(step.points[1:], lengths, strict=True):
                t += step.seconds * length / total
                self.points.append(point)
                self.times.append(t)

    @property
    def reachable(self) -> bool:
        return self.route.steps is not None

    @property
    def arrival_s(self) -> float | None:
        if not self.reachable:
            return None
        return self.times[-1] if self.times else self.route.depart_s

    def at(self, t: float) -> tuple[float, float] | None:
        """(lon, lat) at simulated second t; None when the unit has no route."""
        if not self.points:
            return None
        if t <= self.times[0]:
            return self.points[0]
        if t >= self.times[-1]:
            return self.points[-1]
        i = bisect.bisect_right(self.times, t)
        t0, t1 = self.times[i - 1], self.times[i]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        (x0, y0), (x1, y1) = self.points[i - 1], self.points[i]
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f

    def state(self, t: float) -> str:
        if not self.reachable:
            return "unreachable"
        if t < self.route.depart_s:
            return "at_station"
        arrival = self.arrival_s
        return "arrived" if arrival is not None and t >= arrival else "driving"
