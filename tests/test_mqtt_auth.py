"""Per-key MQTT credentials on the private mosquitto a real server runs (real PostGIS, real broker): devices
publish only with their own key and only to their own sensors' topics, anonymous and wrong credentials are
refused at CONNACK, a revoked key is refused at once, and QoS 1 is still acknowledged only after the commit."""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
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
from sqlalchemy import Engine

from tests.conftest import _drop_database, _fresh_database, free_port, serving_app
from tests.helpers.city import add_house_and_street
from tests.test_live_mqtt import REFUSE, iso, wait_for
from twin import cli
from twin.access.keys import mosquitto_hash
from twin.access.mqtt_files import SERVICE_USER, mqtt_files
from twin.access.store import create_key, load_keys, revoke_key
from twin.api import create_app
from twin.cli_serve import mqtt_broker
from twin.db import Database, create_db_engine
from twin.live.broker import MosquittoBroker, find_mosquitto
from twin.live.mqtt_bridge import BrokerAddress, MqttBridge
from twin.settings import Settings

SENSORS = [{"id": "GAS-1", "kind": "gas", "object_id": "house.b"},
           {"id": "WL-1", "kind": "water_level", "object_id": "house.b"}]
GAS_STA = "v1.1/Datastreams('GAS-1')/Observations"


class Client:
    """An MQTT 5 client with its network thread, recording the CONNACK and the PUBACK reason codes."""

    def __init__(self, port: int, user: str | None = None, password: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack: queue.Queue[str] = queue.Queue()
        self.received: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.subscribed = threading.Event()
        self.pubacks: dict[int, str] = {}
        self.client.on_connect = lambda _c, _u, _f, reason, _p: self.connack.put(str(reason))
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, orjson.loads(m.payload)))
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_publish = lambda _c, _u, mid, reason, _p: self.pubacks.__setitem__(mid, str(reason))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.outcome = self.connack.get(timeout=5)

    def publish(self, topic: str, payload: Any) -> str:
        """Publish at QoS 1; the broker's PUBACK reason ("Success", or "Not authorized" when the ACL refuses)."""
        info = self.client.publish(topic, orjson.dumps(payload), qos=1)
        info.wait_for_publish(5)
        return self.pubacks.get(info.mid, "?")

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class AuthCity:
    base: str
    app: FastAPI
    engine: Engine
    broker: MosquittoBroker
    anonymous_before_keys: str
    device: str  # a key bound to GAS-1
    viewer: str

    @property
    def bridge(self) -> MqttBridge:
        bridge: MqttBridge = self.app.state.mqtt.bridge
        return bridge

    @property
    def port(self) -> int:
        return int(self.broker.url.rsplit(":", 1)[1])

    def connect(self, token: str | None, password: str | None = None) -> Client:
        """A client with a key (its id the user, the key the password), or another user and password."""
        if token is None or password is not None:
            return Client(self.port, token, password)
        return Client(self.port, token.split("_")[1], token)

    @property
    def database_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def stored(self, sensor: str) -> list[float]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT value FROM readings WHERE sensor_id = %(s)s ORDER BY time",
                                        {"s": sensor})
            return [row[0] for row in rows]

    def until_admitted(self, token: str) -> Client:
        """A connection with this key once the broker has read it (the notice, the files, SIGHUP)."""
        def attempt() -> Client | None:
            client = self.connect(token)
            if client.outcome == "Success":
                return client
            client.close()
            return None
        client: Client = wait_for(attempt, what="the broker to admit the new key")
        return client


@pytest.fixture(scope="module")
def city(server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCity]:
    url = _fresh_database(server_url, template_database)
    engine = create_db_engine(url)
    data = tmp_path_factory.mktemp("mqtt-auth")
    try:
        add_house_and_street(engine)
        # the private broker as `citytwin serve` runs it: started before the app, which is handed its URL
        with mqtt_broker(Settings(database_url=url, data_dir=data), engine) as settings, \
                serving_app(app := create_app(settings, Database(engine))) as base:
            assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
            broker = MosquittoBroker(data)
            anonymous = Client(int(broker.url.rsplit(":", 1)[1]))
            anonymous.close()
            device = create_key(engine, "device", "gateway 1", ["GAS-1"]).token
            viewer = create_key(engine, "viewer", "wall screen").token
            city = AuthCity(base, app, engine, broker, anonymous.outcome, device, viewer)
            city.until_admitted(viewer).close()
            wait_for(app.state.mqtt.bridge.connected.is_set, what="the bridge to subscribe")
            yield city
    finally:
        engine.dispose()
        _drop_database(server_url, url)


