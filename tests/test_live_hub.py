"""The subscription hub as pure code: who gets what, coalescing for laggards, overflow, resume, and an index
that keeps matching cheap with 100,000 sensors and 1,000 subscriptions."""

from __future__ import annotations

import random

from twin.live.hub import Hub
from twin.live.scope import Area, Scope, parse_area
from twin.live.sensors import parse_sensor

US = 1_780_000_000_000_000


def hub_with_grid(n: int, seed: int = 1) -> tuple[Hub, list[tuple[str, float, float]]]:
    rng = random.Random(seed)
    hub = Hub(outbox_limit=50)
    placed = []
    for i in range(n):
        lon, lat = 13.0 + rng.random() * 0.5, 52.3 + rng.random() * 0.4
        sensor = parse_sensor({"id": f"S{i}", "kind": "gas", "position": [lon, lat, 0]})
        hub.state.put_sensor(sensor)
        placed.append((sensor.id, lon, lat))
    return hub, placed


def readings(rows: list[tuple[str, float]], t_us: int) -> dict:
    return {"k": "readings", "o": "w", "at": t_us, "r": [[s, t_us, v] for s, v in rows]}


def test_a_reading_reaches_exactly_the_subscribers_whose_area_holds_its_sensor() -> None:
    hub, placed = hub_with_grid(2000)
    boxes = {}
    for c in range(40):
        w, s = 13.0 + (c % 8) * 0.06, 52.3 + (c // 8) * 0.08
        boxes[f"c{c}"] = (w, s, w + 0.05, s + 0.05)
        hub.add_client(f"c{c}", Scope(area=parse_area({"bbox": list(boxes[f"c{c}"])})))
    hub.apply(1, readings([(sid, 1.0) for sid, _, _ in placed], US))
    for client, (w, s, e, n) in boxes.items():
        got = {m["sensor"] for m in hub.drain(client) if m["type"] == "reading"}
        assert got == {sid for sid, lon, lat in placed if w <= lon <= e and s <= lat <= n}


def test_radius_and_polygon_areas_hold_what_lies_inside_them() -> None:
    circle = parse_area({"radius": {"lon": 13.0, "lat": 52.0, "m": 1000}})
    assert circle is not None and circle.holds(13.0, 52.008) and not circle.holds(13.0, 52.0095)
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    polygon = parse_area({"polygon": square})
    assert isinstance(polygon, Area) and polygon.holds(0.5, 0.5) and not polygon.holds(1.5, 0.5)


def test_a_lagging_client_gets_the_latest_reading_per_sensor_but_every_alarm() -> None:
    hub, _ = hub_with_grid(0)
    hub.state.put_sensor(parse_sensor({"id": "G", "kind": "gas", "position": [13, 52, 0],
                                       "thresholds": {"levels": {"yellow": 10, "red": 20}}}))
    hub.add_client("slow", Scope())
    for i, value in enumerate([5, 12, 25, 12, 5, 6, 7]):
        hub.apply(i + 1, readings([("G", value)], US + i * 1_000_000))
    messages = hub.drain("slow")
    assert [m["value"] for m in messages if m["type"] == "reading"] == [7]
    assert [(m["action"], m["level"]) for m in messages if m["type"] == "alarm"] == [
        ("raised", "yellow"), ("escalated", "red"), ("de-escalated", "yellow"), ("cleared", None)]
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)


def test_a_client_that_cannot_keep_up_with_alarms_is_marked_overflowed_instead_of_losing_one() -> None:
    hub, _ = hub_with_grid(0)
    hub.state.put_sensor(parse_sensor({"id": "B", "kind": "smoke", "position": [13, 52, 0]}))
    hub.add_client("slow", Scope())
    hub.add_client("fast", Scope())
    for i in range(200):
        hub.apply(i + 1, readings([("B", i % 2)], US + i * 1_000_000))
        hub.drain("fast")
    assert hub.clients["slow"].outbox.overflowed and not hub.clients["fast"].outbox.overflowed
    resume_at = hub.clients["slow"].outbox.delivered
    hub.add_client("slow", Scope())
    missed = hub.resume("slow", resume_at)
    assert missed is not None
    assert len([m for m in missed if m["type"] == "alarm"]) == 199  # every raise and clear since the start


def test_resume_from_before_the_ring_asks_for_a_snapshot() -> None:
    hub = Hub(ring_size=3)
    hub.state.put_sensor(parse_sensor({"id": "B", "kind": "smoke", "position": [13, 52, 0]}))
    hub.add_client("c", Scope())
    for i in range(10):
        hub.apply(i + 1, readings([("B", i % 2)], US + i * 1_000_000))
    assert hub.resume("c", 2) is None and hub.resume("c", 99) is None
    assert hub.resume("c", 9) is not None


def test_a_sensor_added_later_joins_the_subscriptions_whose_area_holds_it() -> None:
    hub = Hub()
    hub.add_client("here", Scope(area=parse_area({"bbox": [13, 52, 13.1, 52.1]})))
    hub.add_client("there", Scope(area=parse_area({"bbox": [14, 52, 14.1, 52.1]})))
    hub.add_client("smoke-only", Scope(kinds=frozenset({"smoke"})))
    sensor = parse_sensor({"id": "N", "kind": "gas", "position": [13.05, 52.05, 0]})
    hub.apply(1, {"k": "sensor", "sensor": sensor.as_json()})
    hub.apply(2, readings([("N", 1.0)], US))
    assert [m["type"] for m in hub.drain("here")] == ["sensor", "reading", "status"]
    assert [m["type"] for m in hub.drain("there")] == []
    assert [m["type"] for m in hub.drain("smoke-only")] == []


def test_matching_stays_an_index_lookup_with_100000_sensors_and_1000_subscriptions() -> None:
    hub, placed = hub_with_grid(100_000)
    rng = random.Random(7)
    for c in range(1000):
        w, s = 13.0 + rng.random() * 0.45, 52.3 + rng.random() * 0.35
        hub.add_client(f"c{c}", Scope(area=parse_area({"bbox": [w, s, w + 0.05, s + 0.04]})))
    holders = [len(hub.sensor_subs.get(sid, ())) for sid, _, _ in placed]
    # a reading touches only its own subscribers: about 1 % of 1,000 clients, never all of them
    assert sum(holders) / len(holders) < 20 and max(holders) < 60
    assert not hub.wide
    assert all(len(c.sensors) < 3000 for c in hub.clients.values())
