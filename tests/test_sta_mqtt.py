"""The SensorThings MQTT extension on the bridge's broker (a real mosquitto, a real server on a real PostGIS):
new Observations published as STA JSON on `v1.1/Datastreams('id')/Observations`, and Observations created by
publishing there validated and stored like HTTP readings."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.conftest import _drop_database, _fresh_database, serving_app
from tests.helpers.city import add_house_and_street
from tests.test_live_mqtt import Device, wait_for
from twin.api import create_app
from twin.db import Database, create_db_engine
from twin.live.broker import MosquittoBroker
from twin.live.mqtt_bridge import MqttBridge
from twin.live.state import to_us
from twin.settings import Settings
from twin.sta import mqtt as sta_mqtt

SENSORS = [{"id": "GAS-1", "kind": "gas", "object_id": "house.b"},
           {"id": "SMOKE-1", "kind": "smoke", "object_id": "house.b"}]
GAS_TOPIC = "v1.1/Datastreams('GAS-1')/Observations"


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class StaCity:
    base: str
    app: FastAPI
    broker: MosquittoBroker

    @property
    def bridge(self) -> MqttBridge:
        return self.app.state.mqtt.bridge  # type: ignore[no-any-return]

    def observations(self, sensor: str) -> list[Any]:
        answer = httpx.get(f"{self.base}/sta/v1.1/Datastreams('{sensor}')/Observations",
                           params={"$orderby": "phenomenonTime"})
        return [o["result"] for o in answer.json()["value"]]


@pytest.fixture
def city(server_url: str, template_database: str, tmp_path: Path) -> Iterator[StaCity]:
    broker = MosquittoBroker(tmp_path / "broker")
    assert broker.start()
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    try:
        add_house_and_street(engine)
        app = create_app(Settings(database_url=url, data_dir=tmp_path / "data", mqtt_url=broker.url),
                         Database(engine))
        with serving_app(app) as base:
            assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
            city = StaCity(base, app, broker)
            wait_for(city.bridge.connected.is_set, what="the bridge to subscribe")
            yield city
    finally:
        engine.dispose()
        _drop_database(server_url, url)
        broker.stop()


def next_entity(device: Device, topic: str) -> Any:
    """The next message on `topic` that the server published (it carries an @iot.id)."""
    while True:
        got_topic, payload = device.next_message()
        if got_topic == topic and "@iot.id" in payload:
            return payload


def test_observation_messages_become_readings_or_say_why_not() -> None:
    now = "2026-12-02T08:00:00Z"
    items, reason, refused = sta_mqtt.unpack(GAS_TOPIC, orjson.dumps(
        [{"result": 3, "phenomenonTime": now, "resultTime": now}, {"result": 1, "Datastream": {"@iot.id": "X"}},
         {"phenomenonTime": now}, {"result": 1, "colour": "red"}, 7,
         {"result": 1, "phenomenonTime": f"{now}/{now}"}]), 10)
    assert items == [{"sensor": "GAS-1", "value": 3, "time": now}] and reason is None
    assert "not the topic's 'GAS-1'" in refused[1] and "needs a result" in refused[2]
    assert "unknown Observation members: colour" in refused[3] and "JSON object" in refused[4]
    assert "intervals are not supported" in refused[5]
    assert sta_mqtt.unpack("v1.1/Observations", b'{"result": 1, "Datastream": {"@iot.id": "WL-1"}}', 10)[0] == [
        {"sensor": "WL-1", "value": 1}]
    assert "name the Datastream" in sta_mqtt.unpack("v1.1/Observations", b'{"result": 1}', 10)[2][0]
    assert sta_mqtt.unpack("v1.1/Datastreams('it''s')/Observations", b'{"result": 1}', 10)[0][0]["sensor"] == "it's"
    assert "is not v1.1/Observations" in (sta_mqtt.unpack("v1.1/Things/Observations", b"{}", 10)[1] or "")
    assert "not JSON" in (sta_mqtt.unpack(GAS_TOPIC, b"{", 10)[1] or "")
    published = sta_mqtt.observation_json("GAS-1", 5, 1.0, False)
    assert sta_mqtt.unpack(GAS_TOPIC, published, 10) == ([], None, {})  # the server's own: skipped


def test_readings_posted_over_http_are_published_as_sta_observations(city: StaCity) -> None:
    device = Device(city.broker.url)
    try:
        device.subscribe("v1.1/Datastreams('SMOKE-1')/Observations")
        device.subscribe(GAS_TOPIC)
        now = datetime.now(UTC).replace(microsecond=0)
        httpx.post(f"{city.base}/readings", json=[{"sensor": "GAS-1", "time": iso(now), "value": 4.5},
                                                  {"sensor": "SMOKE-1", "time": iso(now), "value": 1}])
        gas = next_entity(device, GAS_TOPIC)
        assert gas == {"@iot.id": f"GAS-1~{to_us(now)}", "phenomenonTime": iso(now), "resultTime": iso(now),
                       "result": 4.5, "Datastream": {"@iot.id": "GAS-1"}}
        assert next_entity(device, "v1.1/Datastreams('SMOKE-1')/Observations")["result"] is True
        http = httpx.get(f"{city.base}/sta/v1.1/Observations('{gas['@iot.id']}')").json()
        assert {k: http[k] for k in ("@iot.id", "phenomenonTime", "result")} == {
            k: gas[k] for k in ("@iot.id", "phenomenonTime", "result")}
    finally:
        device.close()


def test_observations_published_by_a_device_are_stored_acknowledged_and_published_back(city: StaCity) -> None:
    device, monitor = Device(city.broker.url), Device(city.broker.url)
    try:
        monitor.subscribe(GAS_TOPIC)
        monitor.subscribe("citytwin/errors/#")
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        device.publish(GAS_TOPIC, {"result": 2.5, "phenomenonTime": iso(now)})
        assert next_entity(monitor, GAS_TOPIC)["result"] == 2.5
        device.publish("v1.1/Observations", {"result": 3.5, "phenomenonTime": iso(now + timedelta(seconds=1)),
                                             "Datastream": {"@iot.id": "GAS-1"}})
        assert next_entity(monitor, GAS_TOPIC)["result"] == 3.5
        wait_for(lambda: city.observations("GAS-1") == [2.5, 3.5], what="both observations stored")
        device.publish(GAS_TOPIC, {"result": "high", "phenomenonTime": iso(now + timedelta(seconds=2))})
        while True:
            topic, error = monitor.next_message()
            if topic.startswith("citytwin/errors/"):
                break
        assert error["topic"] == GAS_TOPIC and "must be a number" in error["rejected"][0]["reason"]
        device.publish(GAS_TOPIC, {"result": 2.5, "phenomenonTime": iso(now)})  # again: a duplicate
        wait_for(lambda: city.bridge.stats.acknowledged == 4, what="every device message acknowledged")
        assert city.bridge.stats.accepted == 2 and city.bridge.stats.duplicates == 1
        with pytest.raises(queue.Empty):  # nothing new was stored, so nothing new is published
            while True:
                topic, payload = monitor.next_message(timeout=0.5)
                assert "@iot.id" not in payload or payload["result"] != 2.5
    finally:
        device.close()
        monitor.close()
    assert city.observations("GAS-1") == [2.5, 3.5]


def test_a_publish_packet_is_mqtt_3_1_1_publish_at_qos_0_with_a_varint_length() -> None:
    small = sta_mqtt.publish_packet("a/b", b"xy")
    assert small == b"\x30\x07\x00\x03a/bxy"
    big = sta_mqtt.publish_packet(GAS_TOPIC, b"x" * 300)
    remaining = 2 + len(GAS_TOPIC) + 300
    assert big[:3] == bytes([0x30, remaining % 128 | 0x80, remaining // 128]) and len(big) == 3 + remaining
