"""Readings over MQTT end to end: a real mosquitto started by the tests (twin/live/broker.py), the bridge in a real
server on a real PostGIS, devices publishing with paho."""

from __future__ import annotations

import asyncio
import gc
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.matcher import MQTTMatcher
from sqlalchemy import Engine

from tests.conftest import _drop_database, _fresh_database, serving_app
from tests.helpers.city import add_house_and_street
from tests.helpers.live import live_client
from twin.api import create_app
from twin.db import Database, create_db_engine
from twin.live.broker import MosquittoBroker
from twin.live.mqtt_bridge import BrokerAddress, MqttBridge, TopicCallbacks
from twin.live.mqtt_messages import unpack
from twin.settings import Settings

SENSORS = [
    {"id": "GAS-1", "kind": "gas", "object_id": "house.b"},
    {"id": "WL-1", "kind": "water_level", "object_id": "house.b"},
]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


class Device:
    """A device (or a monitoring client) on the broker: paho with its network thread."""

    def __init__(self, url: str) -> None:
        address = BrokerAddress.parse(url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, orjson.loads(m.payload)))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)

    def next_message(self, timeout: float = 5.0) -> tuple[str, Any]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class MqttCity:
    base: str
    app: FastAPI
    engine: Engine
    broker: MosquittoBroker

    @property
    def bridge(self) -> MqttBridge:
        return self.app.state.mqtt.bridge  # type: ignore[no-any-return]

    def on_server(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's event loop (the bridge lives there)."""
        assert self.bridge.task is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.bridge.task.get_loop()).result(15)

    def stored(self, sensor: str) -> list[float]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT value FROM readings WHERE sensor_id = %(s)s ORDER BY time",
                                        {"s": sensor})
            return [row[0] for row in rows]

    def device(self) -> Device:
        return Device(self.broker.url)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "broker")
    assert broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def city(server_url: str, template_database: str, tmp_path: Path, broker: MosquittoBroker) -> Iterator[MqttCity]:
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    try:
        add_house_and_street(engine)
        settings = Settings(database_url=url, data_dir=tmp_path / "data", mqtt_url=broker.url)
        app = create_app(settings, Database(engine))
        with serving_app(app) as base:
            assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
            city = MqttCity(base, app, engine, broker)
            wait_for(city.bridge.connected.is_set, what="the bridge to subscribe")
            yield city
    finally:
        engine.dispose()
        _drop_database(server_url, url)


def test_message_payloads_that_carry_no_readings_are_refused_with_a_precise_reason() -> None:
    assert unpack("citytwin/readings/GAS-1", b"", 10).reason == "payload is empty"
    assert "not JSON" in (unpack("citytwin/readings/GAS-1", b"{value: 1", 10).reason or "")
    assert "at most 2 readings" in (unpack("citytwin/readings", b"[{}, {}, {}]", 2).reason or "")
    mixed = unpack("citytwin/readings/GAS-1", b'[{"value": 1}, 5, {"sensor": "WL-1", "value": 2}]', 10)
    assert mixed.items == [{"value": 1, "sensor": "GAS-1"}]
    assert "JSON object with time, value" in mixed.refused[1] and "not the topic's 'GAS-1'" in mixed.refused[2]
    assert unpack("citytwin/readings", b'{"sensor": "WL-1", "value": 1}', 10).items == [{"sensor": "WL-1",
                                                                                        "value": 1}]


def _cycles_left_by_matching(matcher: MQTTMatcher, messages: int) -> int:
    """Objects the cycle collector alone frees after `messages` topics were matched as paho matches them."""
    gc.collect()
    gc.disable()
    try:
        for i in range(messages):
            list(matcher.iter_match(f"v1.1/Datastreams('S-{i}')/Observations"))
        return gc.collect()
    finally:
        gc.enable()


def test_matching_each_message_against_topic_callbacks_leaves_no_reference_cycles() -> None:
    assert _cycles_left_by_matching(MQTTMatcher(), 100) >= 100  # paho's own: a cycle per message
    assert _cycles_left_by_matching(TopicCallbacks(), 100) == 0
    callbacks = TopicCallbacks()
    callbacks["v1.1/+/Observations"] = "on-observation"  # one added still matches as paho's would
    assert list(callbacks.iter_match("v1.1/Datastreams('S-1')/Observations")) == ["on-observation"]
    assert list(callbacks.iter_match("citytwin/readings/S-1")) == []


