"""The floor people walk on, per storey, as JuPedSim needs it: one connected polygon per part of the storey.

A storey's spaces are joined by their door openings — each door line buffered to its width along and to its
depth plus `REACH` on either side across, so that it bridges the wall between the two spaces — and each exit gets
an apron `APRON` metres deep outside its wall, whose outer half is the exit's stage (a convex rectangle, as
JuPedSim's exit stages must be). Spaces that touch are open to each other already. The union is closed over gaps
under `CLOSE` (floating seams between spaces), its slivers and pin-holes dropped; holes (columns, shafts) stay.
Each connected part is one JuPedSim simulation (`scenes.drills.evacuation` says why storeys are apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from scenes.drills.site import BuildingSite, Exit, Stair

REACH = 0.5  # metres beyond the door leaf on either side, into the spaces it links
APRON = 1.2  # metres outside an exit's wall that agents walk onto before they count as out
CLOSE = 0.02  # metres: seams narrower than twice this are closed
MIN_PART = 0.5  # m²: parts and holes smaller than this are slivers
LANDING_INSET = 0.35  # metres from a space's edge to where a stair's users enter and leave it


@dataclass(frozen=True)
class Part:
    """One connected walkable polygon of a storey and the spaces in it."""

    index: int
    storey: str
    polygon: Polygon
    spaces: tuple[str, ...]


def _axes(line: LineString) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a, b = np.asarray(line.coords[0]), np.asarray(line.coords[-1])
    along = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
    return (a + b) / 2, along


def rectangle(centre: NDArray[np.float64], along: NDArray[np.float64], half_width: float, near: float,
              far: float) -> Polygon:
    """The rectangle ±half_width along `along`, from `near` to `far` along its normal (left of `along`)."""
    normal = np.array([-along[1], along[0]])
    corners = [centre + along * s * half_width + normal * d for s, d in ((-1, near), (1, near), (1, far), (-1, far))]
    return Polygon(corners)


def door_opening(line: LineString, width: float, depth: float) -> Polygon:
    centre, along = _axes(line)
    reach = depth / 2 + REACH
    return rectangle(centre, along, width / 2, -reach, reach)


def _outward(exit_: Exit, site: BuildingSite) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Centre, unit vector along the exit's line, and +1 or -1: the side of its normal that is outside."""
    centre, along = _axes(exit_.line)
    normal = np.array([-along[1], along[0]])
    space = site.spaces[exit_.from_space].polygon
    probe = exit_.depth / 2 + REACH
    inside_plus = space.distance(Point(*(centre + normal * probe)))
    inside_minus = space.distance(Point(*(centre - normal * probe)))
    return centre, along, (1.0 if inside_plus > inside_minus else -1.0)


def exit_opening(exit_: Exit, site: BuildingSite) -> tuple[Polygon, Polygon]:
    """The exit's opening with its apron outside, and its stage: the outer half of the apron."""
    centre, along, side = _outward(exit_, site)
    reach = exit_.depth / 2 + REACH
    far = reach + APRON
    opening = rectangle(centre, along * side, exit_.width / 2, -reach, far)
    stage = rectangle(centre, along * side, exit_.width / 2, reach + APRON / 2, far)
    return opening, stage


def _clean(geometry: BaseGeometry) -> list[Polygon]:
    closed = geometry.buffer(CLOSE, join_style="mitre").buffer(-CLOSE, join_style="mitre")
    closed = shapely.make_valid(closed) if not closed.is_valid else closed
    parts = []
    for polygon in shapely.get_parts(closed):
        if not isinstance(polygon, Polygon) or polygon.area < MIN_PART:
            continue
        holes = [h for h in polygon.interiors if Polygon(h).area >= MIN_PART]
        parts.append(Polygon(polygon.exterior, holes).simplify(0.005))
    return sorted(parts, key=lambda p: (-p.area, p.bounds))


def storey_parts(site: BuildingSite, storey_id: str, first_index: int) -> list[Part]:
    """The connected walkable parts of one storey (largest first), numbered from `first_index`."""
    pieces: list[BaseGeometry] = [s.polygon for s in site.spaces_of(storey_id)]
    pieces += [door_opening(d.line, d.width, d.depth) for d in site.doors.values() if d.storey == storey_id]
    pieces += [exit_opening(e, site)[0] for e in site.exits.values() if e.storey == storey_id]
    if not pieces:
        return []
    parts = []
    for k, polygon in enumerate(_clean(shapely.union_all(pieces))):
        inside = tuple(s.id for s in site.spaces_of(storey_id)
                       if polygon.covers(s.polygon.representative_point()))
        parts.append(Part(first_index + k, storey_id, polygon, inside))
    return parts


def landing(stair: Stair, site: BuildingSite, at_head: bool, part: Polygon) -> Point:
    """Where a stair's users step on and off it on one storey: its end, moved into its space by LANDING_INSET."""
    end = Point(stair.line.coords[-1] if at_head else stair.line.coords[0])
    space = site.spaces[stair.to_space if at_head else stair.from_space].polygon
    area = space.intersection(part)
    area = area if not area.is_empty else part
    inner = area.buffer(-LANDING_INSET)
    target = inner if not inner.is_empty else area
    if target.covers(end):
        return end
    nearest = nearest_points(target, end)[0]
    return Point(nearest.x, nearest.y)


def landing_stage(point: Point, width: float, part: Polygon) -> Polygon:
    """A convex square around a landing point, at most the stair's width, kept inside the walkable part."""
    half = max(min(width, 1.2), 0.6) / 2
    square = shapely.box(point.x - half, point.y - half, point.x + half, point.y + half)
    for _ in range(4):
        if part.covers(square):
            return square
        half *= 0.7
        square = shapely.box(point.x - half, point.y - half, point.x + half, point.y + half)
    return square


def multipolygon(parts: list[Part]) -> MultiPolygon:
    return MultiPolygon([p.polygon for p in parts])

