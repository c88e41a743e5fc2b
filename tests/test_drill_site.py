"""The drill's building site: the floors document of real IFC files in a local metric frame, walkable parts joined
through doors, walking distances over the door/stair graph, and precise errors for buildings nobody can leave."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Point

from scenes.drills.errors import PlanError
from scenes.drills.evacuation import Evacuation, EvacuationSpec
from scenes.drills.evacuation_spec import Distribution
from scenes.drills.site import BuildingSite
from scenes.drills.walkable_plane import storey_parts
from tests.helpers.data import shared_data
from tests.helpers.drill_floors import ifc_floors

FZK, DUPLEX = "ifc/AC20-FZK-Haus.ifc", "ifc/Duplex_A_20110907.ifc"
LON0, LAT0 = 13.40, 52.52
M_LAT = 111_320.0
M_LON = M_LAT * math.cos(math.radians(LAT0))


@pytest.fixture(scope="module")
def fzk() -> dict[str, Any]:
    return ifc_floors(shared_data(FZK), "fzk")


@pytest.fixture(scope="module")
def duplex() -> dict[str, Any]:
    return ifc_floors(shared_data(DUPLEX), "duplex")


def _lonlat(x: float, y: float) -> list[float]:
    return [LON0 + x / M_LON, LAT0 + y / M_LAT]


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [_lonlat(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
    return {"type": "Polygon", "coordinates": [ring]}


def _line(a: tuple[float, float], b: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [_lonlat(*a), _lonlat(*b)]}


def corridor_building() -> dict[str, Any]:
    """A 20 m corridor with an exit at each end and a long room beside it whose only door is near the east end:
    from the room's west end the west exit is nearest in a straight line, the east one by walking."""
    def feature(fid: str, geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
        return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}

    features = [
        feature("w", _box(0, 0, 20, 6), kind="walkable"),
        feature("corridor", _box(0, 0, 20, 2), kind="space", name="Corridor"),
        feature("room", _box(0, 2.3, 20, 6), kind="space", name="Room"),
        feature("door", _line((17.5, 2.15), (18.5, 2.15)), kind="door", from_space="room", to_space="corridor",
                width=1.0, depth=0.3),
        feature("west", _line((-0.15, 0.5), (-0.15, 1.5)), kind="exit", from_space="corridor", width=1.0,
                depth=0.3),
        feature("east", _line((20.15, 0.5), (20.15, 1.5)), kind="exit", from_space="corridor", width=1.0,
                depth=0.3),
    ]
    return {"building": "b", "floors": [{"type": "FeatureCollection", "storey": "ground", "name": "Ground",
                                         "ordinal": 0, "elevation": 0.0, "height": 40.0, "features": features}]}


def test_fzk_site_holds_its_storeys_spaces_doors_exits_and_stair_in_metres(fzk: dict[str, Any]) -> None:
    site = BuildingSite.from_floors(fzk)
    assert [s.name for s in site.storeys] == ["Erdgeschoss", "Dachgeschoss"]
    assert (len(site.spaces), len(site.doors), len(site.exits), len(site.stairs)) == (7, 3, 2, 1)
    areas = {f["id"]: f["properties"]["area"] for floor in fzk["floors"] for f in floor["features"]
             if f["properties"]["kind"] == "space"}
    for space in site.spaces.values():
        assert space.area == pytest.approx(areas[space.id], rel=0.01)
    stair = next(iter(site.stairs.values()))
    assert stair.from_storey == site.storeys[0].id and stair.to_storey == site.storeys[1].id
    assert stair.rise == pytest.approx(3.56) and 0.6 < stair.width < 1.5
    x, y = site.storeys[0].walkable.centroid.coords[0]
    assert math.hypot(x, y) < 10  # the frame is centred on the building


def test_local_metres_go_back_to_the_lon_lat_they_came_from(duplex: dict[str, Any]) -> None:
    site = BuildingSite.from_floors(duplex)
    lon, lat = site.to_lonlat(np.array([0.0, 10.0]), np.array([0.0, -5.0]))
    x, y = site.from_lonlat(lon, lat)
    assert np.allclose(x, [0.0, 10.0], atol=1e-6) and np.allclose(y, [0.0, -5.0], atol=1e-6)
    assert site.to_lonlat(0.0, 0.0) == pytest.approx(site.centre)


def test_a_storeys_spaces_join_through_their_doors_into_one_walkable_part(fzk: dict[str, Any],
                                                                          duplex: dict[str, Any]) -> None:
    site = BuildingSite.from_floors(fzk)
    ground = storey_parts(site, site.storeys[0].id, 0)
    assert len(ground) == 1 and len(ground[0].spaces) == 6
    assert ground[0].polygon.area > sum(s.area for s in site.spaces_of(site.storeys[0].id))
    twin_houses = BuildingSite.from_floors(duplex)
    level1 = storey_parts(twin_houses, twin_houses.storeys[0].id, 0)
    assert [len(p.spaces) for p in level1] == [5, 5]  # the two dwellings of the duplex share no door


def test_a_building_without_exits_is_refused(fzk: dict[str, Any]) -> None:
    document = copy.deepcopy(fzk)
    for floor in document["floors"]:
        floor["features"] = [f for f in floor["features"] if f["properties"]["kind"] != "exit"]
    with pytest.raises(PlanError, match="has no exits: no door of its lowest storey leads outside"):
        BuildingSite.from_floors(document)


def test_a_malformed_feature_is_named_by_its_place_in_the_document(fzk: dict[str, Any]) -> None:
    document = copy.deepcopy(fzk)
    del document["floors"][0]["features"][2]["geometry"]
    with pytest.raises(PlanError) as error:
        BuildingSite.from_floors(document)
    assert error.value.where == "floors[0].features[2]"
    with pytest.raises(PlanError, match="no walkable floors"):
        BuildingSite.from_floors({"building": "x", "floors": []})


def test_unknown_ids_are_refused_with_the_known_ones_named(fzk: dict[str, Any]) -> None:
    site = BuildingSite.from_floors(fzk)
    with pytest.raises(PlanError, match="unknown exit 'nope'.*its exits: fzk"):
        site.exit("nope")
    with pytest.raises(PlanError, match="unknown space 'nope'"):
        site.space("nope")
    with pytest.raises(PlanError, match="unknown stair 'nope'"):
        site.stair("nope")


def test_the_nearest_exit_is_nearest_by_walking_not_in_a_straight_line() -> None:
    site = BuildingSite.from_floors(corridor_building())
    spec = EvacuationSpec(occupants={"room": 6}, premovement=Distribution("fixed", 1.0))
    evacuation = Evacuation(site, spec, seed=3)
    start = evacuation.people()
    west, east = (site.exits[e].line.centroid for e in ("west", "east"))
    west_end = site.spaces["room"].polygon.bounds[0] + 8
    near_west = [Point(x, y) for x, y in zip(start.x, start.y, strict=True) if x < west_end]
    assert near_west and all(p.distance(west) < p.distance(east) for p in near_west)  # nearer west as the crow
    # flies...
    evacuation.advance(120)
    result = evacuation.result()
    assert evacuation.finished and result.exits["east"]["people"] == 6  # ...yet everyone walks out east
