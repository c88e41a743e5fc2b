"""The building a drill runs in: the walkable floors document (`twin.buildings.read_floors`) projected into a
local metric frame — an azimuthal equidistant projection (pyproj, WGS84) centred on the building, x east, y north,
metres — with its storeys, spaces, doors, exits and stairs, checked so that a building nobody can leave is refused
with a precise `PlanError`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from scenes.drills.errors import PlanError

DEFAULT_DOOR_WIDTH = 0.9  # metres, when a door or exit carries no width
DEFAULT_STAIR_WIDTH = 1.0
DEFAULT_DEPTH = 0.2


@dataclass(frozen=True)
class Storey:
    id: str
    name: str | None
    ordinal: int
    elevation: float  # metres, relative to the project
    height: float  # metres above the ellipsoid
    walkable: MultiPolygon  # local metres


@dataclass(frozen=True)
class Space:
    id: str
    storey: str
    name: str | None
    polygon: Polygon  # local metres
    area: float  # m²


@dataclass(frozen=True)
class Door:
    id: str
    storey: str
    from_space: str
    to_space: str
    width: float
    depth: float
    line: LineString  # across the opening, local metres


@dataclass(frozen=True)
class Exit:
    id: str
    storey: str
    from_space: str
    width: float
    depth: float
    line: LineString


@dataclass(frozen=True)
class Stair:
    id: str
    from_storey: str  # the storey at its foot
    from_space: str
    to_storey: str  # the storey at its head
    to_space: str
    width: float
    rise: float  # metres
    run: float  # metres in plan from foot to head
    line: LineString  # foot → head, local metres


def _local_frame(lon: float, lat: float) -> tuple[Transformer, Transformer]:
    aeqd = f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m +no_defs"
    return (Transformer.from_crs("EPSG:4326", aeqd, always_xy=True),
            Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True))


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) and value > 0 else default


class BuildingSite:
    """Storeys, spaces, doors, exits and stairs of one building in its local frame (see the module docstring)."""

    def __init__(self, building: str, centre: tuple[float, float], storeys: Iterable[Storey],
                 spaces: Iterable[Space], doors: Iterable[Door], exits: Iterable[Exit], stairs: Iterable[Stair],
                 warnings: Iterable[str] = ()) -> None:
        self.building = building
        self.centre = centre  # lon, lat of the local origin
        self._forward, self._inverse = _local_frame(*centre)
        self.storeys = tuple(sorted(storeys, key=lambda s: s.ordinal))
        self.spaces = {s.id: s for s in spaces}
        self.doors = {d.id: d for d in doors}
        self.exits = {e.id: e for e in exits}
        self.stairs = {s.id: s for s in stairs}
        self.warnings = tuple(warnings)
        self.storey_by_id = {s.id: s for s in self.storeys}
        if not self.exits:
            raise PlanError(f"building {building!r} has no exits: no door of its lowest storey leads outside",
                            "building")

    @classmethod
    def from_floors(cls, document: Mapping[str, Any]) -> BuildingSite:
        """The site of a read_floors document; PlanError when it is malformed or the building has no exits."""
        return _read(document)

    def storey(self, storey_id: str) -> Storey:
        if storey_id not in self.storey_by_id:
            raise PlanError(f"unknown storey {storey_id!r} in building {self.building!r}", "storey")
        return self.storey_by_id[storey_id]

    def space(self, space_id: str) -> Space:
        if space_id not in self.spaces:
            raise PlanError(f"unknown space {space_id!r} in building {self.building!r}", "space")
        return self.spaces[space_id]

    def exit(self, exit_id: str) -> Exit:
        if exit_id not in self.exits:
            raise PlanError(f"unknown exit {exit_id!r} in building {self.building!r} (its exits: "
                            f"{', '.join(sorted(self.exits))})", "exit")
        return self.exits[exit_id]

    def stair(self, stair_id: str) -> Stair:
        if stair_id not in self.stairs:
            raise PlanError(f"unknown stair {stair_id!r} in building {self.building!r}", "stair")
        return self.stairs[stair_id]

    def spaces_of(self, storey_id: str) -> list[Space]:
        return [s for s in self.spaces.values() if s.storey == storey_id]

    def to_lonlat(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Local metres → (lon, lat) degrees; scalars or numpy arrays."""
        return self._inverse.transform(x, y)

    def from_lonlat(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        """(lon, lat) degrees → local metres; scalars or numpy arrays."""
        return self._forward.transform(lon, lat)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: _stack(self._forward.transform(xy[:, 0], xy[:, 1])))


def _stack(pair: tuple[Any, Any]) -> Any:
    return np.column_stack(pair)


def _polygonal(geometry: BaseGeometry) -> MultiPolygon:
    geometry = shapely.make_valid(geometry) if not geometry.is_valid else geometry
    return MultiPolygon([g for g in shapely.get_parts(geometry) if isinstance(g, Polygon) and not g.is_empty])


