"""The fire and smoke zone model: t² heat release, the NFPA 92 plume, layer descent against NFPA 92's own
correlation, smoke through open doors only, visibility and walking speed, tenability and FED."""

from __future__ import annotations

import math

import pytest

from scenes.drills.errors import PlanError
from scenes.drills.fire_zone import Compartment, FireSmoke, FireSpec, Opening

FAST = 0.0469


def closed_room(area: float, height: float) -> FireSmoke:
    return FireSmoke([Compartment("r", area, height, 0)], [], FireSpec("r", FAST, 1e6))


def test_the_heat_release_grows_as_t_squared_up_to_its_peak() -> None:
    fire = FireSmoke([Compartment("r", 50, 3, 0)], [], FireSpec("r", FAST, 2500, start_s=10))
    assert fire.hrr(5) == 0 and fire.hrr(110) == pytest.approx(FAST * 100**2) and fire.hrr(1000) == 2500


def test_the_plume_carries_the_nfpa_92_mass_flow_above_and_within_the_flame() -> None:
    fire = closed_room(100, 3)
    qc = 700.0
    flame = 0.166 * qc**0.4
    assert fire._plume(qc, 4.0) == pytest.approx(0.071 * qc ** (1 / 3) * 4.0 ** (5 / 3) + 0.0018 * qc)
    assert fire._plume(qc, flame / 2) == pytest.approx(0.032 * qc**0.6 * flame / 2)


@pytest.mark.parametrize(("area", "height"), [(100, 3), (500, 6), (1000, 10)])
def test_the_layer_descends_as_nfpa_92s_t_squared_correlation_says_within_25_percent(
        area: float, height: float) -> None:
    """NFPA 92 (2021) eq. for t² fires: z/H = 0.91 [t H^-4/5 t_g^-2/5 (A/H²)^-3/5]^-1.45 — an empirical fit to
    experiments — against our integrated plume filling, for 0.35 ≤ z/H ≤ 1 (measured: 0.78–1.11 of it). Lower
    down the zone model fills on to the floor while the fitted curve levels off (measured: 0.6 of it at
    z/H = 0.3 in the 100 m² room): the model is the pessimistic one there."""
    growth = math.sqrt(1055 / FAST)
    fire = closed_room(area, height)
    compared = 0
    for t in range(10, 400, 10):
        fire.advance(t)
        x = t * height**-0.8 * growth**-0.4 * (area / height**2) ** -0.6
        expected = 0.91 * x**-1.45
        if 0.35 <= expected <= 1.0:
            assert fire.interface("r") / height == pytest.approx(expected, rel=0.25), t
            compared += 1
    assert compared >= 3


def corridor() -> tuple[list[Compartment], FireSpec]:
    return ([Compartment("fire", 40, 3, 0), Compartment("hall", 60, 3, 0), Compartment("far", 40, 3, 0)],
            FireSpec("fire", FAST, 2500))


def test_smoke_reaches_a_neighbour_only_through_an_open_door_and_later_than_the_fire_room() -> None:
    rooms, spec = corridor()
    fire = FireSmoke(rooms, [Opening("fire", "hall", 0.9), Opening("hall", "far", 0.9)], spec)
    seen: dict[str, float] = {}
    for t in range(1, 400):
        fire.advance(t)
        for room in ("fire", "hall", "far"):
            if fire.smoky(room):
                seen.setdefault(room, t)
    assert seen["fire"] < seen["hall"] < seen.get("far", math.inf)
    shut = FireSmoke(rooms, [Opening("hall", "far", 0.9)], spec)  # the fire room's door closed
    shut.advance(400)
    assert shut.smoky("fire") and shut.layers["hall"].mass == 0 and shut.layers["far"].mass == 0


def test_visibility_falls_as_the_smoke_thickens_and_walking_slows_with_it_only_below_head_height() -> None:
    fire = closed_room(100, 3)
    fire.advance(45)
    assert not fire.smoky("r") and fire.speed_factor("r") == 1.0 and fire.fed_rate("r") == 0.0
    visibilities, factors = [], []
    for t in (100, 130, 160):
        fire.advance(t)
        visibilities.append(fire.visibility("r"))
        factors.append(fire.speed_factor("r"))
    assert visibilities == sorted(visibilities, reverse=True) and factors == sorted(factors, reverse=True)
    assert factors[-1] < 1.0 and fire.untenable("r")
    k = fire.extinction("r")
    assert factors[-1] == pytest.approx(max(0.1, 1 - 0.057 / 0.706 * k), abs=1e-3)  # Frantzich–Nilsson


def test_the_dose_rate_is_higher_nearer_the_fire() -> None:
    rooms, spec = corridor()
    fire = FireSmoke(rooms, [Opening("fire", "hall", 0.9), Opening("hall", "far", 0.9)], spec)
    fire.advance(300)
    assert fire.fed_rate("fire") > fire.fed_rate("hall") >= fire.fed_rate("far")
    assert fire.fed_rate("fire") > 0


def test_the_same_inputs_give_the_same_state() -> None:
    rooms, spec = corridor()
    states = []
    for _ in range(2):
        fire = FireSmoke(rooms, [Opening("fire", "hall", 0.9)], spec)
        fire.advance(200)
        states.append(fire.frame_state())
    assert states[0] == states[1]


@pytest.mark.parametrize(("rooms", "openings", "spec", "message"), [
    ([Compartment("r", -5, 3, 0)], [], FireSpec("r", FAST, 100), "positive floor area"),
    ([Compartment("r", 5, 3, 0)], [], FireSpec("nowhere", FAST, 100), "unknown space"),
    ([Compartment("r", 5, 3, 0)], [Opening("r", "x", 1)], FireSpec("r", FAST, 100), "unknown spaces"),
    ([Compartment("r", 5, 3, 0)], [], FireSpec("r", 0, 100), "growth rate"),
])
def test_bad_fire_inputs_are_refused_clearly(rooms: list[Compartment], openings: list[Opening], spec: FireSpec,
                                             message: str) -> None:
    with pytest.raises(PlanError, match=message):
        FireSmoke(rooms, openings, spec)