def test_the_files_give_each_key_its_own_user_and_only_its_sensors_topics(city: AuthCity) -> None:
    device = next(k for k in load_keys(city.engine) if k.key_id == city.device.split("_")[1])
    files = mqtt_files(load_keys(city.engine), "$7$101$c2FsdA==$aGFzaA==")
    assert f"{SERVICE_USER}:$7$101$c2FsdA==$aGFzaA==\n" in files.passwords
    assert f"{device.key_id}:{device.mqtt_hash}\n" in files.passwords
    rules = files.acl.split(f"user {device.key_id}\n")[1].split("\n\n")[0].splitlines()
    assert rules == ["topic write citytwin/readings/GAS-1", f"topic readwrite {GAS_STA}",
                     "topic read citytwin/errors/GAS-1"]
    _, _, iterations, salt, digest = (device.mqtt_hash or "").split("$")  # mosquitto's PBKDF2-SHA512 of the key
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", city.device.encode(), base64.b64decode(salt),
                                                           int(iterations))
    assert mosquitto_hash("x", b"s" * 12).startswith("$7$101$c3Nzc3Nzc3Nzc3Nz$")


def test_the_broker_url_the_server_shows_carries_no_credential(city: AuthCity) -> None:
    assert BrokerAddress.parse("mqtt://twin-bridge:s3cret@broker.example:1884").public_url == \
        "mqtt://broker.example:1884"
    assert BrokerAddress.parse("mqtts://u:p@[::1]").public_url == "mqtts://[::1]:8883"
    landing = httpx.get(f"{city.base}/sta/v1.1", headers={"Authorization": f"Bearer {city.viewer}"}).json()
    shown = orjson.dumps(landing).decode()
    assert city.broker.url in shown and city.broker.service_credential()[0] not in shown


def test_the_broker_was_anonymous_until_the_first_key_and_refuses_anonymous_and_wrong_passwords_since(
        city: AuthCity) -> None:
    assert city.anonymous_before_keys == "Success"
    for client in (city.connect(None), city.connect(city.device.split("_")[1], "ctk_wrong"),
                   city.connect("nobody", city.device), city.connect(SERVICE_USER, "guess")):
        assert client.outcome == "Not authorized"
        client.close()


def test_a_device_key_stores_readings_for_its_own_sensor_and_nothing_for_another(city: AuthCity) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    device = city.connect(city.device)
    accepted, rejected = city.bridge.stats.accepted, city.bridge.stats.rejected
    try:
        assert device.outcome == "Success"
        assert device.publish("citytwin/readings/WL-1", {"value": 0.5}) == "Not authorized"
        assert device.publish("citytwin/readings", [{"sensor": "WL-1", "value": 0.6}]) == "Not authorized"
        assert device.publish("v1.1/Datastreams('WL-1')/Observations", {"result": 0.7}) == "Not authorized"
        assert device.publish("citytwin/readings/GAS-1", {"time": iso(now), "value": 2.5}) == "Success"
        assert device.publish(GAS_STA, {"phenomenonTime": iso(now + timedelta(seconds=1)), "result": 3.5}) == "Success"
    finally:
        device.close()
    wait_for(lambda: city.bridge.stats.accepted - accepted == 2, what="the device's readings")
    assert city.stored("GAS-1")[-2:] == [2.5, 3.5] and city.stored("WL-1") == []
    assert city.bridge.stats.rejected == rejected  # the refused messages never reached the bridge
    answer = httpx.get(f"{city.base}/sensors/WL-1", headers={"Authorization": f"Bearer {city.viewer}"})
    assert answer.json()["latest"] is None and answer.json()["last_seen"] is None


def test_a_viewer_key_reads_the_observations_but_publishes_nothing(city: AuthCity) -> None:
    viewer, device = city.connect(city.viewer), city.connect(city.device)
    try:
        viewer.subscribe(GAS_STA)
        assert viewer.publish("citytwin/readings/GAS-1", {"value": 99.0}) == "Not authorized"
        assert device.publish("citytwin/readings/GAS-1", {"value": 4.5}) == "Success"
        topic, observation = viewer.received.get(timeout=5)
        assert topic == GAS_STA and observation["result"] == 4.5
    finally:
        viewer.close()
        device.close()
    assert 99.0 not in city.stored("GAS-1")


