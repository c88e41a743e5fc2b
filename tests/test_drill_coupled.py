"""The coupled fire drill on the demo office building: smoke slows people (RSET with smoke above RSET without),
blocking the main exit raises RSET, FED grows only where smoke is, the same seed repeats frame for frame, and the
report carries each storey's peak densities (PedPy)."""

from __future__ import annotations

from typing import Any

import pytest

from scenes.demo_building import generate_building
from scenes.demo_district import GRID_ANGLE_DEG, park_centre
from scenes.demo_plans import fire_plan
from scenes.drills.building_parts import building_parts
from scenes.drills.coupled import Dispatch, Drill, build_drill
from scenes.drills.frames import encode_frame
from scenes.drills.plan import parse_plan
from scenes.drills.twin_data import TwinData
from tests.helpers.drill_floors import ifc_floors


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("office") / "office.ifc"
    generate_building(path, *park_centre(), grid_angle_deg=GRID_ANGLE_DEG)
    return ifc_floors(path, "office")


def run(drill: Drill) -> tuple[list[bytes], dict[str, Any]]:
    frames = []
    while (frame := drill.step()) is not None:
        frames.append(encode_frame(frame))
    return frames, drill.report()


def test_smoke_slows_people_so_rset_with_smoke_exceeds_rset_without(office: dict[str, Any]) -> None:
    document = fire_plan(office, None, None)
    document["fire"] = {"growth": "ultrafast", "peak_kw": 5000}
    for scheme in document["schemes"]:  # a meeting in the fire room, slow to react: they leave through its smoke
        scheme["evacuation"].update(density={}, occupants={document["incident"]["space"]: 40},
                                    premovement={"dist": "lognormal", "mean_s": 60, "sd_s": 20, "max_s": 120})
    plan = parse_plan(document)
    scheme, data = plan.scheme("all-exits"), TwinData(floors=office)
    _, smoky = run(Drill(plan, scheme, 4, building_parts(plan, scheme, 4, data), Dispatch(data)))
    _, clear = run(Drill(plan, scheme, 4, building_parts(plan, scheme, 4, data, smoke=False), Dispatch(data)))
    assert smoky["evacuation"]["rset_s"] > clear["evacuation"]["rset_s"]
    assert smoky["exposure"]["max_fed"] > 0 and clear["exposure"]["max_fed"] == 0
    assert smoky["smoke"]["first_untenable_s"]


def test_blocking_the_main_exit_at_60_s_raises_rset_and_the_same_seed_repeats_byte_for_byte(
        office: dict[str, Any]) -> None:
    plan = parse_plan(fire_plan(office, None, None))
    data = TwinData(floors=office)
    frames_a, open_exits = run(build_drill(plan, "all-exits", 8, data))
    _, blocked = run(build_drill(plan, "main-exit-blocked", 8, data))
    assert blocked["evacuation"]["rset_s"] > open_exits["evacuation"]["rset_s"]
    assert blocked["injects"][0]["applied"] and blocked["injects"][0]["at_s"] == 60
    assert run(build_drill(plan, "all-exits", 8, data))[0] == frames_a
    storeys = open_exits["evacuation"]["storeys"]  # 0.4 people per m² on the ground floor, 0.05 above
    ground = storeys[office["floors"][0]["storey"]]
    upper = [s for key, s in storeys.items() if key != office["floors"][0]["storey"] and s["people"]]
    assert ground["peak_density"]["classic"]["per_m2"] >= 0.3
    assert all(s["peak_density"]["classic"]["per_m2"] < ground["peak_density"]["classic"]["per_m2"] for s in upper)
    assert ground["peak_density"]["voronoi"]["per_m2"] >= ground["peak_density"]["classic"]["per_m2"]
    assert ground["peak_density"]["voronoi"]["space"] in {f.get("id") for f in office["floors"][0]["features"]}
    assert open_exits["evacuation"]["peak_density_per_m2"] == max(
        s["peak_density"]["voronoi"]["per_m2"] for s in storeys.values() if s["peak_density"]["voronoi"])
    assert run(build_drill(plan, "all-exits", 9, data))[0] != frames_a


def test_a_fire_in_a_space_the_building_lacks_is_refused(office: dict[str, Any]) -> None:
    from scenes.drills.errors import PlanError

    document = fire_plan(office, None, None)
    document["incident"]["space"] = "office.nowhere"
    with pytest.raises(PlanError, match="unknown space"):
        build_drill(parse_plan(document), "all-exits", 1, TwinData(floors=office))
