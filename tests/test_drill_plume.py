"""The gas plume over time: the analytical Gaussian with ground reflection at sample points, Briggs' σ for every
class and terrain, the front at the wind speed, nested zones traced from the closed form, the evacuation zone and
the objects it reaches, a wind change re-forming the plume, a release that stops, bad inputs refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from shapely.geometry import Point, box

from scenes.drills.errors import PlanError
from scenes.drills.plume import GASES, GaussianPlume, sigmas

# Briggs (1973) as in Hanna, Briggs and Hosker (1982), written out here apart from the module's table
BRIGGS = {
    "open": {"A": (lambda x: 0.22 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.20 * x),
             "B": (lambda x: 0.16 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.12 * x),
             "C": (lambda x: 0.11 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.08 * x / math.sqrt(1 + 2e-4 * x)),
             "D": (lambda x: 0.08 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.06 * x / math.sqrt(1 + 1.5e-3 * x)),
             "E": (lambda x: 0.06 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.03 * x / (1 + 3e-4 * x)),
             "F": (lambda x: 0.04 * x / math.sqrt(1 + 1e-4 * x), lambda x: 0.016 * x / (1 + 3e-4 * x))},
    "urban": {"A": (lambda x: 0.32 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.24 * x * math.sqrt(1 + 1e-3 * x)),
              "B": (lambda x: 0.32 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.24 * x * math.sqrt(1 + 1e-3 * x)),
              "C": (lambda x: 0.22 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.20 * x),
              "D": (lambda x: 0.16 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.14 * x / math.sqrt(1 + 3e-4 * x)),
              "E": (lambda x: 0.11 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.08 * x / math.sqrt(1 + 1.5e-3 * x)),
              "F": (lambda x: 0.11 * x / math.sqrt(1 + 4e-4 * x), lambda x: 0.08 * x / math.sqrt(1 + 1.5e-3 * x))},
}


def gaussian(q: float, u: float, x: float, y: float, z: float, h: float, stability: str, terrain: str) -> float:
    sy, sz = BRIGGS[terrain][stability][0](x), BRIGGS[terrain][stability][1](x)
    return q / (2 * math.pi * u * sy * sz) * math.exp(-y * y / (2 * sy * sy)) * (
        math.exp(-(z - h) ** 2 / (2 * sz * sz)) + math.exp(-(z + h) ** 2 / (2 * sz * sz)))


@pytest.mark.parametrize("terrain", ["open", "urban"])
@pytest.mark.parametrize("stability", list("ABCDEF"))
def test_sigmas_are_briggs_formulas_at_sample_distances(stability: str, terrain: str) -> None:
    xs = [10.0, 100.0, 500.0, 2000.0, 10_000.0]
    sy, sz = sigmas(np.array(xs), stability, terrain)
    for x, a, b in zip(xs, sy, sz, strict=True):
        assert a == pytest.approx(BRIGGS[terrain][stability][0](x), rel=1e-12)
        assert b == pytest.approx(BRIGGS[terrain][stability][1](x), rel=1e-12)


@pytest.mark.parametrize(("stability", "terrain", "height"), [("A", "open", 0.0), ("D", "open", 5.0),
                                                              ("F", "open", 2.0), ("D", "urban", 10.0)])
def test_the_concentration_equals_the_analytical_gaussian_at_sample_points(stability: str, terrain: str,
                                                                           height: float) -> None:
    plume = GaussianPlume("ammonia", 2.5, height, 4.0, 270.0, stability, terrain=terrain, source=(100.0, -50.0))
    plume.advance(3600)  # the front is 14.4 km out
    for x, y, z in [(50, 0, 1.5), (200, 15, 0.0), (800, -40, 1.5), (1500, 120, 3.0), (5000, -300, 1.5)]:
        # west wind: downwind is east, crosswind y is north
        expected = gaussian(2.5, 4.0, x, y, z, height, stability, terrain)
        got = float(plume.concentration(100.0 + x, -50.0 + y, z)[()])
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (x, y, z)
    ppm = float(plume.ppm(100.0 + 300, -50.0)[()])
    assert ppm == pytest.approx(gaussian(2.5, 4.0, 300, 0, 1.5, height, stability, terrain) * 1e3 / 17.03
                                * 24.45e-3 * 1e6, rel=1e-9)


def test_the_wind_direction_is_where_it_blows_from() -> None:
    plume = GaussianPlume("chlorine", 1.0, 1.0, 3.0, 0.0, "D")  # a north wind: the gas goes south
    plume.advance(600)
    assert plume.ppm(0, -300) > 0 and plume.ppm(0, 300) == 0 and plume.ppm(300, 0) < 1e-12


def test_no_gas_lies_beyond_the_front_which_moves_at_the_wind_speed() -> None:
    plume = GaussianPlume("propane", 1.0, 1.0, 2.0, 270.0, "D", start_s=60.0)
    plume.advance(30)
    assert plume.ppm(10, 0) == 0 and plume.front_m() == 0
    plume.advance(160)  # 100 s of release: the front at 200 m
    assert plume.front_m() == pytest.approx(200.0)
    assert plume.ppm(199, 0) > 0 and plume.ppm(201, 0) == 0
    assert all(z.area.bounds[2] <= 200.0 + 1e-6 for z in plume.zones() if not z.area.is_empty)


def test_higher_thresholds_lie_inside_lower_ones_and_points_inside_reach_the_threshold() -> None:
    plume = GaussianPlume("hydrogen_sulphide", 3.0, 1.0, 2.5, 225.0, "E", terrain="urban")
    plume.advance(1200)
    zones = plume.zones()
    assert [z.label for z in zones] == ["AEGL-2 60 min", "IDLH", "10 % LEL"]
    for lower, higher in itertools.pairwise(zones):
        assert not higher.area.is_empty and lower.area.buffer(1e-6).contains(higher.area)
        assert lower.area.area > higher.area.area
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = zones[0].area.bounds
    xs, ys = rng.uniform(minx, maxx, 400), rng.uniform(miny, maxy, 400)
    ppm = plume.ppm(xs, ys)
    inside = np.array([zones[0].area.contains(Point(x, y)) for x, y in zip(xs, ys, strict=True)])
    clear = np.abs(ppm / zones[0].ppm - 1) > 0.05  # away from the edge, where sampling may differ
    assert np.array_equal(inside[clear], ppm[clear] >= zones[0].ppm)


def test_the_evacuation_zone_is_the_lowest_zone_widened_and_lists_the_objects_it_reaches() -> None:
    plume = GaussianPlume("chlorine", 1.0, 2.0, 3.0, 270.0, "D", margin_m=100.0)
    plume.advance(900)
    zones = plume.zones()
    evacuation = plume.evacuation_zone(zones)
    assert evacuation.contains(zones[0].area) and evacuation.area > zones[0].area.area
    reach = zones[0].area.bounds[2]
    objects = {"near": box(200, -5, 220, 5), "edge": Point(reach + 50, 0), "upwind": box(-400, -10, -380, 10),
               "far": Point(reach + 500, 0)}
    hit = plume.affected(objects, zones)
    assert hit["AEGL-2 60 min"] == ["near"] and hit["evacuation"] == ["edge", "near"]
    assert "upwind" not in hit["evacuation"] and "far" not in hit["evacuation"]


def test_a_wind_change_re_forms_the_plume_along_the_new_wind_and_the_old_cloud_drifts_off() -> None:
    plume = GaussianPlume("ammonia", 2.0, 1.0, 3.0, 270.0, "D")  # going east
    plume.advance(600)
    east_before = float(plume.ppm(300, 0)[()])
    plume.set_wind(3.0, 180.0, at_s=600)  # from the south: going north
    plume.advance(700)  # 100 s later: a new plume 300 m north, the old one 300 m further north
    assert plume.ppm(0, 200) > 0 and plume.ppm(0, 400) == 0  # the new front 300 m out, the old cloud beyond
    assert plume.ppm(300, 0) < 1e-12 * east_before  # the old plume left its axis (300 m across it now) ...
    assert float(plume.ppm(300, 300)[()]) == pytest.approx(east_before, rel=1e-9)  # ... keeping its shape
    zones = plume.zones()
    assert zones[0].area.intersects(Point(0, 150)) and not zones[0].area.intersects(Point(300, 0))


def test_a_release_that_stops_leaves_the_source() -> None:
    plume = GaussianPlume("methane", 1.0, 1.0, 2.0, 270.0, "F", end_s=100.0)
    plume.advance(150)  # stopped 50 s ago: no gas within 100 m, the cloud between 100 and 300 m
    assert plume.ppm(50, 0) == 0 and plume.ppm(150, 0) > 0 and plume.ppm(301, 0) == 0
    assert plume.front_m() == 0


def test_the_same_inputs_give_the_same_zones() -> None:
    runs = []
    for _ in range(2):
        plume = GaussianPlume("chlorine", 1.0, 2.0, 3.0, 250.0, "C", terrain="urban")
        plume.advance(400)
        plume.set_wind(2.0, 200.0, at_s=400, stability="E")
        plume.advance(800)
        runs.append([(z.label, z.area.wkb) for z in plume.zones()])
    assert runs[0] == runs[1]


def test_every_default_gas_has_thresholds_lowest_first() -> None:
    for gas in GASES.values():
        ppms = [p for _, p in gas.thresholds]
        assert ppms == sorted(ppms) and gas.molar_mass > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gas": "laughing_gas"}, "unknown gas 'laughing_gas'"),
    ({"release_kg_s": -1.0}, "rate above 0"),
    ({"height_m": -2.0}, "height is 0 m or more"),
    ({"wind_speed": 0.0}, "speed above 0"),
    ({"stability": "G"}, "stability is one of A–F"),
    ({"terrain": "forest"}, "terrain open or urban"),
    ({"thresholds": [("high", 100.0), ("low", 10.0)]}, "lowest first"),
    ({"end_s": -5.0}, "ends after it starts"),
])
def test_bad_inputs_are_refused_with_a_plan_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"gas": "chlorine", "release_kg_s": 1.0, "height_m": 1.0, "wind_speed": 3.0,
                               "direction_deg": 270.0, "stability": "D"} | kwargs
    with pytest.raises(PlanError, match=message):
        GaussianPlume(**args)  # type: ignore[arg-type]


def test_a_wind_change_back_in_time_or_without_wind_is_refused() -> None:
    plume = GaussianPlume("chlorine", 1.0, 1.0, 3.0, 270.0, "D")
    plume.set_wind(4.0, 260.0, at_s=100)
    with pytest.raises(PlanError, match="time order"):
        plume.set_wind(4.0, 260.0, at_s=50)
    with pytest.raises(PlanError, match="speed above 0"):
        plume.set_wind(0.0, 260.0, at_s=200)