def test_readings_published_over_mqtt_land_in_the_database_and_reach_a_websocket_subscriber(
        city: MqttCity) -> None:
    now = datetime.now(UTC) - timedelta(seconds=5)
    device = city.device()
    try:
        with live_client(city.base) as client:
            client.subscribe(objects=["house.b"], channels=["readings"])
            device.publish("citytwin/readings/GAS-1", {"time": iso(now), "value": 3.5, "unit": "%LEL"})
            reading = client.until(lambda m: m["type"] == "reading" and m["sensor"] == "GAS-1")
            assert reading["value"] == 3.5
            device.publish("citytwin/readings", [{"sensor": "WL-1", "time": now.timestamp(), "value": 0.2},
                                                 {"sensor": "GAS-1", "time": iso(now + timedelta(seconds=1)),
                                                  "value": 4.0}])
            reading = client.until(lambda m: m["type"] == "reading" and m["sensor"] == "WL-1")
            assert reading["value"] == 0.2
    finally:
        device.close()
    assert city.stored("GAS-1") == [3.5, 4.0] and city.stored("WL-1") == [0.2]
    history = httpx.get(f"{city.base}/sensors/GAS-1/readings").json()["readings"]
    assert [r["value"] for r in history] == [3.5, 4.0]
    assert city.bridge.stats.acknowledged == 2 and city.bridge.stats.rejected == 0


def test_a_malformed_reading_gets_its_reason_on_the_errors_topic_and_its_batch_mates_still_land(
        city: MqttCity) -> None:
    now = datetime.now(UTC)
    monitor, device = city.device(), city.device()
    try:
        monitor.subscribe("citytwin/errors/#")
        device.publish("citytwin/readings", [{"sensor": "GAS-1", "time": iso(now), "value": 1.0},
                                             {"sensor": "GAS-1", "time": iso(now), "value": "high"},
                                             {"sensor": "NOPE", "value": 1},
                                             {"sensor": "WL-1", "time": iso(now), "value": 0.3}])
        topic, error = monitor.next_message()
        assert topic == "citytwin/errors/batch" and error["topic"] == "citytwin/readings"
        assert [r["index"] for r in error["rejected"]] == [1, 2]
        reasons = [r["reason"] for r in error["rejected"]]
        assert "must be a number" in reasons[0] and "unknown sensor 'NOPE'" in reasons[1]
        device.publish("citytwin/readings/WL-1", b"not json")
        topic, error = monitor.next_message()
        assert topic == "citytwin/errors/WL-1" and "not JSON" in error["reason"]
        device.publish("citytwin/readings/WL-1", {"time": iso(now + timedelta(seconds=1)), "value": 0.4,
                                                  "unit": "ft"})
        topic, error = monitor.next_message()
        assert topic == "citytwin/errors/WL-1" and "unit mismatch" in error["rejected"][0]["reason"]
    finally:
        monitor.close()
        device.close()
    assert city.stored("GAS-1") == [1.0] and city.stored("WL-1") == [0.3]
    assert city.bridge.stats.acknowledged == 3  # refused messages are acknowledged: sending them again is no use


REFUSE = """CREATE FUNCTION refuse_readings() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'readings refused for the test'; END $$;
CREATE TRIGGER refuse_readings BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION refuse_readings()"""


def test_a_message_is_acknowledged_only_after_its_commit_so_one_the_database_refused_is_redelivered_and_stored(
        city: MqttCity) -> None:
    with city.engine.begin() as conn:
        conn.exec_driver_sql(REFUSE)
    device = city.device()
    try:
        device.publish("citytwin/readings/GAS-1", {"value": 7.0})  # once, and never again
    finally:
        device.close()
    wait_for(lambda: city.bridge.stats.storage_failures >= 2, what="a failed commit and its redelivery")
    assert city.stored("GAS-1") == [] and city.bridge.stats.acknowledged == 0
    with city.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_readings ON readings")
    assert wait_for(lambda: city.stored("GAS-1"), what="the redelivered reading") == [7.0]
    wait_for(lambda: city.bridge.stats.acknowledged == 1, what="the acknowledgement")


