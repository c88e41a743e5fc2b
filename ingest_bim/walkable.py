"""Walkable geometry for evacuation drills: per storey the floor people walk on, and how storeys connect.

Per storey: the walkable area is the union of its IfcSpace footprints, or, with no spaces, its floor slabs minus
its walls. Doors link the spaces on either side: two probe points, half the door's depth plus 0.5 m in front of
and behind its centre, each look for a space (or, without spaces, for walkable area); a door whose far side is
in none leads outside, and on the lowest walkable storey that makes it an exit. Stairs (and ramps) link the storey
nearest their foot to the storey nearest their head, and the spaces there (the nearest within 0.5 m when an end
lies on none: a stair arrives at its space's edge). All measures are metres; geometries leave as EPSG:4326
lon/lat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ifcopenshell
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ingest_bim.georef import Georef
from ingest_bim.semantics import Semantics

PROBE_MARGIN = 0.5
STAIR_REACH = 0.5  # metres from a stair's foot or head to the space it leads to
STAIR_CLASSES = ("IfcStair", "IfcRamp")
FLIGHT_CLASSES = ("IfcStairFlight", "IfcRampFlight")
NOT_FLOOR_SLABS = ("ROOF",)


@dataclass(frozen=True)
class Element:
    """What the walkable analysis needs of one product; footprint in model metres."""

    guid: str
    ifc_class: str
    name: str | None
    storey: str | None
    footprint: BaseGeometry
    zmin: float
    zmax: float
    attributes: dict[str, Any]
    vertices: NDArray[np.float64] | None = None  # model metres, for stairs


@dataclass
class Floor:
    building_id: str
    storey_id: str
    name: str | None
    ordinal: int
    elevation: float  # metres, relative to the project (IfcBuildingStorey.Elevation or placement)
    height: float  # metres above the ellipsoid
    source: str
    walkable: MultiPolygon  # lon/lat
    spaces: list[dict[str, Any]]  # {"id", "name", "area", "geometry" (lon/lat polygon)}


@dataclass
class Connection:
    id: str
    building_id: str
    kind: str  # door | exit | stair
    storey_id: str
    to_storey_id: str | None
    from_space: str | None
    to_space: str | None
    width: float | None
    geometry: BaseGeometry  # lon/lat
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Floors:
    floors: list[Floor] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(parts)


def _door_axes(footprint: BaseGeometry) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float]:
    """Centre, unit vector along the door's width, its width and its depth, from the minimum rectangle."""
    rect = footprint.minimum_rotated_rectangle
    coords = np.asarray(rect.exterior.coords)[:4] if isinstance(rect, Polygon) else np.asarray(rect.coords)
    centre = np.asarray(footprint.centroid.coords[0])
    if len(coords) < 3:
        return centre, np.array([1.0, 0.0]), 0.0, 0.0
    a, b = coords[1] - coords[0], coords[2] - coords[1]
    la, lb = float(np.hypot(*a)), float(np.hypot(*b))
    if la >= lb:
        return centre, a / max(la, 1e-9), la, lb
    return centre, b / max(lb, 1e-9), lb, la


