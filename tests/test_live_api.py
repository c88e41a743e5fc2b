"""The live twin end to end on a real PostGIS: sensors, readings over HTTP and websocket, alarms, subscriptions,
resume, the state at an instant and its replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import populated_server
from tests.helpers.city import DLAT, DLON, EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON, add_house_and_street
from tests.helpers.live import live_client

FAR = (HOUSE_LON + 0.05, HOUSE_LAT + 0.05)  # ≈ 5 km away


@pytest.fixture
def city_and_engine(server_url: str, template_database: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with populated_server(server_url, template_database, tmp_path, add_house_and_street) as served:
        yield served


@pytest.fixture
def city(city_and_engine: tuple[str, Engine]) -> str:
    return city_and_engine[0]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def add_sensors(base: str) -> None:
    sensors = [
        {"id": "GAS-EAST-1", "kind": "gas", "position": [*EAST_ROOM_CENTRE, 4.5],
         "thresholds": {"direction": "above", "levels": {"yellow": 10, "red": 25}, "hysteresis": 2,
                        "min_duration_s": 0}},
        {"id": "WL-FAR-1", "kind": "water_level", "position": [*FAR, 0]},
        {"id": "SMOKE-B", "kind": "smoke", "object_id": "house.b"},
    ]
    answer = httpx.post(f"{base}/sensors", json=sensors)
    assert answer.status_code == 201, answer.text
    assert [s["object_id"] for s in answer.json()["stored"]] == ["house.s1.east", None, "house.b"]


def test_a_sensor_placed_in_a_room_is_bound_to_that_room_and_listed_with_its_object(city: str) -> None:
    add_sensors(city)
    listed = httpx.get(f"{city}/sensors", params={"object": "house.b"}).json()
    assert {s["id"] for s in listed["sensors"]} == {"GAS-EAST-1", "SMOKE-B"}
    one = httpx.get(f"{city}/sensors/GAS-EAST-1").json()
    assert one["object_id"] == "house.s1.east" and one["unit"] == "%LEL" and one["latest"] is None


def test_bad_sensors_are_refused_with_their_reason(city: str) -> None:
    for body, reason in (({"id": "X", "kind": "volcano", "position": [13, 52]}, "unknown sensor kind"),
                         ({"id": "X", "kind": "gas"}, "needs a position or an object_id"),
                         ({"id": "bad code!", "kind": "gas", "position": [13, 52]}, "device code"),
                         ({"id": "X", "kind": "gas", "position": [13, 95]}, "lat must lie"),
                         ({"id": "X", "kind": "gas", "position": [13, 52], "thresholds": {"levels": {"red": 1,
                                                                                          "blue": 5}}}, "rise")):
        answer = httpx.post(f"{city}/sensors", json=body)
        assert answer.status_code == 400 and reason in answer.json()["detail"], answer.text
    assert httpx.get(f"{city}/sensors").json()["matched"] == 0


def test_readings_are_checked_one_by_one_and_resending_is_idempotent(city: str) -> None:
    add_sensors(city)
    now = datetime.now(UTC)
    batch = [{"sensor": "GAS-EAST-1", "time": iso(now - timedelta(seconds=10)), "value": 3.0},
             {"sensor": "NOPE", "time": iso(now), "value": 1},
             {"sensor": "GAS-EAST-1", "time": iso(now), "value": "high"},
             {"sensor": "GAS-EAST-1", "time": iso(now), "value": 2, "unit": "ppm"},
             {"sensor": "GAS-EAST-1", "time": iso(now + timedelta(hours=2)), "value": 2},
             {"sensor": "GAS-EAST-1", "time": iso(now - timedelta(days=400)), "value": 2},
             {"sensor": "GAS-EAST-1", "time": "yesterday", "value": 2},
             {"sensor": "SMOKE-B", "time": iso(now), "value": 0.5},
             {"sensor": "GAS-EAST-1", "time": iso(now - timedelta(seconds=5)), "value": 4.0}]
    result = httpx.post(f"{city}/readings", json=batch).json()
    assert result["accepted"] == 2 and result["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert "unknown sensor" in reasons[1] and "number" in reasons[2] and "unit mismatch" in reasons[3]
    assert "future" in reasons[4] and "retention" in reasons[5] and "ISO 8601" in reasons[6]
    assert "0 or 1" in reasons[7]
    again = httpx.post(f"{city}/readings", json=batch[:1]).json()
    assert again == {"accepted": 0, "duplicates": 1, "rejected": []}
    ndjson = b'{"sensor": "GAS-EAST-1", "value": 5}\n{not json\n'
    answer = httpx.post(f"{city}/readings", content=ndjson, headers={"content-type": "application/x-ndjson"}).json()
    assert answer["accepted"] == 1 and "not JSON" in answer["rejected"][0]["reason"]
    latest = httpx.get(f"{city}/sensors/latest", params={"kind": "gas"}).json()["latest"]
    assert latest[0]["value"] == 5 and latest[0]["online"] is True
    history = httpx.get(f"{city}/sensors/GAS-EAST-1/readings").json()["readings"]
    assert [r["value"] for r in history] == [3.0, 4.0, 5.0]
    buckets = httpx.get(f"{city}/sensors/GAS-EAST-1/readings", params={"bucket": "1d"}).json()["readings"]
    assert sum(b["count"] for b in buckets) == 3 and max(b["max"] for b in buckets) == 5.0


def test_a_batch_over_the_limit_is_refused_whole(city: str) -> None:
    add_sensors(city)
    answer = httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 1}] * 10_001)
    assert answer.status_code == 413
    assert httpx.post(f"{city}/readings", content=b"[1, 2", headers={"content-type": "application/json"}
                      ).status_code == 400


def test_a_subscriber_of_the_house_gets_its_readings_and_alarms_and_one_far_away_does_not(city: str) -> None:
    add_sensors(city)
    box = [HOUSE_LON - 0.001, HOUSE_LAT - 0.001, HOUSE_LON + DLON + 0.001, HOUSE_LAT + DLAT + 0.001]
    with live_client(city) as near, live_client(city) as far:
        snapshot = near.subscribe(bbox=box)
        assert snapshot["type"] == "snapshot" and {s["id"] for s in snapshot["sensors"]} == {"GAS-EAST-1"}
        far.subscribe(radius={"lon": FAR[0], "lat": FAR[1], "m": 200})
        now = datetime.now(UTC)
        httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "time": iso(now), "value": 30.0},
                                            {"sensor": "WL-FAR-1", "time": iso(now), "value": 0.05}])
        reading = near.until(lambda m: m["type"] == "reading")
        assert reading["sensor"] == "GAS-EAST-1" and reading["value"] == 30.0
        alarm = near.until(lambda m: m["type"] == "alarm")
        assert alarm["action"] == "raised" and alarm["level"] == "red" and alarm["object"] == "house.s1.east"
        far_got = far.quiet(0.5)
        assert [m["sensor"] for m in far_got if m["type"] == "reading"] == ["WL-FAR-1"]
        assert not [m for m in far_got if m.get("sensor") == "GAS-EAST-1"]
        event = near.until(lambda m: m["type"] == "event")["event"]
        assert event["source"] == "alarm" and event["kind"] == "gas_leak" and event["object_id"] == "house.s1.east"


def test_a_subscription_by_object_with_children_takes_the_sensors_of_its_rooms(city: str) -> None:
    add_sensors(city)
    with live_client(city) as client:
        only = client.subscribe(objects=["house.b"])
        assert {s["id"] for s in only["sensors"]} == {"SMOKE-B"}
        family = client.subscribe(objects=["house.b"], children=True, channels=["readings"])
        assert {s["id"] for s in family["sensors"]} == {"SMOKE-B", "GAS-EAST-1"}


def test_acknowledging_an_alarm_records_who_and_pushes_it(city: str) -> None:
    add_sensors(city)
    httpx.post(f"{city}/readings", json=[{"sensor": "SMOKE-B", "value": 1}])
    deadline = time.monotonic() + 5
    while not (alarms := httpx.get(f"{city}/alarms").json()["alarms"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alarms[0]["level"] == "red" and alarms[0]["object"] == "house.b"
    with live_client(city) as client:
        client.subscribe(objects=["house.b"])
        answer = httpx.post(f"{city}/alarms/{alarms[0]['id']}/acknowledge", json={"by": "officer Wang"})
        assert answer.status_code == 200 and answer.json()["acknowledged_by"] == "officer Wang"
        pushed = client.until(lambda m: m["type"] == "alarm" and m["action"] == "acknowledged")
        assert pushed["acknowledged_by"] == "officer Wang"
    assert httpx.post(f"{city}/alarms/{alarms[0]['id']}/acknowledge", json={}).status_code == 400
    assert httpx.post(f"{city}/alarms/00000000-0000-0000-0000-000000000000/acknowledge",
                      json={"by": "x"}).status_code == 404


def test_a_gateway_posts_readings_over_the_websocket_and_gets_per_item_results(city: str) -> None:
    add_sensors(city)
    with live_client(city) as gateway:
        gateway.send({"op": "readings", "id": 7, "readings": [{"sensor": "WL-FAR-1", "value": 0.02},
                                                              {"sensor": "WL-FAR-1", "value": float("inf")}]})
        ack = gateway.until(lambda m: m["type"] == "ack")
        assert ack["id"] == 7 and ack["accepted"] == 1 and ack["rejected"][0]["index"] == 1
        gateway.send({"op": "fly"})
        assert "unknown op" in gateway.until(lambda m: m["type"] == "error")["reason"]
    assert httpx.get(f"{city}/sensors/WL-FAR-1").json()["latest"]["value"] == 0.02


def test_a_client_resuming_from_its_last_sequence_gets_what_it_missed_without_a_gap(city: str) -> None:
    add_sensors(city)
    with live_client(city) as client:
        snapshot = client.subscribe(channels=["readings", "alarms"])
        httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 1.0}])
        last = client.until(lambda m: m["type"] == "reading")["seq"]
        assert last > snapshot["seq"]
    httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 12.0}])  # yellow, while away
    httpx.post(f"{city}/readings", json=[{"sensor": "WL-FAR-1", "value": 0.01}])
    with live_client(city) as client:
        resumed = client.subscribe(channels=["readings", "alarms"], resume=last)
        assert resumed["type"] == "resumed"
        kinds = [(m["type"], m.get("sensor")) for m in resumed["messages"]]
        assert ("alarm", "GAS-EAST-1") in kinds and ("reading", "GAS-EAST-1") in kinds
        assert ("reading", "WL-FAR-1") in kinds
        assert all(m["seq"] > last for m in resumed["messages"])
        stale = client.subscribe(resume=1)
        assert stale["type"] == "snapshot" and stale["resnapshot"] is True


def test_the_state_at_an_instant_equals_the_replay_up_to_it(city: str) -> None:
    add_sensors(city)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    values = [2.0, 11.0, 30.0, 26.0, 5.0, 7.0]
    for i, value in enumerate(values):
        httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "time": iso(t0 + timedelta(minutes=i + 1)),
                                              "value": value}])
    middle = t0 + timedelta(minutes=3, seconds=30)
    deadline = time.monotonic() + 10
    while True:  # alarm transitions are stored just after their readings
        expected = httpx.get(f"{city}/state", params={"at": iso(middle)}).json()
        settled = httpx.get(f"{city}/state", params={"at": iso(t0 + timedelta(minutes=7))}).json()
        if (expected["alarms"] and expected["alarms"][0]["level"] == "red" and not settled["alarms"]) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [r["value"] for r in expected["readings"]] == [30.0]
    assert [a["level"] for a in expected["alarms"]] == ["red"]
    at_end = httpx.get(f"{city}/state", params={"at": iso(t0 + timedelta(minutes=7))}).json()
    assert at_end["alarms"] == [] and at_end["readings"][0]["value"] == 7.0
    from twin.live.history import fold

    with live_client(city) as client:
        client.subscribe()
        client.send({"op": "replay", "from": iso(t0), "to": iso(middle), "speed": 1000})
        state = client.until(lambda m: m["type"] == "snapshot" and m.get("mode") == "replay")
        assert state["readings"] == [] and state["alarms"] == []
        while True:
            message = client.until(lambda m: m.get("replay") is True or m["type"] == "replay_end")
            if message["type"] == "replay_end":
                break
            fold(state, message)
        assert state["readings"] == expected["readings"]
        assert state["alarms"] == expected["alarms"]
        assert state["events"] == expected["events"] and expected["events"][0]["kind"] == "gas_leak"
        client.send({"op": "seek", "time": iso(t0 + timedelta(minutes=2, seconds=30))})
        seeked = client.until(lambda m: m["type"] == "snapshot" and m.get("mode") == "replay")
        assert [r["value"] for r in seeked["readings"]] == [11.0]
        client.send({"op": "live"})
        live = client.until(lambda m: m["type"] == "snapshot" and m.get("mode") is None)
        assert [r["value"] for r in live["readings"]] == [7.0] and not live.get("resnapshot")


def test_an_object_shows_the_sensors_on_it_and_its_rooms_with_their_values_alarms_and_events(city: str) -> None:
    add_sensors(city)
    httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 30.0}, {"sensor": "SMOKE-B", "value": 0}])
    deadline = time.monotonic() + 5
    while True:
        live = httpx.get(f"{city}/objects/house.b").json()["live"]
        if live["events"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {s["id"] for s in live["sensors"]} == {"GAS-EAST-1", "SMOKE-B"}
    assert live["alarm_level"] == "red" and live["events"][0]["kind"] == "gas_leak"
    gas = next(s for s in live["sensors"] if s["id"] == "GAS-EAST-1")
    assert gas["latest"]["value"] == 30.0 and gas["alarm"]["level"] == "red"
    room = httpx.get(f"{city}/objects/house.s1.east/context").json()["live"]
    assert [s["id"] for s in room["sensors"]] == ["GAS-EAST-1"] and room["alarm_level"] == "red"
    west = httpx.get(f"{city}/objects/house.s1.west/context").json()["live"]
    assert west == {"sensors": [], "alarm_level": None, "events": []}


def test_a_changed_tileset_is_pushed_on_the_tilesets_channel(city_and_engine: tuple[str, Engine]) -> None:
    city, engine = city_and_engine
    with live_client(city) as client:
        client.subscribe(channels=["tilesets"])
        with engine.begin() as conn:  # as twin.retile sends it, at commit
            conn.execute(text("SELECT pg_notify('citytwin_tilesets', :p)"),
                         {"p": '{"type": "tileset_changed", "tileset": "house", "version": 7, "written": 2}'})
        message = client.until(lambda m: m["type"] == "tileset")
        assert message["tileset"] == "house" and message["version"] == 7


def test_sensors_are_an_ogc_collection_with_latest_values_and_alarm_levels(city: str) -> None:
    add_sensors(city)
    httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 30.0}])
    listed = [c["id"] for c in httpx.get(f"{city}/ogc/collections").json()["collections"]]
    assert "sensors" in listed
    page = httpx.get(f"{city}/ogc/collections/sensors/items", params={"limit": 1}).json()
    assert [f["id"] for f in page["features"]] == ["GAS-EAST-1"]
    following = next(link["href"] for link in page["links"] if link["rel"] == "next")
    assert [f["id"] for f in httpx.get(following).json()["features"]] == ["SMOKE-B"]
    box = f"{HOUSE_LON - 0.001},{HOUSE_LAT - 0.001},{HOUSE_LON + 0.01},{HOUSE_LAT + 0.01}"
    boxed = httpx.get(f"{city}/ogc/collections/sensors/items", params={"bbox": box}).json()["features"]
    assert [(f["id"], f["properties"]["value"], f["properties"]["alarm_level"]) for f in boxed] == [
        ("GAS-EAST-1", 30.0, "red")]
    assert boxed[0]["geometry"]["type"] == "Point"
    red = httpx.get(f"{city}/ogc/collections/sensors/items", params={"alarm_level": "red"}).json()["features"]
    assert [f["id"] for f in red] == ["GAS-EAST-1"]
    one = httpx.get(f"{city}/ogc/collections/sensors/items/WL-FAR-1").json()
    assert one["properties"]["kind"] == "water_level" and one["properties"]["online"] is False
    bad = httpx.get(f"{city}/ogc/collections/sensors/items", params={"filter": "value > 3"})
    assert bad.status_code == 400 and "CQL2" in bad.json()["detail"]
    assert httpx.get(f"{city}/ogc/collections/sensors/items/NOPE").status_code == 404
    queryables = httpx.get(f"{city}/ogc/collections/sensors/queryables").json()
    assert set(queryables["properties"]) == {"kind", "object_id", "online", "alarm_level"}


def test_gdal_reads_the_sensors_collection_with_their_latest_values(city: str) -> None:
    import re

    from tests.test_ogc_gdal import OGRINFO, _ogrinfo

    if OGRINFO is None:
        pytest.skip("ogrinfo (Debian gdal-bin) is not installed")
    add_sensors(city)
    httpx.post(f"{city}/readings", json=[{"sensor": "GAS-EAST-1", "value": 12.5}])
    out = _ogrinfo(f"OAPIF:{city}/ogc", "sensors")
    assert re.findall(r"^\s+value \(Real\) = (\S+)", out, re.MULTILINE)[0] == "12.5"
    assert "POINT Z (13.43" in out and "alarm_level (String) = yellow" in out
