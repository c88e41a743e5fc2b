"""Live delivery under strain, with real processes: two workers sharing a Redis bus, a slow client, status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import _drop_database, _fresh_database, serving_worker
from tests.helpers.city import EAST_ROOM_CENTRE, add_house_and_street
from tests.helpers.live import LiveClient, StuckClient, live_client
from tests.helpers.redis_server import redis_server
from twin.db import create_db_engine


@pytest.fixture
def city_url(server_url: str, template_database: str) -> Iterator[str]:
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    add_house_and_street(engine)
    engine.dispose()
    yield url
    _drop_database(server_url, url)


def test_a_reading_posted_to_one_worker_reaches_a_client_of_another_through_redis(city_url: str,
                                                                                  tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis, ExitStack() as stack:
        a = serving_worker(stack, city_url, tmp_path / "a", bus_url=redis.url)
        b = serving_worker(stack, city_url, tmp_path / "b", bus_url=redis.url)
        httpx.post(f"{a}/sensors", json={"id": "GAS-1", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4],
                                          "thresholds": {"levels": {"yellow": 10, "red": 25}}})
        deadline = time.monotonic() + 5
        while httpx.get(f"{b}/sensors/GAS-1").status_code != 200:
            assert time.monotonic() < deadline, "worker B never learnt of the sensor"
            time.sleep(0.05)
        with live_client(b) as client:
            client.subscribe(objects=["house.s1.east"])
            assert httpx.post(f"{a}/readings", json=[{"sensor": "GAS-1", "value": 30}]).json()["accepted"] == 1
            assert client.until(lambda m: m["type"] == "reading")["value"] == 30
            alarm = client.until(lambda m: m["type"] == "alarm")
            assert alarm["level"] == "red"
        assert [a["id"] for a in httpx.get(f"{a}/alarms").json()["alarms"]] == [alarm["id"]]
        assert httpx.post(f"{b}/alarms/{alarm['id']}/acknowledge", json={"by": "Zhang"}).status_code == 200
        deadline = time.monotonic() + 5
        while httpx.get(f"{a}/alarms").json()["alarms"][0]["acknowledged_by"] != "Zhang":
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_slow_client_delays_no_one_else_and_is_closed_with_a_resume_point_that_loses_no_alarm(
        city_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path, live_outbox_limit=6000)
        httpx.post(f"{base}/sensors", json={"id": "SMOKE-1", "kind": "smoke", "object_id": "house.b",
                                            "thresholds": {"levels": {"blue": 0.5}}})  # below the event level
        slow = StuckClient(base, {"channels": ["alarms"]})
        fast = stack.enter_context(live_client(base))
        fast.subscribe(channels=["alarms"])
        toggles, batch = 20_000, 5000
        for start in range(0, toggles, batch):
            body = [{"sensor": "SMOKE-1", "time": time.time() - 3000 + (start + i) * 0.01, "value": (start + i) % 2}
                    for i in range(batch)]
            assert httpx.post(f"{base}/readings", json=body).json()["accepted"] == batch
        alarms = []
        while len(alarms) < toggles - 1:
            alarms += [m for m in fast.receive(timeout=10) if m["type"] == "alarm"]
        assert [m["action"] for m in alarms[:4]] == ["raised", "cleared", "raised", "cleared"]
        got, code, reason = slow.read_all()
        assert code == 1013, "the slow client was never told it fell behind"
        overflow = [m for m in got if m.get("type") == "overflow"]
        had = [m for m in got if m.get("type") == "alarm"]
        resume = overflow[0]["resume"]
        assert all(m["seq"] <= resume for m in had)
        with live_client(base) as again:
            resumed = again.subscribe(channels=["alarms"], resume=resume)
            assert resumed["type"] == "resumed"
            replayed = [m for m in resumed["messages"] if m["type"] == "alarm"]
        assert len(had) + len(replayed) == toggles - 1  # nothing lost between what it had and what it resumed
        assert got[0]["type"] == "snapshot" and f"resume={resume}" in reason


def test_a_sensor_goes_offline_when_silent_past_its_timeout_and_back_online_with_a_reading(
        city_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path)
        camera = {"id": "CAM-1", "kind": "camera", "position": [13.43, 52.53, 8],
                  "attributes": {"stream_url": "rtsp://cam.example/1", "heading": 90, "fov": 60,
                                 "offline_after_s": 1}}
        assert httpx.post(f"{base}/sensors", json=camera).status_code == 201
        with live_client(base) as client:
            client.subscribe(channels=["status"])
            httpx.post(f"{base}/readings", json=[{"sensor": "CAM-1", "value": 1}])
            assert client.until(lambda m: m["type"] == "status")["online"] is True
            offline = client.until(lambda m: m["type"] == "status", timeout=5)
            assert offline["online"] is False and offline["sensor"] == "CAM-1"
            assert httpx.get(f"{base}/sensors/CAM-1").json()["online"] is False
            httpx.post(f"{base}/readings", json=[{"sensor": "CAM-1", "value": 1}])
            assert client.until(lambda m: m["type"] == "status")["online"] is True
        refused = httpx.post(f"{base}/sensors", json={**camera, "attributes": {"offline_after_s": 0}})
        assert refused.status_code == 400 and "offline_after_s" in refused.json()["detail"]


def test_live_delivery_across_workers_survives_a_redis_restart_without_a_gap(city_url: str, tmp_path: Path) -> None:
    import threading

    with redis_server(tmp_path) as redis, ExitStack() as stack:
        a = serving_worker(stack, city_url, tmp_path / "a", bus_url=redis.url)
        b = serving_worker(stack, city_url, tmp_path / "b", bus_url=redis.url)
        httpx.post(f"{a}/sensors", json={"id": "WL-1", "kind": "water_level", "position": [13.5, 52.5, 0]})
        deadline = time.monotonic() + 5
        while httpx.get(f"{b}/sensors/WL-1").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with live_client(b) as client:
            client.subscribe(channels=["readings"])
            redis.stop()
            answers: list[httpx.Response] = []
            poster = threading.Thread(target=lambda: answers.append(
                httpx.post(f"{a}/readings", json=[{"sensor": "WL-1", "value": 0.07}], timeout=30)))
            poster.start()
            time.sleep(1.0)  # the reading is stored; its bus entry waits for Redis
            redis.start()
            poster.join(timeout=30)
            assert answers and answers[0].json()["accepted"] == 1
            assert client.until(lambda m: m["type"] == "reading", timeout=15)["value"] == 0.07


def test_serve_with_two_workers_shares_one_live_layer_through_a_private_redis(city_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTWIN_")}
    env.update(CITYTWIN_DATABASE_URL=city_url, CITYTWIN_DATA_DIR=str(tmp_path), CITYTWIN_MQTT="false")
    server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/sensors").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not come up"
            time.sleep(0.2)
        httpx.post(f"{base}/sensors", json={"id": "AQ-1", "kind": "air_quality", "position": [13.5, 52.5, 2]})
        with ExitStack() as clients:
            by_worker: dict[str, LiveClient] = {}
            opened = 0
            deadline = time.monotonic() + 60  # until both workers have started and taken a connection
            while len(by_worker) < 2 and time.monotonic() < deadline:
                client = clients.enter_context(live_client(base))
                opened += 1
                by_worker.setdefault(client.subscribe(channels=["readings"])["worker"], client)
                time.sleep(0.05)
            assert len(by_worker) == 2, "every connection went to one worker"
            for i in range(6):  # each on a fresh connection, so posts land on both workers
                httpx.post(f"{base}/readings", json=[{"sensor": "AQ-1", "time": time.time() - 60 + i, "value": i}])
            for client in by_worker.values():
                got = []
                while len(got) < 6:
                    got += [m["value"] for m in client.receive(timeout=10) if m["type"] == "reading"]
                assert got == [0, 1, 2, 3, 4, 5]
            _check_metrics_answer_for_every_worker(base, websocket_clients=opened)
    except BaseException:
        server.terminate()
        print(server.communicate(timeout=30)[0].decode(errors="replace")[-8000:])  # shown with the failure
        raise
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def _check_metrics_answer_for_every_worker(base: str, websocket_clients: int) -> None:
    """Whichever worker takes the scrape, `/metrics` sums them all (prometheus-client's multiprocess mode)."""
    from tests.helpers.metrics import scrape, value

    for _ in range(4):  # each over a fresh connection, so either worker may answer
        samples = scrape(base)
        assert value(samples, "citytwin_readings_total", outcome="accepted") == 6
        assert value(samples, "citytwin_http_requests_total", method="POST", route="/readings", status="200") == 6
        deadline = time.monotonic() + 5  # the websocket gauges are sampled once a second in each worker
        while (seen := value(samples, "citytwin_websocket_clients")) != websocket_clients:
            assert time.monotonic() < deadline, f"{seen} websocket clients counted, {websocket_clients} open"
            time.sleep(0.2)
            samples = scrape(base)