class _Analysis:
    def __init__(self, elements: list[Element], model: ifcopenshell.file, semantics: Semantics, georef: Georef,
                 dataset: str) -> None:
        self.elements = elements
        self.model = model
        self.semantics = semantics
        self.georef = georef
        self.dataset = dataset
        self.result = Floors()

    def lonlat(self, geometry: BaseGeometry) -> BaseGeometry:
        def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            return self.georef.to_geodetic(np.column_stack([xy, np.zeros(len(xy))]))[:, :2]

        return shapely.transform(geometry, convert)

    def oid(self, guid: str) -> str:
        return f"{self.dataset}.{guid}"

    def oid_or_none(self, guid: str | None) -> str | None:
        return f"{self.dataset}.{guid}" if guid else None

    def building_of(self, storey: ifcopenshell.entity_instance) -> ifcopenshell.entity_instance | None:
        node = self.semantics.parent.get(storey.id())
        while node is not None and not node.is_a("IfcBuilding"):
            node = self.semantics.parent.get(node.id())
        return node

    def run(self) -> Floors:
        storeys = sorted(self.model.by_type("IfcBuildingStorey"),
                         key=lambda s: self.semantics.placement_origin(s)[2])
        by_storey: dict[str | None, list[Element]] = {}
        for element in self.elements:
            by_storey.setdefault(element.storey, []).append(element)
        levels: list[tuple[ifcopenshell.entity_instance, float]] = []
        walkable_storeys: list[tuple[ifcopenshell.entity_instance, Any]] = []
        for storey in storeys:
            z = self.semantics.placement_origin(storey)[2]
            levels.append((storey, z))
            floor = self.floor(storey, z, by_storey.get(storey.GlobalId, []), len(walkable_storeys))
            if floor is not None:
                walkable_storeys.append((storey, floor))
        if not walkable_storeys:
            self.result.warnings.append("no storey has spaces or floor slabs: no walkable geometry")
            return self.result
        lowest = walkable_storeys[0][0].GlobalId
        for storey, floor in walkable_storeys:
            self.doors(storey, floor, by_storey.get(storey.GlobalId, []), storey.GlobalId == lowest)
        self.stairs(levels, dict(walkable_storeys))
        return self.result

    def floor(self, storey: ifcopenshell.entity_instance, z: float, members: list[Element], ordinal: int
              ) -> tuple[BaseGeometry, list[tuple[Element, BaseGeometry]], BaseGeometry] | None:
        spaces = [(e, e.footprint) for e in members if e.ifc_class == "IfcSpace" and e.footprint.area > 0.5]
        slabs = [e.footprint for e in members
                 if e.ifc_class.startswith("IfcSlab") and e.attributes.get("predefined_type") not in NOT_FLOOR_SLABS
                 and e.footprint.area > 0.5]
        outline = shapely.union_all(slabs) if slabs else Polygon()
        if spaces:
            area, source = shapely.union_all([g for _, g in spaces]), "IfcSpace"
        elif slabs:
            walls = [e.footprint for e in members if e.ifc_class.startswith("IfcWall")]
            area = outline.difference(shapely.union_all(walls)) if walls else outline
            source = "IfcSlab minus IfcWall"
        else:
            self.result.warnings.append(f"storey {storey.Name!r} has no spaces or floor slabs: no walkable area")
            return None
        building = self.building_of(storey)
        height = float(self.georef.to_geodetic(np.array([[0.0, 0.0, z]]))[0, 2])
        elevation = float(storey.Elevation) * self.semantics.unit if storey.Elevation is not None else z
        self.result.floors.append(Floor(
            (self.oid(building.GlobalId) if building is not None else ""), self.oid(storey.GlobalId),
            storey.Name, ordinal, round(elevation, 4), round(height, 4), source,
            _multipolygon(self.lonlat(area)),
            [{"id": self.oid(e.guid), "name": e.name, "long_name": e.attributes.get("long_name"),
              "area": round(float(g.area), 3), "geometry": self.lonlat(g)} for e, g in spaces]))
        return area, spaces, outline

    def space_at(self, point: Point, spaces: list[tuple[Element, BaseGeometry]]) -> Element | None:
        for element, geometry in spaces:
            if geometry.covers(point):
                return element
        return None

    def space_near(self, point: Point, spaces: list[tuple[Element, BaseGeometry]]) -> Element | None:
        """The space at `point`, else the nearest within STAIR_REACH (a stair ends at its space's edge)."""
        found = self.space_at(point, spaces)
        if found is not None or not spaces:
            return found
        distance, element = min(((g.distance(point), e) for e, g in spaces), key=lambda pair: pair[0])
        return element if distance <= STAIR_REACH else None

    def doors(self, storey: ifcopenshell.entity_instance, floor: tuple[BaseGeometry, list, BaseGeometry],
              members: list[Element], ground: bool) -> None:
        area, spaces, _ = floor
        building = self.building_of(storey)
        for door in (e for e in members if e.ifc_class.startswith("IfcDoor")):
            centre, along, length, depth = _door_axes(door.footprint)
            normal = np.array([-along[1], along[0]])
            reach = depth / 2 + PROBE_MARGIN
            probes = [Point(*(centre + normal * reach)), Point(*(centre - normal * reach))]
            if spaces:
                found = [self.space_at(p, spaces) for p in probes]
                inside = [f is not None for f in found]  # the modelled interior is its spaces
            else:
                found = [None, None]
                inside = [area.covers(p) for p in probes]
            width = door.attributes.get("width") or round(length, 3)
            half = along * float(width) / 2
            line = LineString([centre - half, centre + half])
            if not any(inside):
                self.result.warnings.append(f"door {door.guid} touches no walkable area; not linked")
                continue
            outside = not all(inside)
            kind = "exit" if outside and ground else "door"
            a, b = (found[0], found[1]) if inside[0] else (found[1], found[0])
            self.result.connections.append(Connection(
                self.oid(door.guid), (self.oid(building.GlobalId) if building is not None else ""), kind,
                self.oid(storey.GlobalId), None, self.oid(a.guid) if a else None,
                None if outside else (self.oid(b.guid) if b else None), round(float(width), 3),
                self.lonlat(line),
                {"name": door.name, "leads_outside": outside, "depth": round(depth, 3)}))

    def stairs(self, levels: list[tuple[ifcopenshell.entity_instance, float]],
               floors: dict[ifcopenshell.entity_instance, tuple[BaseGeometry, list, BaseGeometry]]) -> None:
        groups: dict[str, list[Element]] = {}
        for element in self.elements:
            if element.vertices is None:
                continue
            if element.ifc_class in FLIGHT_CLASSES:
                parent = self.semantics.parent.get(self.model.by_guid(element.guid).id())
                key = parent.GlobalId if parent is not None and parent.is_a() in STAIR_CLASSES else element.guid
            else:
                key = element.guid
            groups.setdefault(key, []).append(element)
        for key, members in sorted(groups.items()):
            points = np.concatenate([m.vertices for m in members if m.vertices is not None])
            zlo, zhi = float(points[:, 2].min()), float(points[:, 2].max())
            foot = points[points[:, 2] <= zlo + 0.3][:, :2].mean(axis=0)
            head = points[points[:, 2] >= zhi - 0.3][:, :2].mean(axis=0)
            below = min(levels, key=lambda lv: abs(lv[1] - zlo))[0]
            above = min(levels, key=lambda lv: abs(lv[1] - zhi))[0]
            if below == above:
                self.result.warnings.append(f"stair {key} does not reach another storey; not linked")
                continue
            start = self.space_near(Point(*foot), floors[below][1]) if below in floors else None
            end = self.space_near(Point(*head), floors[above][1]) if above in floors else None
            building = self.building_of(below)
            stair = self.model.by_guid(key)
            line = LineString([foot, head])
            run = float(np.hypot(*(head - foot)))
            self.result.connections.append(Connection(
                self.oid(key), (self.oid(building.GlobalId) if building is not None else ""), "stair",
                self.oid(below.GlobalId), self.oid(above.GlobalId), self.oid(start.guid) if start else None,
                self.oid(end.guid) if end else None, _stair_width(members), self.lonlat(line),
                {"name": getattr(stair, "Name", None), "rise": round(zhi - zlo, 3), "run": round(run, 3),
                 "slope_deg": round(math.degrees(math.atan2(zhi - zlo, max(run, 1e-6))), 1)}))


def _stair_width(members: list[Element]) -> float | None:
    widths = [_door_axes(m.footprint)[3] for m in members if m.footprint.area > 0]
    return round(min(widths), 3) if widths else None


def walkable_floors(elements: list[Element], model: ifcopenshell.file, semantics: Semantics, georef: Georef,
                    dataset: str) -> Floors:
    """Walkable areas per storey, doors, exits and stairs (see the module docstring)."""
    return _Analysis(elements, model, semantics, georef, dataset).run()
