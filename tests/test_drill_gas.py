"""The gas plume: the analytical Gaussian plume with ground reflection at sample points, Briggs' σ, the front at
the wind speed, nested threshold zones, a wind change turning the plume, bad inputs refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenes.drills.errors import PlanError
from scenes.drills.gas_plume import GasPlume, Wind, sigmas

WEST_WIND = Wind(3.0, 270.0, "D", 0.0)  # blows from the west: the plume goes east


def gaussian(q: float, u: float, sy: float, sz: float, y: float, z: float, h: float) -> float:
    return q / (2 * math.pi * u * sy * sz) * math.exp(-y * y / (2 * sy * sy)) * (
        math.exp(-(z - h) ** 2 / (2 * sz * sz)) + math.exp(-(z + h) ** 2 / (2 * sz * sz)))


def test_briggs_sigmas_at_sample_distances() -> None:
    x = np.array([100.0, 1000.0])
    sy, sz = sigmas(x, "D", "open")
    assert sy == pytest.approx(0.08 * x / np.sqrt(1 + 1e-4 * x))
    assert sz == pytest.approx(0.06 * x / np.sqrt(1 + 1.5e-3 * x))
    sy, sz = sigmas(x, "F", "urban")
    assert sy == pytest.approx(0.11 * x / np.sqrt(1 + 4e-4 * x))
    assert sz == pytest.approx(0.08 * x / np.sqrt(1 + 1.5e-3 * x))


@pytest.mark.parametrize(("east", "north", "z"), [(50.0, 0.0, 1.5), (300.0, 20.0, 0.0), (1200.0, -80.0, 10.0)])
def test_the_concentration_equals_the_analytical_gaussian_plume(east: float, north: float, z: float) -> None:
    plume = GasPlume("methane", 2.0, 1.0, WEST_WIND, terrain="open")
    plume.advance(3600)
    sy, sz = (float(s[0]) for s in sigmas(np.array([east]), "D", "open"))
    expected = gaussian(2.0, 3.0, sy, sz, north, z, 1.0)
    got = float(plume.concentration(np.array([east]), np.array([north]), z)[0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_nothing_lies_beyond_the_front_or_upwind() -> None:
    plume = GasPlume("methane", 2.0, 1.0, WEST_WIND)
    plume.advance(100)  # the front is 300 m downwind
    c = plume.concentration(np.array([250.0, 350.0, -50.0]), np.zeros(3))
    assert c[0] > 0 and c[1] == 0 and c[2] == 0


def test_higher_levels_lie_inside_lower_ones_and_the_evacuation_zone_holds_them_all() -> None:
    plume = GasPlume("methane", 5.0, 0.5, WEST_WIND)
    plume.advance(1800)
    zones = plume.zones(cell_m=2.0, extent_m=400.0)
    assert [z[0] for z in zones] == ["10 % LEL", "LEL"]
    assert zones[0][2].buffer(1e-6).contains(zones[1][2]) and zones[0][2].area > zones[1][2].area > 0
    evacuate = plume.evacuation_zone(zones)
    assert evacuate is not None and evacuate.contains(zones[0][2])
    assert zones[0][2].centroid.x > 0 and abs(zones[0][2].centroid.y) < 5  # east of the source


def test_a_wind_change_turns_the_plume_where_the_new_front_has_passed() -> None:
    plume = GasPlume("methane", 2.0, 1.0, WEST_WIND)
    plume.set_wind(3.0, 180.0, "D", at_s=600)  # now from the south: the plume goes north
    plume.advance(700)  # the new front is 300 m out
    north, east = plume.concentration(np.array([0.0, 200.0]), np.array([200.0, 0.0]))
    assert north > 0 and east == 0  # near the source it points north now
    assert plume.concentration(np.array([1000.0]), np.array([0.0]))[0] > 0  # the old plume, gone from the source


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"substance": "unobtainium"}, "unknown gas"), ({"release_kg_s": 0}, "rate"),
    ({"wind": Wind(0, 270, "D", 0)}, "wind speed"),
])
def test_bad_releases_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"substance": "methane", "release_kg_s": 1.0, "height_m": 1.0, "wind": WEST_WIND}
    with pytest.raises(PlanError, match=message):
        GasPlume(**{**args, **kwargs})  # type: ignore[arg-type]
