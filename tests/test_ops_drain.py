"""Graceful shutdown with real processes: two `citytwin serve` on different ports share a redis-server; SIGTERM
to one drains its websocket client with a resume point, and the client resumes on the other without a gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
from websockets.exceptions import ConnectionClosed

from tests import test_live_delivery
from tests.conftest import free_port
from tests.helpers.live import LiveClient, live_client
from tests.helpers.redis_server import redis_server

city_url = test_live_delivery.city_url  # a fresh database with the test house (a fixture)
DRAIN_TIMEOUT_S = 5


@contextmanager
def serve(database_url: str, folder: Path, bus_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes],
                                                                                        Path]]:
    """`citytwin serve` in its own process, once ready: (base URL, process, the file its output goes to)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CITYTWIN_")}
    environment.update(CITYTWIN_DATABASE_URL=database_url, CITYTWIN_DATA_DIR=str(folder), CITYTWIN_MQTT="false",
                       CITYTWIN_BUS_URL=bus_url, CITYTWIN_DRAIN_TIMEOUT_S=str(DRAIN_TIMEOUT_S), **env)
    output = folder / "server.log"
    with output.open("wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--port", str(port)], env=environment,
                                  stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, output.read_text()
            time.sleep(0.2)
        yield base, server, output
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def alarms_in(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["id"], m["action"]) for m in messages if m.get("type") == "alarm"]


def read_until_closed(client: LiveClient) -> tuple[list[dict[str, Any]], int | None]:
    """Every message until the server closes the connection, and the close code it sent."""
    got: list[dict[str, Any]] = []
    try:
        while True:
            got += client.receive(timeout=15)
    except ConnectionClosed as closed:
        return got, closed.rcvd.code if closed.rcvd else None


def json_lines(output: IO[str]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output if line.strip()]


def test_sigterm_drains_a_websocket_client_that_resumes_on_a_second_server_without_a_gap(city_url: str,
                                                                                         tmp_path: Path) -> None:
    toggles = 60
    with redis_server(tmp_path / "redis") as redis, ExitStack() as stack:
        a, server_a, log_a = stack.enter_context(serve(city_url, tmp_path / "a", redis.url,
                                                       CITYTWIN_LOG_FORMAT="json"))
        b, _, _ = stack.enter_context(serve(city_url, tmp_path / "b", redis.url))
        smoke = {"id": "SMOKE-1", "kind": "smoke", "object_id": "house.b", "thresholds": {"levels": {"blue": 0.5}}}
        assert httpx.post(f"{a}/sensors", json=smoke).status_code == 201
        deadline = time.monotonic() + 10
        while httpx.get(f"{b}/sensors/SMOKE-1").status_code != 200:
            assert time.monotonic() < deadline, "server B never learnt of the sensor"
            time.sleep(0.05)
        t0 = time.time() - 120

        def post(i: int) -> None:  # 1, 0, 1, 0, …: every reading raises or clears the alarm
            answer = httpx.post(f"{b}/readings", json=[{"sensor": "SMOKE-1", "time": t0 + i, "value": (i + 1) % 2}])
            assert answer.json()["accepted"] == 1

        client = stack.enter_context(live_client(a))
        client.subscribe(channels=["alarms", "readings"])
        post(0)  # posted to B, pushed by A: one bus for both processes
        assert client.until(lambda m: m["type"] == "reading")["value"] == 1
        poster = threading.Thread(target=lambda: [(post(i), time.sleep(0.02)) for i in range(1, toggles)])
        poster.start()
        time.sleep(0.3)
        server_a.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        got, code = read_until_closed(client)
        exit_code = server_a.wait(timeout=3 * DRAIN_TIMEOUT_S)
        took = time.monotonic() - signalled
        poster.join(timeout=30)
        assert code == 1012, f"closed with {code}, not 1012 (service restart)"
        reconnect = got[-1]
        assert reconnect["type"] == "reconnect" and isinstance(reconnect["resume"], int)
        had = alarms_in(client.seen)
        assert all(m["seq"] <= reconnect["resume"] for m in client.seen if "seq" in m and m["type"] == "alarm")
        with live_client(b) as again:
            resumed = again.subscribe(channels=["alarms"], resume=reconnect["resume"])
            assert resumed["type"] == "resumed", "server B had no ring back to the resume point"
            after = alarms_in(resumed["messages"])
            while len(had) + len(after) < toggles:
                after += alarms_in(again.receive(timeout=10))
        both = had + after
        assert len(both) == len(set(both)) == toggles, "alarms lost or repeated across the hand-over"
        assert [action for _, action in both] == ["raised", "cleared"] * (toggles // 2)
        assert 0 < len(had) < toggles, "the drain did not fall inside the stream (nothing to prove)"
    assert exit_code == 0 and took < 3 * DRAIN_TIMEOUT_S
    with log_a.open() as output:
        lines = json_lines(output)  # every line of server A's output is one JSON object
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "citytwin.access"]
    created = next(line for line in access if line["method"] == "POST" and line["path"] == "/sensors")
    assert created["route"] == "/sensors" and created["status"] == 201 and created["duration_ms"] > 0
    assert len(created["request_id"]) == 32
    assert any(line["message"].startswith("drained 1 websocket clients") for line in lines)