def test_a_retained_reading_is_taken_once_not_again_at_every_reconnect(city: MqttCity) -> None:
    device = city.device()
    try:
        device.publish("citytwin/readings/GAS-1", {"value": 1.5}, retain=True)  # no time: the time of receipt
    finally:
        device.close()
    wait_for(lambda: city.stored("GAS-1"), what="the reading")
    city.on_server(city.bridge.stop())
    city.on_server(city.bridge.start())  # subscribes again: the broker sends its retained copy
    wait_for(lambda: city.bridge.stats.acknowledged == 2, what="the retained copy")
    assert city.stored("GAS-1") == [1.5]


def publish_series(device: Device, start: datetime, count: int) -> None:
    for i in range(count):
        device.publish("citytwin/readings/WL-1", {"time": iso(start + timedelta(seconds=i)), "value": i / 100})


def test_the_bridge_reconnects_after_the_broker_restarts_and_keeps_its_session(city: MqttCity) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    city.broker.stop()
    wait_for(lambda: not city.bridge.connected.is_set(), what="the bridge to notice")
    city.broker.start()  # same port, sessions restored from the persistence file
    device = city.device()
    try:
        publish_series(device, start, 100)  # most likely before the bridge is back: queued in its session
    finally:
        device.close()
    wait_for(lambda: len(city.stored("WL-1")) == 100, what="every reading")
    assert city.bridge.stats.connections >= 2


def test_nothing_published_with_qos_1_while_the_bridge_was_away_is_lost_even_across_a_broker_restart(
        city: MqttCity) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    city.on_server(city.bridge.stop())
    device = city.device()
    try:
        publish_series(device, start, 200)
    finally:
        device.close()
    city.broker.stop()
    city.broker.start()
    assert city.stored("WL-1") == []
    city.on_server(city.bridge.start())
    wait_for(lambda: len(city.stored("WL-1")) == 200, what="every queued reading")
    assert city.stored("WL-1") == [i / 100 for i in range(200)]


def test_two_workers_share_the_subscription_so_each_message_is_stored_once(city: MqttCity) -> None:
    city.on_server(city.bridge.stop())
    settings = city.app.state.settings.model_copy(update={"mqtt_shared": True})
    first, second = create_app(settings, Database(city.engine)), create_app(settings, Database(city.engine))
    with serving_app(first), serving_app(second):
        bridges: list[MqttBridge] = [first.state.mqtt.bridge, second.state.mqtt.bridge]
        for bridge in bridges:
            wait_for(bridge.connected.is_set, what="both bridges")
        assert len({b.client_id for b in bridges}) == 2  # slots 0 and 1 are taken: these are 1 and 2
        device = city.device()
        try:
            publish_series(device, datetime.now(UTC) - timedelta(minutes=5), 100)
        finally:
            device.close()
        wait_for(lambda: sum(b.stats.acknowledged for b in bridges) == 100, what="every message")
        assert all(b.stats.acknowledged > 0 for b in bridges)
        assert sum(b.stats.accepted for b in bridges) == 100
    assert len(city.stored("WL-1")) == 100


def test_with_no_broker_configured_the_server_runs_a_private_mosquitto_and_bridges_to_it(
        server_url: str, template_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYTWIN_MQTT_URL", raising=False)
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    private = MosquittoBroker(tmp_path / "data")
    try:
        add_house_and_street(engine)
        app = create_app(Settings(database_url=url, data_dir=tmp_path / "data"), Database(engine))
        with serving_app(app) as base:
            assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
            assert app.state.mqtt.url == private.url and private.running()
            wait_for(app.state.mqtt.bridge.connected.is_set, what="the bridge")
            device = Device(private.url)
            try:
                device.publish("citytwin/readings/GAS-1", {"value": 2.0})
            finally:
                device.close()
            wait_for(lambda: httpx.get(f"{base}/sensors/GAS-1").json()["latest"], what="the reading")
        assert not private.running()
    finally:
        engine.dispose()
        _drop_database(server_url, url)


def test_the_command_line_starts_one_private_broker_before_the_workers_and_stops_it_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.cli_serve import mqtt_broker

    monkeypatch.delenv("CITYTWIN_MQTT_URL", raising=False)
    settings = Settings(database_url="postgresql://unused/x", data_dir=tmp_path)
    private = MosquittoBroker(tmp_path)
    with mqtt_broker(settings) as configured:
        assert configured.mqtt_url == private.url and private.running()
        with mqtt_broker(configured) as again:  # a configured URL starts nothing
            assert again.mqtt_url == configured.mqtt_url
    assert not private.running()
    with mqtt_broker(settings.model_copy(update={"mqtt": False})) as off:
        assert off.mqtt_url is None and not private.running()
