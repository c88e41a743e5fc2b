"""The demo city's simulated sensors: where they stand, what they read, and that they bind to its objects."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from scenes.demo_sensors import (
    FLOOD,
    GAS_LEAK,
    GAS_PERIOD_S,
    RAIN_PERIOD_S,
    demo_sensors,
    fire_building,
    readings_at,
)
from tests.conftest import populated_server
from twin.demo import build_demo_city
from twin.live.alarms import SensorAlarm, parse_rule, step
from twin.live.broker import MosquittoBroker
from twin.live.feeder import DemoFeeder
from twin.live.kinds import KINDS
from twin.live.readings import Window, check_item
from twin.live.sensors import parse_sensor

T0 = 1_800_000_000  # any instant will do: the scenes repeat


def levels_over(code: str, start: int, seconds: int, every: int = 2) -> list[str]:
    """The alarm levels a sensor's readings raise, sampled as the demo's feeder sends them."""
    sensor = parse_sensor(next(s for s in demo_sensors() if s["id"] == code))
    rule = parse_rule(KINDS[sensor.kind].thresholds)
    state = SensorAlarm()
    raised = []
    for t in range(start, start + seconds, every):
        reading, = readings_at(t, sensors=[next(s for s in demo_sensors() if s["id"] == code)])
        transition = step(state, rule, code, datetime.fromtimestamp(t, UTC), reading["value"])
        if transition is not None and transition.level is not None:
            raised.append(transition.level)
    return raised


def test_the_demo_sensors_are_valid_sensors_of_every_kind_the_city_needs() -> None:
    sensors = demo_sensors()
    assert sensors == demo_sensors() and len({s["id"] for s in sensors}) == len(sensors)
    parsed = [parse_sensor(s) for s in sensors]
    kinds = Counter(s.kind for s in parsed)
    assert {"smoke", "temperature", "gas", "manhole_cover", "pressure", "water_level", "air_quality", "rainfall",
            "camera"} <= set(kinds)
    cameras = [s for s in parsed if s.kind == "camera"]
    assert cameras and all(s.attributes["stream_url"].startswith("rtsp://") and "heading" in s.attributes
                           and "fov" in s.attributes for s in cameras)


def test_readings_are_deterministic_given_the_seed_and_valid_for_their_sensors() -> None:
    assert readings_at(T0, seed=3) == readings_at(T0, seed=3)
    assert readings_at(T0, seed=3) != readings_at(T0, seed=4)
    sensors = {s["id"]: parse_sensor(s) for s in demo_sensors()}
    now = datetime.fromtimestamp(T0, UTC)
    for item in readings_at(T0) + readings_at(T0 + 137):
        check_item(item, sensors, Window(now, timedelta(days=1)))  # raises with the reason if not


def test_the_gas_leak_goes_red_and_recovers_within_every_gas_period() -> None:
    for start in (T0, T0 + 77, T0 + 1234):
        levels = levels_over(GAS_LEAK, start, GAS_PERIOD_S + 60)
        assert "red" in levels, levels
    quiet = levels_over("RATHAUS-0N3-GAS", T0, GAS_PERIOD_S * 2)
    assert quiet == []


def test_the_low_crossing_floods_red_during_every_simulated_rain() -> None:
    assert "red" in levels_over(FLOOD, T0, RAIN_PERIOD_S + 60)
    assert "orange" in levels_over("RAIN-PARK", T0, RAIN_PERIOD_S + 60)
    assert "red" in levels_over(f"TMP-{fire_building()}", T0, 660)


def test_the_demo_city_gets_its_sensors_bound_to_buildings_and_rooms(engine: Engine, tmp_path: Path) -> None:
    city = build_demo_city(engine, tmp_path / "demo")
    assert city["sensors"]["stored"] == len(demo_sensors()) and city["sensors"]["refused"] == []
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.id, s.attributes->>'room', o.dataset_id, o.kind, o.name FROM sensors s "
            "LEFT JOIN twin_objects o ON o.id = s.object_id")).all()
    bound = {sensor_id: (dataset, kind, name) for sensor_id, _room, dataset, kind, name in rows}
    rooms = [(sensor_id, room) for sensor_id, room, *_ in rows if room is not None]
    assert len(rooms) >= 4 * 6 * 2
    for sensor_id, room in rooms:
        assert bound[sensor_id] == ("rathaus", "IfcSpace", room), sensor_id
    for sensor_id, (dataset, _kind, _name) in bound.items():
        if sensor_id.startswith(("SMK-", "TMP-")):
            assert dataset == "demo", sensor_id
        if sensor_id.startswith(("MH-", "HYD-", "WL-", "WI-")):
            assert dataset is None, sensor_id  # in the streets, no building around them


def test_the_demo_feeder_sends_street_and_room_sensors_over_mqtt_and_buildings_over_http(
        server_url: str, template_database: str, tmp_path: Path) -> None:
    def populate(engine: Engine) -> None:
        build_demo_city(engine, tmp_path / "demo")

    with populated_server(server_url, template_database, tmp_path / "server", populate) as (base, engine):
        feeder = DemoFeeder(base, lambda: MosquittoBroker(tmp_path / "server").url, interval_s=0.5).start()
        try:
            deadline = time.monotonic() + 20
            while True:
                with engine.connect() as conn:
                    landed = dict(conn.execute(text(
                        "SELECT split_part(sensor_id, '-', 1), count(*) FROM readings GROUP BY 1")).all())
                if {"MH", "RATHAUS", "SMK"} <= set(landed) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            feeder.stop()
    assert {"MH", "HYD", "RATHAUS", "SMK", "TMP"} <= set(landed), landed
    assert feeder.sent["mqtt"] > 0 and feeder.sent["http"] > 0 and not feeder.errors, (feeder.sent, feeder.errors)
