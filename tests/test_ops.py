"""Operations on a real server over a real PostGIS: Prometheus metrics, liveness and readiness, JSON log lines."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text

from tests import test_live_delivery
from tests.conftest import serving_worker
from tests.helpers.city import EAST_ROOM_CENTRE
from tests.helpers.live import live_client
from tests.helpers.metrics import change, scrape, value
from tests.helpers.redis_server import redis_server
from twin.api import create_app
from twin.api.routes_ops import ACCESS
from twin.db import create_db_engine
from twin.ops.logs import JsonFormatter
from twin.settings import Settings

city_url = test_live_delivery.city_url  # a fresh database with the test house (a fixture)

def test_metrics_count_requests_per_route_template_and_readings_by_outcome(city_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path)
        before = scrape(base)
        sensor = {"id": "GAS-9", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4]}
        assert httpx.post(f"{base}/sensors", json=sensor).status_code == 201
        now = time.time()
        answer = httpx.post(f"{base}/readings", json=[{"sensor": "GAS-9", "time": now - 2, "value": 1},
                                                      {"sensor": "GAS-9", "time": now - 1, "value": 2},
                                                      {"sensor": "NOPE", "value": 3}]).json()
        assert answer["accepted"] == 2 and len(answer["rejected"]) == 1
        httpx.post(f"{base}/readings", json=[{"sensor": "GAS-9", "time": now - 1, "value": 2}])  # a duplicate
        for object_id in ("house.b", "house.s1"):  # two raw paths, one template
            assert httpx.get(f"{base}/objects/{object_id}").status_code == 200
        assert httpx.get(f"{base}/tilesets/none/tileset.json").status_code == 404  # the tile fast path
        assert httpx.get(f"{base}/no/such/route").status_code == 404
        after = scrape(base)

    def delta(name: str, **labels: str) -> float:
        return change(before, after, name, **labels)

    assert delta("citytwin_readings_total", outcome="accepted") == 2
    assert delta("citytwin_readings_total", outcome="rejected") == 1
    assert delta("citytwin_readings_total", outcome="duplicate") == 1
    assert delta("citytwin_http_requests_total", method="POST", route="/readings", status="200") == 2
    assert delta("citytwin_http_requests_total", method="POST", route="/sensors", status="201") == 1
    assert delta("citytwin_http_requests_total", method="GET", route="/objects/{object_id}", status="200") == 2
    assert delta("citytwin_http_requests_total", method="GET", route="/tilesets/{tileset_id}/{path:path}",
                 status="404") == 1
    assert delta("citytwin_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("citytwin_http_request_duration_seconds_count", method="POST", route="/readings") == 2
    assert delta("citytwin_http_request_duration_seconds_sum", method="POST", route="/readings") > 0
    assert not any(name.startswith("citytwin_http") and "house.b" in str(labels) for name, labels in after)


def test_metrics_show_websocket_clients_and_the_alarms_their_readings_raise(city_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path)
        sensor = {"id": "GAS-2", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4],
                  "thresholds": {"levels": {"yellow": 10, "red": 25}}}
        assert httpx.post(f"{base}/sensors", json=sensor).status_code == 201
        before = scrape(base)
        with live_client(base) as one, live_client(base) as two:
            one.subscribe(channels=["alarms"])
            two.subscribe(channels=["readings"])
            httpx.post(f"{base}/readings", json=[{"sensor": "GAS-2", "value": 30}])
            assert one.until(lambda m: m["type"] == "alarm")["level"] == "red"
            during = scrape(base)
        assert value(during, "citytwin_websocket_clients") == 2
        assert value(during, "citytwin_websocket_subscribed_clients") == 2
        assert value(during, "citytwin_alarms_active", level="red") == 1
        assert change(before, during, "citytwin_alarm_transitions_total", action="raised", level="red") == 1
        assert value(during, "citytwin_websocket_queue_lag_max_messages") >= 0
        deadline = time.monotonic() + 5
        while value(scrape(base), "citytwin_websocket_clients") != 0:  # the sessions end after the close
            assert time.monotonic() < deadline, "closed websocket sessions were still counted"
            time.sleep(0.05)


def test_liveness_stays_up_while_readiness_fails_on_a_lost_bus_or_a_schema_behind(city_url: str,
                                                                                  tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as redis, ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path, bus_url=redis.url)
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["database"]["revision"] == checks["database"]["head"] and checks["live"]["bus"] == "redis"
        redis.stop()
        deadline = time.monotonic() + 10
        while (ready := httpx.get(f"{base}/health/ready")).status_code != 503:
            assert time.monotonic() < deadline, "readiness never noticed the bus was gone"
            time.sleep(0.1)
        assert ready.json()["checks"]["live"] == {"ok": False, "bus": "redis", "error": "the Redis bus is unreachable"}
        assert httpx.get(f"{base}/health/live").json() == {"status": "ok"}
        redis.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness never came back with the bus"
            time.sleep(0.1)
        engine = create_db_engine(city_url)
        stack.callback(engine.dispose)
        with engine.begin() as conn:
            head = conn.execute(text("UPDATE alembic_version SET version_num = 'older' RETURNING "
                                     "(SELECT version_num FROM alembic_version)")).scalar_one()
        behind = httpx.get(f"{base}/health/ready")
        assert behind.status_code == 503 and "not at head" in behind.json()["checks"]["database"]["error"]
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        assert httpx.get(f"{base}/health/ready").status_code == 200
        assert httpx.get(f"{base}/health").status_code == 200  # the older combined probe still answers


def test_readiness_is_503_without_a_database_and_liveness_still_200(tmp_path: Path) -> None:
    from tests.conftest import free_port, serving_app
    from twin.db import Database

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there
    app = create_app(Settings(database_url=url, data_dir=tmp_path, mqtt=False), Database(create_db_engine(url)))
    with serving_app(app) as base:
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready" and not body["checks"]["database"]["ok"]
        assert body["checks"]["database"]["error"]
        assert httpx.get(f"{base}/health/live").status_code == 200


def test_every_operations_route_declares_who_it_is_for_in_the_openapi_document(city_url: str,
                                                                               tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path)
        paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    for path in ("/metrics", "/health/live", "/health/ready"):
        assert paths[path]["get"]["x-citytwin-access"] == ACCESS[path]
    assert set(ACCESS) == {"/health", "/health/live", "/health/ready", "/metrics"}


def test_a_json_log_line_holds_time_level_logger_message_and_the_extra_fields() -> None:
    record = logging.LogRecord("citytwin.access", logging.INFO, __file__, 1, "%s %s %d", ("GET", "/x", 200), None)
    record.request_id, record.route, record.status, record.duration_ms = "abc", "/x", 200, 1.5
    line = JsonFormatter().format(record)
    assert "\n" not in line
    document = orjson.loads(line)
    assert document["level"] == "info" and document["logger"] == "citytwin.access"
    assert document["message"] == "GET /x 200" and document["time"].endswith("+00:00")
    assert (document["request_id"], document["route"], document["status"], document["duration_ms"]) == \
        ("abc", "/x", 200, 1.5)
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        failed = logging.LogRecord("twin", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    document = orjson.loads(JsonFormatter().format(failed))
    assert "ValueError: bad" in document["exception"] and document["level"] == "error"
