"""Drills through the API on the demo city in a real PostGIS with pgRouting: plans checked and stored, a run in
its worker process pushing frames on the websocket, controls, stored frames equal to the live ones, the same seed
giving byte-identical frames, replay, CZML, report and comparison; bad plans and illegal controls refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from tests.conftest import populated_server
from tests.helpers.live import live_client
from tests.helpers.metrics import change, scrape
from twin.demo import build_demo_city


@pytest.fixture(scope="module")
def demo(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, Engine]]:
    folder = tmp_path_factory.mktemp("drills")

    def populate(engine: Engine) -> None:
        build_demo_city(engine, folder / "inputs")

    with populated_server(server_url, template_database, folder, populate) as pair:
        yield pair


def wait_for_end(base: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{base}/drills/runs/{run_id}").json()
        if run["status"] in ("finished", "stopped", "failed"):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not end")


def start(base: str, plan: str, scheme: str, seed: int = 1, **extra: Any) -> dict[str, Any]:
    answer = httpx.post(f"{base}/plans/{plan}/runs", json={"scheme": scheme, "seed": seed, **extra}, timeout=60)
    assert answer.status_code == 202, answer.text
    return answer.json()


def frames_of(base: str, run_id: str) -> list[bytes]:
    return httpx.get(f"{base}/drills/runs/{run_id}/frames", timeout=30).content.splitlines()


def test_the_demo_city_comes_with_its_three_drill_plans(demo: tuple[str, Engine]) -> None:
    plans = httpx.get(f"{demo[0]}/plans").json()["plans"]
    assert {p["id"]: p["hazard"] for p in plans} == {
        "rathaus-fire": "fire", "district-gas-leak": "gas_leak", "district-cloudburst": "water_logging"}
    fire = httpx.get(f"{demo[0]}/plans/rathaus-fire").json()
    assert [s["id"] for s in fire["schemes"]] == ["all-exits", "main-exit-blocked"]


@pytest.mark.parametrize(("change", "status", "reason"), [
    ({"incident": {"kind": "fire", "building": "no.such", "space": "x"}}, 422, "no twin object"),
    ({"schemes": [{"id": "a", "deployment": [{"unit": "u", "station": "nowhere"}]}]}, 422, "to leave from"),
    ({"schemes": [{"id": "a", "evacuation": {"occupants": {"x": -1}}}]}, 422, "cannot be negative"),
    ({"schemes": [{"id": "a", "injects": [{"at_s": 5, "action": "close_space"}]}]}, 422, "names its space"),
])
def test_a_bad_plan_is_refused_with_the_field_named_and_nothing_stored(
        demo: tuple[str, Engine], change: dict[str, Any], status: int, reason: str) -> None:
    fire = httpx.get(f"{demo[0]}/plans/rathaus-fire").json()
    document = {k: v for k, v in fire.items() if k not in ("created_at", "updated_at")}
    answer = httpx.post(f"{demo[0]}/plans", json={**document, "id": "bad-plan", **change}, timeout=60)
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["detail"]["message"]
    assert httpx.get(f"{demo[0]}/plans/bad-plan").status_code == 404


def test_a_plan_in_yaml_is_taken_and_broken_yaml_or_json_is_a_400_or_422(demo: tuple[str, Engine]) -> None:
    base = demo[0]
    assert httpx.post(f"{base}/plans", content=b"{not json", headers={"content-type": "application/json"}
                      ).status_code == 400
    answer = httpx.post(f"{base}/plans", content=b"id: [x", headers={"content-type": "application/yaml"})
    assert answer.status_code == 422 and "not valid YAML" in answer.json()["detail"]["message"]
    assert httpx.post(f"{base}/plans", content=b"x", headers={"content-type": "text/csv"}).status_code == 415


def test_runs_and_controls_of_unknown_runs_are_404_and_bad_run_requests_400(demo: tuple[str, Engine]) -> None:
    base = demo[0]
    missing = "00000000-0000-0000-0000-000000000000"
    assert httpx.get(f"{base}/drills/runs/{missing}").status_code == 404
    assert httpx.post(f"{base}/drills/runs/{missing}/pause").status_code == 404
    assert httpx.get(f"{base}/drills/runs/not-a-uuid").status_code == 422
    assert httpx.post(f"{base}/plans/rathaus-fire/runs", json={"seed": 1}).status_code == 400
    assert httpx.post(f"{base}/plans/rathaus-fire/runs", json={"scheme": "nope"}).status_code == 422
    assert httpx.post(f"{base}/plans/no-plan/runs", json={"scheme": "a"}).status_code == 404


def test_a_fire_drill_pushes_frames_ends_with_a_report_and_the_same_seed_repeats_byte_for_byte(
        demo: tuple[str, Engine]) -> None:
    base = demo[0]
    before = scrape(base)
    with live_client(base) as client:
        client.subscribe(channels=["drills"])
        run = start(base, "rathaus-fire", "all-exits", seed=7)
        pushed = []
        while True:
            message = client.until(lambda m: m["type"] in ("drill_frame", "drill_run") and
                                   (m.get("run") == run["id"] or m.get("run", {}).get("id") == run["id"]),
                                   timeout=120)
            if message["type"] == "drill_frame":
                pushed.append(message["frame"])
            elif message["run"].get("status") in ("finished", "failed", "stopped"):
                break
    ended = wait_for_end(base, run["id"])
    assert ended["status"] == "finished", ended
    stored = [orjson.loads(f) for f in frames_of(base, run["id"])]
    assert stored == pushed  # what was played is what was stored
    people = stored[0]["people"]
    assert len(people["positions"]) == 3 * stored[0]["counts"]["total"] > 0
    assert stored[-1]["counts"]["evacuated"] == stored[-1]["counts"]["total"]
    report = httpx.get(f"{base}/drills/runs/{run['id']}/report").json()
    assert report["evacuation"]["rset_s"] > 0 and report["responders"]
    again = start(base, "rathaus-fire", "all-exits", seed=7)
    assert wait_for_end(base, again["id"])["status"] == "finished"
    assert frames_of(base, again["id"]) == frames_of(base, run["id"])
    deadline = time.monotonic() + 10  # counted when the server hears of the end, which may follow the stored row
    while change(before, after := scrape(base), "citytwin_drill_runs_total", state="finished") < 2:
        assert time.monotonic() < deadline, "the finished runs were not counted"
        time.sleep(0.1)
    assert change(before, after, "citytwin_drill_runs_total", state="started") == 2
    assert change(before, after, "citytwin_drill_runs_total", state="finished") == 2


def test_blocking_the_main_exit_raises_rset_and_the_comparison_says_by_how_much(demo: tuple[str, Engine]) -> None:
    base = demo[0]
    a, b = (start(base, "rathaus-fire", scheme, seed=3) for scheme in ("all-exits", "main-exit-blocked"))
    for run in (a, b):
        assert wait_for_end(base, run["id"])["status"] == "finished"
    result = httpx.get(f"{base}/drills/compare", params={"a": a["id"], "b": b["id"]}).json()
    rset = next(f for f in result["figures"] if f["figure"] == "rset_s")
    assert rset["b"] > rset["a"] and rset["b_minus_a"] > 0
    assert any(s["a_peak_voronoi_per_m2"] and s["b_peak_classic_per_m2"] for s in result["storeys"])
    page = httpx.get(f"{base}/drills/compare/page", params={"a": a["id"], "b": b["id"]})
    assert page.status_code == 200 and page.text.count("<svg") == 2
    czml = httpx.get(f"{base}/drills/runs/{a['id']}/czml").json()
    assert czml[0]["id"] == "document" and any(p["id"].startswith("person-") for p in czml)


def test_a_real_time_run_pauses_resumes_seeks_and_stops_and_illegal_controls_are_409(
        demo: tuple[str, Engine]) -> None:
    base = demo[0]
    run = start(base, "rathaus-fire", "all-exits", seed=2, speed=2)
    assert httpx.post(f"{base}/drills/runs/{run['id']}/resume").status_code in (409, 200)
    deadline = time.monotonic() + 60  # the worker process may take a few seconds to start on a busy machine
    while httpx.get(f"{base}/drills/runs/{run['id']}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)
    paused = httpx.post(f"{base}/drills/runs/{run['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert httpx.post(f"{base}/drills/runs/{run['id']}/pause").status_code == 409
    assert httpx.post(f"{base}/drills/runs/{run['id']}/seek", params={"t": 120}).status_code == 200
    assert httpx.post(f"{base}/drills/runs/{run['id']}/resume").json()["status"] == "running"
    assert httpx.post(f"{base}/drills/runs/{run['id']}/stop").status_code == 200
    ended = wait_for_end(base, run["id"])
    assert ended["status"] == "stopped"
    times = [orjson.loads(f)["t"] for f in frames_of(base, run["id"])]
    assert max(times) >= 120  # the seek computed ahead and stored what it passed
    assert httpx.post(f"{base}/drills/runs/{run['id']}/resume").status_code == 409


def test_a_stored_run_replays_on_the_websocket_from_its_frames_with_seek(demo: tuple[str, Engine]) -> None:
    base = demo[0]
    run = start(base, "rathaus-fire", "all-exits", seed=5)
    assert wait_for_end(base, run["id"])["status"] == "finished"
    stored = [orjson.loads(f) for f in frames_of(base, run["id"])]
    with live_client(base) as client:
        client.subscribe(channels=["drills"])
        client.send({"op": "drill_replay", "run": run["id"], "speed": 50, "from": 0})
        opened = client.until(lambda m: m["type"] == "drill_replay")
        assert opened["frames"] == len(stored)
        first = client.until(lambda m: m["type"] == "drill_frame" and m.get("replay"))
        assert first["frame"] == stored[0]
        client.send({"op": "seek", "time": stored[-3]["t"]})
        sought = client.until(lambda m: m["type"] == "drill_frame" and m["t"] == stored[-3]["t"])
        assert sought["frame"] == stored[-3]
        client.until(lambda m: m["type"] == "drill_replay_end", timeout=30)
        client.send({"op": "seek", "time": 1e9})
        assert "seek within" in client.until(lambda m: m["type"] == "error")["reason"]


def test_a_killed_worker_leaves_its_run_failed_with_its_frames_replayable(demo: tuple[str, Engine]) -> None:
    import os
    import signal

    base, engine = demo
    run = start(base, "rathaus-fire", "all-exits", seed=9, speed=1)
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/drills/runs/{run['id']}").json()["frames"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with engine.connect() as conn:
        pid = conn.exec_driver_sql(f"SELECT worker_pid FROM drill_runs WHERE id = '{run['id']}'").scalar()
    os.kill(int(pid), signal.SIGKILL)
    ended = wait_for_end(base, run["id"])
    assert ended["status"] == "failed" and "without finishing" in ended["error"]
    assert frames_of(base, run["id"])  # what was stored stays
    assert httpx.get(f"{base}/drills/runs/{run['id']}/czml").status_code == 200


def test_the_drill_raises_its_incident_as_a_drill_event_kept_out_of_real_lists(demo: tuple[str, Engine]) -> None:
    base = demo[0]
    run = start(base, "rathaus-fire", "all-exits", seed=11)
    wait_for_end(base, run["id"])
    drill_events = httpx.get(f"{base}/events", params={"source": "drill"}).json()
    items = drill_events.get("events", drill_events.get("features", drill_events))
    assert any(run["id"] in orjson.dumps(e).decode() for e in items)
    real = httpx.get(f"{base}/events").json()
    assert run["id"] not in orjson.dumps(real).decode()


def test_the_gas_leak_drill_finds_the_buildings_in_its_zones_and_the_turned_wind_reaches_others(
        demo: tuple[str, Engine]) -> None:
    base = demo[0]
    runs = {scheme: start(base, "district-gas-leak", scheme) for scheme in ("steady-wind", "wind-turns")}
    reports = {}
    for scheme, run in runs.items():
        assert wait_for_end(base, run["id"])["status"] == "finished"
        reports[scheme] = httpx.get(f"{base}/drills/runs/{run['id']}/report").json()
    steady, turned = reports["steady-wind"]["gas"], reports["wind-turns"]["gas"]
    assert steady["evacuation_zone_count"] > 0 and steady["zones"][0]["level"] == "10 % LEL"
    assert set(turned["evacuation_zone_objects"]) - set(steady["evacuation_zone_objects"])
    assert reports["wind-turns"]["injects"][0]["applied"] is True
    hazmat = reports["steady-wind"]["responders"][0]
    assert hazmat["reachable"] and hazmat["arrival_s"] > 0
    last = orjson.loads(frames_of(base, runs["steady-wind"]["id"])[-1])
    assert last["zones"] and last["vehicles"][0]["state"] == "arrived"


def test_the_cloudburst_drill_keeps_its_water_books_and_heavier_rain_floods_deeper(
        demo: tuple[str, Engine]) -> None:
    base = demo[0]
    depths = {}
    for scheme in ("drains-clear", "heavier-rain"):
        run = start(base, "district-cloudburst", scheme)
        assert wait_for_end(base, run["id"])["status"] == "finished"
        water = httpx.get(f"{base}/drills/runs/{run['id']}/report").json()["water"]
        books = water["volume"]
        assert books["on_ground_m3"] + books["drained_m3"] + books["flowed_out_m3"] == pytest.approx(
            books["rain_m3"], rel=0.01)
        assert water["terrain"].startswith("terrain ground ")  # the demo's valley, not the generated default
        assert books["drained_m3"] > 0  # its drainage network's manholes and inlets take water
        assert not [o for o in water["flooded_objects"] if o.startswith(("gas.", "drainage."))]  # underground
        depths[scheme] = water["max_depth_m"]
    assert depths["heavier-rain"] > depths["drains-clear"] > 0
