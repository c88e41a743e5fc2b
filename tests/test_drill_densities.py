"""Peak densities per storey with PedPy, against a case worked by hand: a 4 × 2 m room, four people in its left
half at the first frame, two left at the second, and the stair and the outside not counted."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from scenes.drills.densities import PositionLog, StoreyArea, peak_densities

ROOM = box(0, 0, 4, 2)  # 8 m²
HALL = box(4, 0, 10, 2)


def two_frames() -> PositionLog:
    log = PositionLog()
    # t = 0: a 2 × 2 block with 1 m spacing in the left corner of the room
    log.add(0.0, [0, 1, 2, 3], [0.5, 1.5, 0.5, 1.5], [0.5, 0.5, 1.5, 1.5], ["g"] * 4)
    # t = 2: two have left (one onto the stair of the upper storey, one out); two stand far apart
    log.add(2.0, [0, 1, 2, 3], [0.5, 3.5, 50.0, 2.0], [0.5, 1.5, 50.0, 1.0], ["g", "g", "g", "up"])
    return log


def test_the_voronoi_and_classic_peaks_are_the_ones_worked_by_hand() -> None:
    """At t = 0 the Voronoi cells of the block, clipped to the room, are the left column's 1 × 1 m squares (1 per
    m²) and the right column's 3 × 1 m strips (1/3); at t = 2 the two left split the room in halves (4 m², 0.25).
    Classic: 4 people / 8 m² = 0.5 at t = 0, 2 / 8 = 0.25 at t = 2. Someone at (50, 50) lies on no walkable part
    and counts nowhere."""
    areas = [StoreyArea("g", (ROOM,), {"room": ROOM}), StoreyArea("up", (HALL,), {"hall": HALL})]
    peaks = peak_densities(areas, two_frames(), frame_interval_s=2.0)
    ground = peaks["g"]
    assert ground["voronoi"] == {"per_m2": pytest.approx(1.0), "at_s": 0.0, "person": 0, "x": 0.5, "y": 0.5,
                                 "space": "room"}
    assert ground["classic"] == {"per_m2": pytest.approx(0.5), "at_s": 0.0, "space": "room"}
    assert peaks["up"] == {"voronoi": None, "classic": None}  # (2, 1) is not in the hall


def test_a_later_crowd_is_the_peak_and_a_lone_person_fills_the_room() -> None:
    log = PositionLog()
    log.add(0.0, [0], [1.0], [1.0], ["g"])  # alone: the whole room is their cell, 1/8
    log.add(1.0, [0, 1, 2, 3, 4, 5, 6, 7], [0.5, 1.5, 2.5, 3.5] * 2, [0.5] * 4 + [1.5] * 4, ["g"] * 8)
    peaks = peak_densities([StoreyArea("g", (ROOM,), {"room": ROOM})], log, frame_interval_s=1.0)["g"]
    assert peaks["voronoi"]["per_m2"] == pytest.approx(1.0) and peaks["voronoi"]["at_s"] == 1.0
    assert peaks["classic"] == {"per_m2": pytest.approx(1.0), "at_s": 1.0, "space": "room"}
    alone = PositionLog()
    alone.add(0.0, [0], [1.0], [1.0], ["g"])
    lone = peak_densities([StoreyArea("g", (ROOM,), {"room": ROOM})], alone, 1.0)["g"]
    assert lone["voronoi"]["per_m2"] == pytest.approx(1 / 8) and lone["classic"]["per_m2"] == pytest.approx(1 / 8)


def test_a_space_that_is_not_convex_gets_no_classic_density_but_its_people_their_voronoi_cells() -> None:
    ell = box(0, 0, 4, 2).union(box(0, 2, 2, 4))  # 12 m², not convex
    log = PositionLog()
    log.add(0.0, [0, 1], [1.0, 3.0], [1.0, 1.0], ["g", "g"])
    peaks = peak_densities([StoreyArea("g", (ell,), {"ell": ell})], log, 1.0)["g"]
    assert peaks["classic"] is None
    assert peaks["voronoi"]["space"] == "ell" and peaks["voronoi"]["per_m2"] > 1 / 12