def test_a_revoked_key_is_refused_at_once_without_a_server_restart(city: AuthCity) -> None:
    token = create_key(city.engine, "device", "short-lived", ["WL-1"]).token
    connected = city.until_admitted(token)
    try:
        assert connected.publish("citytwin/readings/WL-1", {"value": 0.1}) == "Success"
        wait_for(lambda: city.stored("WL-1") == [0.1], what="the reading before revocation")
        assert revoke_key(city.engine, token.split("_")[1])

        def refused() -> bool:
            client = city.connect(token)
            client.close()
            return client.outcome == "Not authorized"
        wait_for(refused, what="the broker to refuse the revoked key")
        # the connection made before: mosquitto checks connected clients again when it reads the files
        wait_for(lambda: not connected.client.is_connected(), what="the revoked key's connection to be dropped")
        assert connected.connack.get(timeout=5) == "Not authorized"  # paho's reconnection is refused too
    finally:
        connected.close()
    assert city.stored("WL-1") == [0.1]


def test_qos_1_from_an_authorised_device_is_acknowledged_only_after_its_commit(city: AuthCity) -> None:
    with city.engine.begin() as conn:
        conn.exec_driver_sql(REFUSE)
    acknowledged, failures = city.bridge.stats.acknowledged, city.bridge.stats.storage_failures
    device = city.connect(city.device)
    try:
        assert device.publish("citytwin/readings/GAS-1", {"value": 7.0}) == "Success"
        wait_for(lambda: city.bridge.stats.storage_failures > failures, what="a refused commit")
        assert 7.0 not in city.stored("GAS-1") and city.bridge.stats.acknowledged == acknowledged
    finally:
        device.close()
        with city.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse_readings ON readings; DROP FUNCTION refuse_readings()")
    wait_for(lambda: 7.0 in city.stored("GAS-1"), timeout=20, what="the redelivered reading")
    wait_for(lambda: city.bridge.stats.acknowledged == acknowledged + 1, what="the acknowledgement")


def test_binding_a_device_key_to_another_sensor_opens_that_sensors_topic_and_http_posts_at_once(
        city: AuthCity) -> None:
    token = create_key(city.engine, "device", "gateway 2", ["GAS-1"]).token
    device = city.until_admitted(token)

    def post_http() -> dict[str, Any]:
        answer = httpx.post(f"{city.base}/readings", json=[{"sensor": "WL-1", "value": 0.8}],
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result
    try:
        assert device.publish("citytwin/readings/WL-1", {"value": 0.9}) == "Not authorized"
        assert "not one of this device key's sensors" in post_http()["rejected"][0]["reason"]  # verified, cached
        settings = Settings(database_url=city.database_url)
        assert cli.main(["keys", "sensors", token.split("_")[1], "--sensors", "GAS-1,WL-1"],
                        settings_factory=lambda: settings) == 0
        wait_for(lambda: device.publish("citytwin/readings/WL-1", {"value": 0.9}) == "Success",
                 what="the broker to take the new sensor list")
        assert post_http()["accepted"] == 1
        assert cli.main(["keys", "sensors", "000000000000", "--sensors", "WL-1"],
                        settings_factory=lambda: settings) == 1  # no such device key
    finally:
        device.close()
    wait_for(lambda: {0.8, 0.9} <= set(city.stored("WL-1")), what="the readings for the newly bound sensor")


def test_mqtt_files_configure_an_external_mosquitto_with_the_bridge_user_from_the_url(
        city: AuthCity, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(database_url=city.database_url, mqtt_url=f"mqtt://twin-bridge:s3cret@127.0.0.1:{port}")
    assert cli.main(["keys", "mqtt-files", str(tmp_path / "auth")], settings_factory=lambda: settings) == 0
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {tmp_path}/auth/passwords\n"
                      f"acl_file {tmp_path}/auth/acl\n" + ("user root\n" if os.geteuid() == 0 else ""))
    broker = subprocess.Popen([str(find_mosquitto()), "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        bridge = wait_for(lambda: _connected(port, "twin-bridge", "s3cret"), what="the external broker")
        device = Client(port, city.device.split("_")[1], city.device)
        bridge.subscribe("citytwin/readings/+")
        assert device.publish("citytwin/readings/WL-1", {"value": 1}) == "Not authorized"
        assert device.publish("citytwin/readings/GAS-1", {"value": 1}) == "Success"
        assert bridge.received.get(timeout=5)[0] == "citytwin/readings/GAS-1"
        anonymous = Client(port)
        assert anonymous.outcome == "Not authorized"
        for client in (bridge, device, anonymous):
            client.close()
    finally:
        broker.terminate()
        broker.wait(5)


def _connected(port: int, user: str, password: str) -> Client | None:
    try:
        return Client(port, user, password)
    except ConnectionRefusedError:
        return None
