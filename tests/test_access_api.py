"""Roles and keys on a running server (real PostGIS, uvicorn with the lean protocol): every operation of the
OpenAPI spec with every role and with none, keys made and revoked while it runs, device keys, the websocket,
rate limits and the viewer's key cookie."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
from sqlalchemy import Engine
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from tests.conftest import _drop_database, _fresh_database, serving
from tests.helpers.city import EAST_ROOM_CENTRE, add_house_and_street
from twin.access.policy import roles_for
from twin.access.roles import Role, satisfies
from twin.access.store import create_key, revoke_key
from twin.db import Database, create_db_engine
from twin.settings import Settings

ROLES = ("viewer", "operator", "admin", "device")


@dataclass
class Guarded:
    base: str
    engine: Engine
    keys: dict[str, str]


@pytest.fixture(scope="module")
def guarded(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    try:
        add_house_and_street(engine)
        keys = {role: create_key(engine, role, f"test {role}", ["S-OWN"] if role == "device" else []).token
                for role in ROLES}
        settings = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("access"), mqtt=False,
                            ws_max_message_kb=64, ws_messages_per_s=5, ws_message_burst=10)
        with serving(settings, Database(engine)) as base:
            answer = httpx.post(f"{base}/sensors", headers=_bearer(keys["admin"]), json=[
                {"id": "S-OWN", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4.5]},
                {"id": "S-OTHER", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4.5]}])
            assert answer.status_code == 201, answer.text
            yield Guarded(base, engine, keys)
    finally:
        engine.dispose()
        _drop_database(server_url, url)


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _operations(base: str) -> list[tuple[str, str]]:
    spec = httpx.get(f"{base}/openapi.json").json()
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def test_every_operation_answers_401_without_a_key_403_for_a_weaker_role_and_goes_on_for_a_strong_enough_one(
        guarded: Guarded) -> None:
    operations = _operations(guarded.base)
    assert len(operations) >= 60
    wrong: list[str] = []
    with httpx.Client(base_url=guarded.base, timeout=30) as client:
        for method, template in operations:
            path = re.sub(r"\{[^}]+\}", "x", template)
            needs = roles_for(method, path)
            for role in (None, *ROLES):
                status = client.request(method, path, headers=_bearer(guarded.keys[role] if role else None)).status_code
                allowed = Role.PUBLIC in needs or (role is not None and any(satisfies(Role(role), n) for n in needs))
                expected = "allowed" if allowed else ("401" if role is None else "403")
                got = "401" if status == 401 else "403" if status == 403 else "allowed"
                if got != expected:
                    wrong.append(f"{method} {template} as {role or 'nobody'}: {status}, expected {expected}")
    assert wrong == []


@pytest.mark.parametrize("method,path,role", [
    ("POST", "/events", "viewer"), ("POST", "/sensors", "operator"), ("DELETE", "/plans/p1", "operator"),
    ("GET", "/sensors", "device"), ("POST", "/readings", "operator"), ("GET", "/jobs", "operator"),
    ("PUT", "/thresholds/gas", "operator"), ("POST", "/drills/runs/r1/stop", "viewer")])
def test_a_role_too_weak_is_refused_with_a_json_reason(guarded: Guarded, method: str, path: str, role: str) -> None:
    answer = httpx.request(method, f"{guarded.base}{path}", headers=_bearer(guarded.keys[role]))
    assert answer.status_code == 403
    assert answer.json()["detail"].endswith(f"this key has role {role}")


def test_no_key_or_a_bad_key_is_401_with_the_bearer_challenge_even_on_the_fast_paths(guarded: Guarded) -> None:
    for path in ("/query/near?lon=13.43&lat=52.53&radius=50", "/tilesets/x/tileset.json", "/objects/house.b"):
        answer = httpx.get(f"{guarded.base}{path}")
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer") and "API key" in answer.json()["detail"]
    bad = httpx.get(f"{guarded.base}/sensors", headers=_bearer("ctk_0123456789ab_" + "A" * 43))
    assert bad.status_code == 401 and bad.json() == {"detail": "unknown or revoked API key"}
    garbled = httpx.get(f"{guarded.base}/sensors", headers=_bearer("letmein"))
    assert garbled.status_code == 401 and "not a CityTwin API key" in garbled.json()["detail"]
    viewer = httpx.get(f"{guarded.base}/query/near?lon=13.43&lat=52.53&radius=50",
                       headers=_bearer(guarded.keys["viewer"]))
    assert viewer.status_code == 200 and viewer.json()["features"]


def test_the_viewer_page_and_its_configuration_stay_public(guarded: Guarded) -> None:
    assert httpx.get(f"{guarded.base}/viewer/config.json").status_code == 200
    assert httpx.get(f"{guarded.base}/").status_code in (200, 404)  # 404 only where the viewer is not installed


def test_a_key_made_while_the_server_runs_works_at_once_and_a_revoked_one_stops_at_once(guarded: Guarded) -> None:
    key = create_key(guarded.engine, "viewer", "late")

    def status() -> int:
        return httpx.get(f"{guarded.base}/sensors", headers=_bearer(key.token)).status_code

    deadline = time.monotonic() + 5
    while status() != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status() == 200
    assert revoke_key(guarded.engine, key.key_id) and not revoke_key(guarded.engine, key.key_id)
    deadline = time.monotonic() + 5
    while status() != 401 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status() == 401


def test_a_device_key_posts_readings_for_its_own_sensors_and_each_other_one_is_rejected_with_the_reason(
        guarded: Guarded) -> None:
    answer = httpx.post(f"{guarded.base}/readings", headers=_bearer(guarded.keys["device"]),
                        json=[{"sensor": "S-OWN", "value": 1.5}, {"sensor": "S-OTHER", "value": 2.5},
                              {"sensor": "S-NONE", "value": 3.5}])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "reason": "sensor 'S-OTHER' is not one of this device key's sensors"},
                                {"index": 2, "reason": "sensor 'S-NONE' is not one of this device key's sensors"}]
    admin = httpx.post(f"{guarded.base}/readings", headers=_bearer(guarded.keys["admin"]),
                       json=[{"sensor": "S-OTHER", "value": 2.5}])
    assert admin.json()["accepted"] == 1  # an admin may post for any sensor


def _ws(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


def test_the_websocket_refuses_a_handshake_without_a_key_and_takes_one_as_header_or_query(guarded: Guarded) -> None:
    with pytest.raises(InvalidStatus) as refused, connect(_ws(guarded.base)):
        pass
    assert refused.value.response.status_code == 401
    for options in ({"additional_headers": _bearer(guarded.keys["viewer"])}, {}):
        url = _ws(guarded.base) + ("" if options else f"?key={guarded.keys['viewer']}")
        with connect(url, **options) as socket:  # type: ignore[arg-type]
            socket.send(orjson.dumps({"op": "subscribe", "kinds": ["gas"]}).decode())
            first = orjson.loads(socket.recv(timeout=10))
            assert (first[0] if isinstance(first, list) else first)["type"] == "snapshot"


def _until(socket: Connection, kind: str) -> dict[str, Any]:
    while True:
        frame = orjson.loads(socket.recv(timeout=10))
        for message in frame if isinstance(frame, list) else [frame]:
            if message["type"] == kind:
                return cast(dict[str, Any], message)


def test_on_the_websocket_only_device_keys_post_readings_and_only_for_their_sensors(guarded: Guarded) -> None:
    readings = {"op": "readings", "id": 1, "readings": [{"sensor": "S-OWN", "value": 1}, {"sensor": "S-OTHER",
                                                                                         "value": 1}]}
    with connect(_ws(guarded.base), additional_headers=_bearer(guarded.keys["viewer"])) as socket:
        socket.send(orjson.dumps(readings).decode())
        assert "needs a device or admin key" in str(_until(socket, "error")["reason"])
    with connect(_ws(guarded.base), additional_headers=_bearer(guarded.keys["device"])) as socket:
        socket.send(orjson.dumps(readings).decode())
        ack = _until(socket, "ack")
        assert ack["accepted"] == 1 and ack["rejected"] == [
            {"index": 1, "reason": "sensor 'S-OTHER' is not one of this device key's sensors"}]
        socket.send(orjson.dumps({"op": "subscribe", "kinds": ["gas"]}).decode())
        assert "a device key may only send readings and ping" in str(_until(socket, "error")["reason"])


def test_a_websocket_message_over_the_size_limit_closes_the_connection_with_1009(guarded: Guarded) -> None:
    with connect(_ws(guarded.base), additional_headers=_bearer(guarded.keys["viewer"])) as socket:
        socket.send(orjson.dumps({"op": "ping", "pad": "x" * 70_000}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_websocket_messages_past_the_rate_are_answered_with_an_error_and_not_run(guarded: Guarded) -> None:
    with connect(_ws(guarded.base), additional_headers=_bearer(guarded.keys["viewer"])) as socket:
        for i in range(30):
            socket.send(orjson.dumps({"op": "ping", "id": i}).decode())
        answers: list[dict[str, object]] = []
        while len(answers) < 30:
            frame = orjson.loads(socket.recv(timeout=10))
            answers += [m for m in (frame if isinstance(frame, list) else [frame]) if m["type"] != "heartbeat"]
    pongs = [m for m in answers if m["type"] == "pong"]
    refused = [m for m in answers if m["type"] == "error"]
    assert 10 <= len(pongs) < 30 and len(pongs) + len(refused) == 30
    assert "messages per second" in str(refused[0]["reason"]) and float(refused[0]["retry_after_s"]) > 0  # type: ignore[arg-type]


def test_a_key_past_its_rate_gets_429_with_retry_after_and_other_keys_go_on(guarded: Guarded) -> None:
    hasty = create_key(guarded.engine, "viewer", "hasty").token
    time.sleep(0.5)  # the notice
    statuses = []
    with httpx.Client(base_url=guarded.base, headers=_bearer(hasty)) as client:
        for _ in range(400):
            answer = client.get("/viewer/config.json")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1 and "rate limit" in answer.json()["detail"]
                break
    assert statuses[-1] == 429 and len(statuses) > 200  # the burst (200) went through first
    other = httpx.get(f"{guarded.base}/sensors", headers=_bearer(guarded.keys["viewer"]))
    assert other.status_code == 200


def test_the_viewer_opened_with_its_key_keeps_it_in_a_strict_http_only_cookie_for_its_own_requests(
        guarded: Guarded) -> None:
    with httpx.Client(base_url=guarded.base) as browser:
        page = browser.get("/", params={"key": guarded.keys["viewer"]})
        if page.status_code == 404:
            pytest.skip("the viewer is not installed")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("citytwin_key=ctk_") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/sensors").status_code == 200  # the cookie alone
        assert browser.post("/events", json={}).status_code == 403  # still a viewer
        cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    with connect(_ws(guarded.base), additional_headers={"Cookie": cookies}) as socket:
        socket.send(orjson.dumps({"op": "ping", "id": 1}).decode())
        assert _until(socket, "pong")["id"] == 1
    assert httpx.get(f"{guarded.base}/", params={"key": "ctk_0123456789ab_" + "A" * 43}).status_code == 401


def test_tile_and_viewer_file_paths_never_leave_their_folder(guarded: Guarded, tmp_path: Path) -> None:
    headers = _bearer(guarded.keys["viewer"])
    for path in ("/tilesets/x/..%2F..%2Fetc%2Fpasswd", "/tilesets/x/%2e%2e/%2e%2e/etc/passwd",
                 "/tilesets/x/content/..%5C..%5Cetc", "/viewer/src/..%2F..%2Fpyproject.toml",
                 "/viewer/src/%2e%2e/%2e%2e/pyproject.toml", "/viewer/cesium/..%2F..%2F..%2Fpyproject.toml"):
        answer = httpx.get(f"{guarded.base}{path}", headers=headers)
        assert answer.status_code in (400, 404), path
        assert b"[project]" not in answer.content and b"root:" not in answer.content
