"""The demo city's drill plans, made from what its ingest produced: a fire in the town hall with two schemes (all
exits, and the main exit blocked at 60 s), a gas leak in the district's streets and a cloudburst over it."""

from __future__ import annotations

from typing import Any

from scenes.demo_district import park_centre


def _lowest_storey(floors: dict[str, Any]) -> dict[str, Any]:
    return min(floors["floors"], key=lambda f: (f["ordinal"], f["storey"]))


def _kind(storey: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in storey["features"] if f["properties"]["kind"] == kind]


def fire_plan(floors: dict[str, Any], station: str | None, hospital: str | None) -> dict[str, Any]:
    """The town hall fire during a citizens' day: it starts in the ground floor's largest room; 0.4 people per m²
    on the ground floor and 0.05 above, so that the exits queue and losing the main one at 60 s shows."""
    ground = _lowest_storey(floors)
    space = max(_kind(ground, "space"), key=lambda s: (s["properties"]["area"] or 0, s["id"]))
    exits = sorted(_kind(ground, "exit"), key=lambda e: (-(e["properties"]["width"] or 0), e["id"]))
    deployment = []
    if station is not None:
        deployment += [{"unit": "engine-1", "station": station, "kind": "fire_engine", "depart_s": 60},
                       {"unit": "ladder-1", "station": station, "kind": "ladder", "depart_s": 90}]
    if hospital is not None:
        deployment.append({"unit": "ambulance-1", "station": hospital, "kind": "ambulance", "depart_s": 120})
    evacuation = {"density": {ground["storey"]: 0.4, "*": 0.05},
                  "premovement": {"dist": "lognormal", "mean_s": 20, "sd_s": 8, "max_s": 60}}
    schemes = [{"id": "all-exits", "name": "Every exit open", "evacuation": evacuation, "deployment": deployment}]
    if exits:
        schemes.append({"id": "main-exit-blocked", "name": "The main exit blocked at 60 s",
                        "evacuation": evacuation, "deployment": deployment,
                        "injects": [{"at_s": 60, "action": "block_exit", "exit": exits[0]["id"],
                                     "note": "smoke in the main entrance"}]})
    return {"id": "rathaus-fire", "name": "Fire in the town hall",
            "description": f"A fast-growing fire in {space['properties'].get('name') or 'the largest room'} "
                           "on the ground floor.",
            "incident": {"kind": "fire", "building": floors["building"], "space": space["id"]},
            "time": {"mode": "accelerated", "frame_interval_s": 1.0, "duration_s": 600},
            "fire": {"growth": "fast", "peak_kw": 2500}, "schemes": schemes}


def gas_plan(station: str | None) -> dict[str, Any]:
    """A gas main leaking beside the park; the second scheme turns the wind at 5 minutes."""
    lon, lat = park_centre()
    deployment = [{"unit": "hazmat-1", "station": station, "kind": "hazmat"}] if station else []
    return {"id": "district-gas-leak", "name": "Gas leak by the park",
            "incident": {"kind": "gas_leak", "location": [lon, lat - 0.0012, 0.5]},
            "time": {"mode": "accelerated", "frame_interval_s": 5.0, "duration_s": 900},
            "gas": {"substance": "methane", "release_kg_s": 2.0, "height_m": 0.5,
                    "wind": {"speed_m_s": 3.0, "direction_deg": 270, "stability": "D"}},
            "schemes": [{"id": "steady-wind", "deployment": deployment},
                        {"id": "wind-turns", "deployment": deployment,
                         "injects": [{"at_s": 300, "action": "wind",
                                      "wind": {"speed_m_s": 5.0, "direction_deg": 200, "stability": "D"}}]}]}


def rain_plan() -> dict[str, Any]:
    """A cloudburst over the district: 60 mm/h for half an hour; the second scheme has blocked drains."""
    lon, lat = park_centre()
    return {"id": "district-cloudburst", "name": "Cloudburst over the district",
            "incident": {"kind": "water_logging", "location": [lon, lat]},
            "time": {"mode": "accelerated", "frame_interval_s": 30.0, "duration_s": 3600},
            "rain": {"hyetograph": [[0, 60], [1800, 0]], "extent_m": 1000, "cell_m": 10},
            "schemes": [{"id": "drains-clear"},
                        {"id": "heavier-rain", "injects": [{"at_s": 600, "action": "rain", "rain_mm_h": 120}]}]}
