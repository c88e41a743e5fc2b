"""Who starts where: an evacuation spec checked against its building (every id known, every occupied space and
storey with a way out), the people per space, and their seeded positions in it."""

from __future__ import annotations

import math
from collections.abc import Callable

import jupedsim as jps
import numpy as np
from shapely.geometry import Polygon

from scenes.drills.errors import PlanError
from scenes.drills.evacuation_spec import EvacuationSpec
from scenes.drills.site import BuildingSite


def check_ids(site: BuildingSite, spec: EvacuationSpec) -> None:
    for space in sorted(spec.occupants):
        if space not in site.spaces:
            raise PlanError(f"unknown space {space!r} in building {site.building!r}", f"occupants.{space}")
    for storey in sorted(spec.density):
        if storey != "*" and storey not in site.storey_by_id:
            raise PlanError(f"unknown storey {storey!r} in building {site.building!r}", f"density.{storey}")
    for stair in spec.closed_stairs:
        if stair not in site.stairs:
            raise PlanError(f"unknown stair {stair!r} in building {site.building!r}", "closed_stairs")
    if not isinstance(spec.exits, str):
        for key, exit_id in sorted(spec.exits.items()):
            if key not in site.spaces and key not in site.storey_by_id:
                raise PlanError(f"{key!r} is neither a space nor a storey of building {site.building!r}",
                                f"exits.{key}")
            if exit_id not in site.exits:
                raise PlanError(f"unknown exit {exit_id!r} in building {site.building!r} (its exits: "
                                f"{', '.join(sorted(site.exits))})", f"exits.{key}")


def _storey_label(site: BuildingSite, storey_id: str) -> str:
    name = site.storey_by_id[storey_id].name
    return f"storey {name!r} ({storey_id})" if name else f"storey {storey_id!r}"


def _why_not(site: BuildingSite, storey_id: str, closed: tuple[str, ...]) -> str:
    stairs = sorted(s.id for s in site.stairs.values() if storey_id in (s.from_storey, s.to_storey))
    shut = [s for s in stairs if s in closed]
    if stairs and len(shut) == len(stairs):
        return f"its {'only stair' if len(stairs) == 1 else 'stairs'} {', '.join(shut)} closed"
    if not stairs and not any(e.storey == storey_id for e in site.exits.values()):
        return "no stair or exit serves it"
    return "no door, stair or exit connects its spaces to an exit"


def counts(site: BuildingSite, spec: EvacuationSpec, way_out: Callable[[str], float]) -> dict[str, int]:
    """People per space (sorted by space id); `way_out(space)` is its walking distance out (inf: none)."""
    result = {s: n for s, n in spec.occupants.items() if n > 0}
    for storey in site.storeys:
        density = spec.density.get(storey.id, spec.density.get("*"))
        if not density:
            continue
        where = f"density.{storey.id if storey.id in spec.density else '*'}"
        spaces = [s for s in site.spaces_of(storey.id) if math.isfinite(way_out(s.id))]
        if not spaces:
            raise PlanError(f"nobody can leave {_storey_label(site, storey.id)}: "
                            f"{_why_not(site, storey.id, spec.closed_stairs)}", where)
        areas = np.array([s.area for s in spaces])
        want = density * areas
        base = np.floor(want).astype(int)
        extra = round(float(want.sum())) - int(base.sum())
        for k in np.argsort(-(want - base), kind="stable")[:max(extra, 0)]:
            base[k] += 1
        for space, n in zip(spaces, base.tolist(), strict=True):
            if n:
                result[space.id] = result.get(space.id, 0) + n
    for space_id in sorted(result):
        if not math.isfinite(way_out(space_id)):
            storey_id = site.spaces[space_id].storey
            if not any(math.isfinite(way_out(s.id)) for s in site.spaces_of(storey_id)):
                raise PlanError(f"nobody can leave {_storey_label(site, storey_id)}: "
                                f"{_why_not(site, storey_id, spec.closed_stairs)}", f"occupants.{space_id}")
            raise PlanError(f"no way leads out of space {space_id!r} on {_storey_label(site, storey_id)} (no door "
                            "links it to the rest)", f"occupants.{space_id}")
    return dict(sorted(result.items()))


def place(polygon: Polygon, n: int, radius: float, seed: int, where: str, label: str) -> list[tuple[float, float]]:
    """`n` seeded positions in `polygon`, apart by a body width and off its walls."""
    try:
        points = jps.distribute_by_number(polygon=polygon, number_of_agents=n, distance_to_agents=2 * radius + 0.1,
                                          distance_to_polygon=radius + 0.1, seed=seed, max_iterations=20_000)
    except Exception as error:  # AgentNumberError and geometry errors alike: the space cannot hold them
        raise PlanError(f"{label} ({polygon.area:.1f} m²) cannot hold {n} people: {error}", where) from None
    return [(float(x), float(y)) for x, y in points]