def _read(document: Mapping[str, Any]) -> BuildingSite:
    floors = document.get("floors") if isinstance(document, Mapping) else None
    if not isinstance(floors, list) or not floors:
        raise PlanError("the building has no walkable floors", "floors")
    building = str(document.get("building") or "")
    parsed: list[tuple[int, Mapping[str, Any], list[tuple[str, Mapping[str, Any], BaseGeometry]]]] = []
    bounds: list[tuple[float, float, float, float]] = []
    for i, floor in enumerate(floors):
        if not isinstance(floor, Mapping) or not isinstance(floor.get("features"), list):
            raise PlanError("a storey is a FeatureCollection with features", f"floors[{i}]")
        for key in ("storey", "ordinal"):
            if floor.get(key) is None:
                raise PlanError(f"the storey has no {key}", f"floors[{i}].{key}")
        features = []
        for j, feature in enumerate(floor["features"]):
            where = f"floors[{i}].features[{j}]"
            try:
                properties, geometry = feature["properties"], shape(feature["geometry"])
                kind = str(properties["kind"])
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise PlanError(f"not a floors feature (kind, geometry): {error}", where) from None
            features.append((kind, feature, geometry))
            if not geometry.is_empty:
                bounds.append(geometry.bounds)
        parsed.append((i, floor, features))
    if not bounds:
        raise PlanError("the building's floors have no geometry", "floors")
    lon = (min(b[0] for b in bounds) + max(b[2] for b in bounds)) / 2
    lat = (min(b[1] for b in bounds) + max(b[3] for b in bounds)) / 2
    forward, _ = _local_frame(lon, lat)

    def local(geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: _stack(forward.transform(xy[:, 0], xy[:, 1])))

    storeys: list[Storey] = []
    spaces: list[Space] = []
    doors: dict[str, Door] = {}
    exits: dict[str, Exit] = {}
    stairs: dict[str, Stair] = {}
    warnings: list[str] = []
    for _, floor, features in parsed:
        storey_id = str(floor["storey"])
        walkable = [local(g) for kind, _, g in features if kind == "walkable"]
        storeys.append(Storey(storey_id, floor.get("name"), int(floor["ordinal"]), float(floor.get("elevation") or 0),
                              float(floor.get("height") or 0), _polygonal(shapely.union_all(walkable))))
        for kind, feature, geometry in features:
            fid = str(feature.get("id") or "")
            p = feature["properties"]
            if kind == "space":
                polygon = max(_polygonal(local(geometry)).geoms, key=lambda g: g.area, default=None)
                if polygon is not None and fid:
                    spaces.append(Space(fid, storey_id, p.get("name"), polygon, float(polygon.area)))
            elif kind in ("door", "exit", "stair") and fid:
                line = local(geometry)
                if kind == "stair" and (not isinstance(line, LineString) or line.is_empty or line.length <= 0):
                    line = LineString()  # rises in place: its foot and head collapsed to nothing; placed below
                elif not isinstance(line, LineString) or line.length <= 0:
                    warnings.append(f"{kind} {fid} has no line; left out")
                    continue
                _connection(kind, fid, p, line, storey_id, doors, exits, stairs, warnings)
    known = {s.id for s in spaces}
    for collection in (doors, exits, stairs):
        for cid, item in list(collection.items()):
            ends = [getattr(item, k) for k in ("from_space", "to_space") if hasattr(item, k)]
            if any(e not in known for e in ends):
                warnings.append(f"{cid} leads to a space the floors do not hold; left out")
                del collection[cid]
    by_id = {s.id: s for s in spaces}
    for sid, stair in list(stairs.items()):
        if stair.line.is_empty:
            stairs[sid] = replace(stair, line=_in_place(by_id[stair.from_space].polygon, by_id[stair.to_space].polygon))
            warnings.append(f"stair {sid} has no position in plan; its landings stand where its two spaces overlap")
    storey_ids = {s.id for s in storeys}
    for sid, stair in list(stairs.items()):
        if stair.from_storey not in storey_ids or stair.to_storey not in storey_ids:
            warnings.append(f"stair {sid} leads to a storey the floors do not hold; left out")
            del stairs[sid]
    return BuildingSite(building, (lon, lat), storeys, spaces, doors.values(), exits.values(), stairs.values(),
                        warnings)


def _in_place(foot: Polygon, head: Polygon) -> LineString:
    """A stair rising in place, between the spaces at its foot and head: where they overlap in plan."""
    overlap = foot.intersection(head)
    point = overlap.representative_point() if overlap.area > 0.5 else foot.representative_point()
    return LineString([(point.x, point.y), (point.x, point.y)])


def _connection(kind: str, fid: str, p: Mapping[str, Any], line: LineString, storey_id: str,
                doors: dict[str, Door], exits: dict[str, Exit], stairs: dict[str, Stair], warnings: list[str]) -> None:
    width = _number(p.get("width"), DEFAULT_STAIR_WIDTH if kind == "stair" else DEFAULT_DOOR_WIDTH)
    from_space, to_space = p.get("from_space"), p.get("to_space")
    if kind == "stair":
        if fid in stairs:
            return
        if not from_space or not to_space or not p.get("to_storey"):
            warnings.append(f"stair {fid} does not link two spaces; left out")
            return
        rise = _number(p.get("rise"), 3.0)
        stairs[fid] = Stair(fid, str(p.get("storey") or storey_id), str(from_space), str(p["to_storey"]),
                            str(to_space), width, rise, float(p.get("run") or 0.0), line)
        return
    depth = _number(p.get("depth"), DEFAULT_DEPTH)
    if kind == "exit":
        if not from_space:
            warnings.append(f"exit {fid} opens from no space; left out")
            return
        exits[fid] = Exit(fid, storey_id, str(from_space), width, depth, line)
    elif from_space and to_space:
        doors[fid] = Door(fid, storey_id, str(from_space), str(to_space), width, depth, line)
    else:
        warnings.append(f"door {fid} does not link two spaces; left out")
