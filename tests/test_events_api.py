"""Events through the API on a real PostGIS: the full lifecycle with its history, illegal transitions, drill
events kept apart, duplicates and merge, bad input, and websocket pushes in scope only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.conftest import populated_server
from tests.helpers.city import HOUSE_LAT, HOUSE_LON, add_house_and_street
from tests.helpers.live import live_client

HERE = [HOUSE_LON, HOUSE_LAT, 0.0]
FAR = [HOUSE_LON + 0.05, HOUSE_LAT + 0.05, 0.0]


@pytest.fixture
def served(server_url: str, template_database: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with populated_server(server_url, template_database, tmp_path, add_house_and_street) as pair:
        yield pair


@pytest.fixture
def city(served: tuple[str, Engine]) -> str:
    base = served[0]
    for actor, kind in (("duty", "person"), ("brigade-3", "unit"), ("inspector", "person")):
        assert httpx.put(f"{base}/actors/{actor}", json={"kind": kind}).status_code == 200
    return base


def report(base: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": "fire", "severity": "red", "location": HERE, "title": "smoke", **fields}
    answer = httpx.post(f"{base}/events", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def move(base: str, event_id: int, to: str, actor: str = "duty", **extra: Any) -> httpx.Response:
    return httpx.post(f"{base}/events/{event_id}/transitions", json={"to": to, "actor": actor, **extra})


def test_an_event_runs_the_whole_lifecycle_and_its_history_records_who_did_what(city: str) -> None:
    event = report(city, attachments=["https://example.org/a.jpg"], reporter="citizen")["event"]
    assert event["status"] == "reported" and event["deadline"] and not event["overdue"]
    assert event["attachments"] == [{"url": "https://example.org/a.jpg"}]
    steps = [("assigned", {"assignee": "brigade-3"}), ("handling", {}), ("verifying", {}),
             ("handling", {"note": "still smoking"}), ("verifying", {}), ("closed", {"actor": "inspector"})]
    for to, extra in steps:
        answer = move(city, event["id"], to, **extra)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == to
    final = httpx.get(f"{city}/events/{event['id']}").json()
    assert final["status"] == "closed" and final["closed_at"] and final["assignee"] == "brigade-3"
    assert [(h["action"], h["from_status"], h["to_status"], h["actor"]) for h in final["history"]] == [
        ("reported", None, "reported", "citizen"), ("assigned", "reported", "assigned", "duty"),
        ("handling", "assigned", "handling", "duty"), ("verifying", "handling", "verifying", "duty"),
        ("reopened", "verifying", "handling", "duty"), ("verifying", "handling", "verifying", "duty"),
        ("closed", "verifying", "closed", "inspector")]
    assert final["history"][4]["note"] == "still smoking"


def test_the_history_is_append_only(city: str, served: tuple[str, Engine]) -> None:
    report(city)
    with pytest.raises(Exception, match="append-only"), served[1].begin() as conn:
        conn.execute(text("UPDATE event_history SET actor = 'someone else'"))


def test_an_illegal_transition_is_refused_with_409_and_the_allowed_ones(city: str) -> None:
    event = report(city)["event"]
    answer = move(city, event["id"], "closed")
    assert answer.status_code == 409
    assert answer.json()["detail"]["allowed"] == ["assigned", "cancelled"]
    assert move(city, event["id"], "cancelled").status_code == 200
    done = move(city, event["id"], "assigned", assignee="brigade-3")
    assert done.status_code == 409 and done.json()["detail"]["allowed"] == []


def test_bad_input_gets_a_clear_4xx(city: str) -> None:
    for body, reason in (({"kind": "volcano", "location": HERE, "title": "x"}, "unknown kind"),
                         ({"kind": "fire", "title": "x"}, "needs a location"),
                         ({"kind": "fire", "location": [500, 0], "title": "x"}, "lon -180..180"),
                         ({"kind": "fire", "location": HERE, "title": "x", "severity": "purple"}, "severity"),
                         ({"kind": "fire", "location": HERE, "title": "x", "attachments": ["ftp://x"]}, "http(s)"),
                         ({"kind": "fire", "location": HERE, "title": "x", "attributes": {"a": "\x00"}}, "NUL")):
        answer = httpx.post(f"{city}/events", json=body)
        assert answer.status_code == 400 and reason in answer.json()["detail"], answer.text
    event = report(city)["event"]
    for actor, reason in (("nobody", "unknown actor"), ("", "must name a known actor")):
        answer = move(city, event["id"], "assigned", actor=actor, assignee="brigade-3")
        assert answer.status_code == 400 and reason in answer.json()["detail"]
    assert move(city, event["id"], "assigned").status_code == 400  # no assignee
    assert move(city, event["id"], "assigned", assignee="ghost").status_code == 400
    assert move(city, event["id"], "flying").status_code == 400
    assert move(city, 999_999, "assigned", assignee="brigade-3").status_code == 404
    assert httpx.get(f"{city}/events", params={"kind": "volcano"}).status_code == 400


def test_drill_events_are_listed_only_when_asked_for(city: str) -> None:
    real = report(city)["event"]
    drill = report(city, source="drill", title="exercise")["event"]
    assert [e["id"] for e in httpx.get(f"{city}/events").json()["events"]] == [real["id"]]
    assert [e["id"] for e in httpx.get(f"{city}/events", params={"source": "drill"}).json()["events"]] == [drill["id"]]
    both = httpx.get(f"{city}/events", params={"source": "manual,drill"}).json()["events"]
    assert {e["id"] for e in both} == {real["id"], drill["id"]}


def test_events_are_filtered_by_box_status_kind_and_severity(city: str) -> None:
    near = report(city)["event"]
    far = report(city, location=FAR, kind="gas_leak", severity="yellow")["event"]
    box = f"{HOUSE_LON - 0.01},{HOUSE_LAT - 0.01},{HOUSE_LON + 0.01},{HOUSE_LAT + 0.01}"
    ids = lambda **p: [e["id"] for e in httpx.get(f"{city}/events", params=p).json()["events"]]  # noqa: E731
    assert ids(bbox=box) == [near["id"]]
    assert ids(kind="gas_leak") == [far["id"]] and ids(severity="red") == [near["id"]]
    move(city, near["id"], "cancelled")
    assert ids(status="reported") == [far["id"]]


def test_a_report_near_an_open_one_of_its_kind_is_suggested_as_a_duplicate_and_can_be_merged(city: str) -> None:
    first = report(city)["event"]
    second = report(city, location=[HOUSE_LON + 0.0005, HOUSE_LAT, 0])
    assert [d["id"] for d in second["duplicates"]] == [first["id"]]
    assert report(city, location=FAR)["duplicates"] == []
    assert report(city, kind="gas_leak")["duplicates"] == []
    merged = httpx.post(f"{city}/events/{second['event']['id']}/merge", json={"into": first["id"], "actor": "duty"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"]["status"] == "cancelled" and merged.json()["merged"]["merged_into"] == first["id"]
    history = httpx.get(f"{city}/events/{first['id']}").json()["history"]
    assert history[-1]["action"] == "merged_from"


def test_websocket_pushes_of_events_reach_subscribers_in_scope_only(city: str) -> None:
    box = [HOUSE_LON - 0.01, HOUSE_LAT - 0.01, HOUSE_LON + 0.01, HOUSE_LAT + 0.01]
    with live_client(city) as inside, live_client(city) as outside, live_client(city) as drills:
        inside.subscribe(bbox=box, channels=["events"])
        outside.subscribe(bbox=[b + 0.1 for b in box], channels=["events"])
        drills.subscribe(bbox=box, channels=["drills"])
        event = report(city)["event"]
        pushed = inside.until(lambda m: m["type"] == "event" and m["event"]["id"] == event["id"])
        assert pushed["event"]["status"] == "reported"
        move(city, event["id"], "assigned", assignee="brigade-3")
        pushed = inside.until(lambda m: m["type"] == "event" and m["event"]["status"] == "assigned")
        assert pushed["event"]["assignee"] == "brigade-3"
        drill = report(city, source="drill", title="exercise")["event"]
        assert drills.until(lambda m: m["type"] == "event")["event"]["id"] == drill["id"]
        assert [m for m in inside.quiet(0.5) if m["type"] == "event"] == []
        assert [m for m in outside.quiet(0.3) if m["type"] == "event"] == []


def test_the_cockpit_counts_events_alarms_and_sensors_in_its_box_and_leaves_drills_out(city: str) -> None:
    sensor = {"id": "GAS-1", "kind": "gas", "position": [HOUSE_LON + 0.0001, HOUSE_LAT + 0.0001, 1],
              "thresholds": {"direction": "above", "levels": {"yellow": 10, "red": 25}, "min_duration_s": 0}}
    assert httpx.post(f"{city}/sensors", json=[sensor, {**sensor, "id": "GAS-2"}]).status_code == 201
    assert httpx.post(f"{city}/readings", json=[{"sensor": "GAS-1", "value": 30}]).json()["accepted"] == 1
    closed = report(city)["event"]
    for to, extra in (("assigned", {"assignee": "brigade-3"}), ("handling", {}), ("verifying", {}), ("closed", {})):
        assert move(city, closed["id"], to, **extra).status_code == 200
    report(city, kind="gas_leak", severity="orange")
    report(city, source="drill", title="exercise")
    report(city, location=FAR)
    box = f"{HOUSE_LON - 0.01},{HOUSE_LAT - 0.01},{HOUSE_LON + 0.01},{HOUSE_LAT + 0.01}"
    for _ in range(50):  # the alarm's event (opened by the live layer) may still be on its way
        got = httpx.get(f"{city}/cockpit", params={"bbox": box}).json()
        if got["alarms"]["active"] and got["events"]["open"] == 2:
            break
        time.sleep(0.1)
    events = got["events"]
    assert events["by_status"]["closed"] == 1 and events["by_status"]["reported"] == 2
    assert events["by_kind"]["gas_leak"] == 2 and events["by_kind"]["fire"] == 0  # the gas alarm opened one
    assert events["by_severity"]["orange"] == 1 and events["by_severity"]["red"] == 1
    assert events["overdue"] == 0 and events["mean_time_to_close_s"] is not None
    assert got["alarms"]["by_level"]["red"] == 1
    assert got["sensors"] == {"total": 2, "online": 1, "offline": 1}
    assert sum(h["reported"] for h in got["today"]) == 3 and got["today"][-1]["reported"] >= 1
    everywhere = httpx.get(f"{city}/cockpit").json()
    assert everywhere["events"]["open"] == 3  # the far event too, never the drill
    assert httpx.get(f"{city}/cockpit", params={"bbox": "1,2,3"}).status_code == 400


def test_open_events_are_an_ogc_api_collection_without_drills_or_closed_ones(city: str) -> None:
    fire = report(city)["event"]
    gas = report(city, kind="gas_leak", location=FAR)["event"]
    report(city, source="drill", title="exercise")
    closed = report(city)["event"]
    move(city, closed["id"], "cancelled")
    for _ in range(50):  # the bus applies the events to the state the collection reads
        page = httpx.get(f"{city}/ogc/collections/events/items", params={"limit": 100}).json()
        if len(page["features"]) == 2:
            break
        time.sleep(0.1)
    assert [f["id"] for f in page["features"]] == [str(fire["id"]), str(gas["id"])]
    page = httpx.get(f"{city}/ogc/collections/events/items", params={"kind": "gas_leak"}).json()
    assert [f["properties"]["kind"] for f in page["features"]] == ["gas_leak"]
    one = httpx.get(f"{city}/ogc/collections/events/items/{fire['id']}").json()
    assert one["geometry"]["coordinates"] == HERE and one["properties"]["status"] == "reported"
    assert httpx.get(f"{city}/ogc/collections/events/items/{closed['id']}").status_code == 404
    assert "events" in [c["id"] for c in httpx.get(f"{city}/ogc/collections").json()["collections"]]
    assert httpx.get(f"{city}/ogc/collections/events/items", params={"filter": "x=1"}).status_code == 400


def test_an_alarm_opened_event_links_to_its_alarm_and_runs_the_same_lifecycle(city: str) -> None:
    sensor = {"id": "GAS-9", "kind": "gas", "position": [HOUSE_LON + 0.0001, HOUSE_LAT + 0.0001, 1],
              "thresholds": {"direction": "above", "levels": {"red": 25}, "min_duration_s": 0}}
    assert httpx.post(f"{city}/sensors", json=sensor).status_code == 201
    assert httpx.post(f"{city}/readings", json=[{"sensor": "GAS-9", "value": 30}]).json()["accepted"] == 1
    for _ in range(50):
        found = httpx.get(f"{city}/events", params={"source": "alarm"}).json()["events"]
        if found:
            break
        time.sleep(0.1)
    event = found[0]
    alarm = httpx.get(f"{city}/alarms").json()["alarms"][0]
    assert event["alarm_id"] == alarm["id"] and event["kind"] == "gas_leak" and event["deadline"]
    assert move(city, event["id"], "assigned", assignee="brigade-3").status_code == 200
    history = httpx.get(f"{city}/events/{event['id']}").json()["history"]
    assert [(h["actor"], h["action"]) for h in history] == [("system", "reported"), ("duty", "assigned")]


def test_an_objects_context_lists_its_open_events(city: str) -> None:
    event = report(city, object_id="house.b", location=None)["event"]
    for _ in range(50):
        live = httpx.get(f"{city}/objects/house.b/context").json()["live"]
        if live["events"]:
            break
        time.sleep(0.1)
    assert [e["id"] for e in live["events"]] == [event["id"]]
    nearby = httpx.get(f"{city}/events/{event['id']}/nearby", params={"kinds": "hydrant", "k": 2}).json()
    assert len(nearby["resources"]["hydrant"]["straight"]) == 2  # an event on an object is placed on it
