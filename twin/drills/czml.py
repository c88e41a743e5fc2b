"""A stored drill run as CZML (czml3) for Cesium's clock and timeline: each person and vehicle a time-sampled
position shown until it leaves, each hazard zone (gas, water, smoke) a polygon shown for the interval it held.
Times count from the run's start (`epoch`); the document's clock spans the run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from czml3 import (
    Clock,
    Color,
    Document,
    Material,
    Packet,
    Point,
    Polygon,
    Position,
    PositionList,
    SolidColorMaterial,
    TimeInterval,
)
from czml3.properties import Path

ZONE_COLOURS = {"gas": (230, 159, 0), "water": (0, 114, 178), "smoke": (90, 90, 90)}
PERSON_COLOUR = (0, 158, 115, 255)
VEHICLE_COLOUR = (213, 94, 0, 255)
EVACUATED = 2


def _at(epoch: dt.datetime, t: float) -> dt.datetime:
    return epoch + dt.timedelta(seconds=t)


def _interval(epoch: dt.datetime, start: float, end: float) -> TimeInterval:
    return TimeInterval(start=_at(epoch, start), end=_at(epoch, max(end, start + 1e-3)))


def _ring(geometry: dict[str, Any]) -> list[float]:
    coordinates = geometry["coordinates"] if geometry["type"] == "Polygon" else geometry["coordinates"][0]
    return [value for lon, lat, *_ in coordinates[0] for value in (lon, lat, 0.0)]


def document(run: dict[str, Any], epoch: dt.datetime, frames: Iterable[dict[str, Any]]) -> str:
    """The CZML text of a run from its decoded frames (in time order)."""
    people: dict[int, list[float]] = {}
    people_end: dict[int, float] = {}
    vehicles: dict[str, list[float]] = {}
    zones: list[tuple[str, str, dict[str, Any], float, float]] = []
    open_zones: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}
    first = last = 0.0
    for index, frame in enumerate(frames):
        t = float(frame["t"])
        if index == 0:
            first = t
        last = t
        crowd = frame.get("people")
        if crowd:
            positions, status = crowd["positions"], crowd["status"]
            for person, code in enumerate(status):
                if person in people_end:
                    continue
                samples = people.setdefault(person, [])
                samples += [t - first, *positions[3 * person:3 * person + 3]]
                if code == EVACUATED:
                    people_end[person] = t
        for vehicle in frame.get("vehicles", ()):
            if vehicle.get("position"):
                vehicles.setdefault(vehicle["unit"], []).extend([t - first, *vehicle["position"], 0.0])
        seen = set()
        for zone in frame.get("zones", ()):
            key = (zone["hazard"], str(zone["level"]))
            seen.add(key)
            held = open_zones.get(key)
            if held is None or held[0] != zone["polygon"]:
                if held is not None:
                    zones.append((*key, held[0], held[1], t))
                open_zones[key] = (zone["polygon"], t)
        for key in [k for k in open_zones if k not in seen]:
            polygon, since = open_zones.pop(key)
            zones.append((*key, polygon, since, t))
    for key, (polygon, since) in open_zones.items():
        zones.append((*key, polygon, since, last))
    start = _at(epoch, first)
    packets = [Packet(id="document", name=f"drill {run['id']} ({run['plan']} / {run['scheme']})", version="1.0",
                      clock=Clock(interval=_interval(epoch, first, last), currentTime=start, multiplier=10))]
    for person, samples in sorted(people.items()):
        packets.append(Packet(
            id=f"person-{person}", availability=_interval(epoch, first, people_end.get(person, last)),
            position=Position(epoch=start, cartographicDegrees=samples),
            point=Point(pixelSize=6, color=Color(rgba=list(PERSON_COLOUR)))))
    for unit, samples in sorted(vehicles.items()):
        packets.append(Packet(
            id=f"vehicle-{unit}", name=unit, availability=_interval(epoch, first, last),
            position=Position(epoch=start, cartographicDegrees=samples),
            point=Point(pixelSize=12, color=Color(rgba=list(VEHICLE_COLOUR))),
            path=Path(leadTime=0, trailTime=600, width=3)))
    for index, (hazard, level, polygon, since, until) in enumerate(zones):
        red, green, blue = ZONE_COLOURS.get(hazard, (200, 0, 0))
        packets.append(Packet(
            id=f"zone-{hazard}-{level}-{index}", name=f"{hazard} {level}",
            availability=_interval(epoch, since, until),
            polygon=Polygon(positions=PositionList(cartographicDegrees=_ring(polygon)),
                            material=Material(solidColor=SolidColorMaterial(
                                color=Color(rgba=[red, green, blue, 90]))))))
    return Document(packets=packets).dumps()
