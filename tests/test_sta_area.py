"""Datastreams in an area answered from memory (`twin/sta/hot.py`) give the bytes the plain SQL path gives on the
same database and latest values, for boxes, polygons and the area tests, with paging and `$count`; shapes it
cannot be sure of go to SQL; and with two workers on one Redis bus a sensor created, renamed, moved or deleted
and a reading stored on one worker show in the other's next answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import _drop_database, _fresh_database, serving_worker
from tests.helpers.redis_server import redis_server
from twin.db import create_db_engine
from twin.live.state import LiveState
from twin.live.store import init_connection, load_state
from twin.sta import hot
from twin.sta import query as sta_query
from twin.sta.documents import render
from twin.sta.options import parse_query
from twin.sta.resource import parse_path

LON, LAT, STEP = 13.41, 52.51, 0.001
"""A 6 × 6 grid of sensors, 0.001° apart, from (LON, LAT)."""
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
SENSORS = [{"id": f"G-{i}", "kind": "smoke" if i % 4 == 0 else "gas", "name": f"grid {i}",
            "position": [LON + (i % 6) * STEP, LAT + (i // 6) * STEP, 1.5],
            "attributes": {"floor": i % 3, "note": "a \"quoted\" ü"}} for i in range(36)]
LATEST = "Observations($top=1;$orderby=phenomenonTime desc)"


def rectangle(w: float, s: float, e: float, n: float) -> str:
    return f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


BOX = rectangle(LON + 0.0005, LAT + 0.0005, LON + 0.0035, LAT + 0.0025)
EDGE_BOX = rectangle(LON + STEP, LAT + STEP, LON + 3 * STEP, LAT + 4 * STEP)
"""A box with sensors on its edges and corners (outside for st_within, inside for the intersects tests)."""
TRIANGLE = f"POLYGON(({LON - 0.0005} {LAT - 0.0005},{LON + 0.0049} {LAT + 0.0002},{LON + 0.0011} {LAT + 0.0047}," \
           f"{LON - 0.0005} {LAT - 0.0005}))"
HOLED = f"POLYGON(({LON - 0.0005} {LAT - 0.0005},{LON + 0.0055} {LAT - 0.0005},{LON + 0.0055} {LAT + 0.0055}," \
        f"{LON - 0.0005} {LAT + 0.0055},{LON - 0.0005} {LAT - 0.0005}),({LON + 0.0015} {LAT + 0.0015}," \
        f"{LON + 0.0035} {LAT + 0.0015},{LON + 0.0035} {LAT + 0.0035},{LON + 0.0015} {LAT + 0.0035}," \
        f"{LON + 0.0015} {LAT + 0.0015}))"
TWO_BOXES = f"{rectangle(LON - 0.0005, LAT - 0.0005, LON + 0.0015, LAT + 0.0005)[7:]}," \
            f"{rectangle(LON + 0.0045, LAT + 0.0035, LON + 0.0055, LAT + 0.0055)[7:]}"
ON_EDGE = f"POLYGON(({LON} {LAT},{LON + 0.004} {LAT + 0.002},{LON} {LAT + 0.004},{LON} {LAT}))"
"""A triangle with sensors on its slanted edges: left to PostGIS."""


def area(test: str, wkt: str) -> str:
    return f"{test}(observedArea, geometry'{wkt}')"


AREA_REQUESTS: list[dict[str, str]] = [
    {"$filter": area("st_within", BOX), "$expand": LATEST},
    {"$filter": area("st_within", EDGE_BOX), "$expand": LATEST},
    {"$filter": area("geo.intersects", EDGE_BOX), "$expand": LATEST},
    {"$filter": f"st_intersects(geometry'{EDGE_BOX}', observedArea)"},
    {"$filter": area("st_within", TRIANGLE), "$expand": LATEST},
    {"$filter": area("st_within", TRIANGLE), "$expand": LATEST, "$select": "name,observedArea"},
    {"$filter": area("geo.intersects", HOLED), "$expand": "Observations($top=1;$orderby=resultTime desc;"
                                                          "$select=result)"},
    {"$filter": area("st_within", HOLED), "$top": "5", "$count": "true", "$expand": LATEST},
    {"$filter": area("st_within", HOLED), "$top": "5", "$skip": "20", "$count": "true"},
    {"$filter": area("st_within", f"MULTIPOLYGON({TWO_BOXES})")},
    {"$filter": area("st_within", rectangle(LON + 1, LAT + 1, LON + 2, LAT + 2)), "$expand": LATEST},
]


@pytest.fixture
def city_url(server_url: str, template_database: str) -> Iterator[str]:
    url = _fresh_database(server_url, template_database)
    yield url
    _drop_database(server_url, url)


def dsn_of(url: str) -> str:
    return create_db_engine(url).url.set(drivername="postgresql").render_as_string(hide_password=False)


def fill(base: str, dsn: str) -> None:
    """The grid's sensors and a reading for most of them, once `sensor_latest` holds them (it is flushed about
    once a second)."""
    assert httpx.post(f"{base}/sensors", json=SENSORS).status_code == 201
    readings = [{"sensor": s["id"], "time": (T0 + timedelta(seconds=i, microseconds=17 * i)).isoformat(),
                 "value": (i % 2) if i % 4 == 0 else i * 1.25} for i, s in enumerate(SENSORS) if i % 7]
    assert httpx.post(f"{base}/readings", json=readings).json()["accepted"] == len(readings)

    async def flushed() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM sensor_latest"))
        finally:
            await conn.close()

    deadline = time.monotonic() + 30
    while asyncio.run(flushed()) < len(readings):
        assert time.monotonic() < deadline, "the latest values were never flushed"
        time.sleep(0.1)


async def plain_and_hot(dsn: str, base: str, options: list[tuple[str, str]]) -> tuple[bytes, bytes, bool]:
    """The body by the plain path and by the fast path, on the sensors and latest values as stored, and whether
    the fast path answered from memory."""
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        state = await load_state(conn, 0)
        bodies = [render(await sta_query.answer(conn, "Datastreams", options, sta_query.Request(base, state, fast)))
                  for fast in (False, True)]
        resource = parse_path("Datastreams")
        held = await hot.in_area(conn, resource, parse_query(options, resource.last.entity), state, base,
                                 f"{base}/Datastreams", options)
    finally:
        await conn.close()
    return bodies[0], bodies[1], held is not None


def until_stored(base: str, dsn: str, params: dict[str, str]) -> None:
    """Until the plain path on what is stored (`sensor_latest` is flushed about once a second) gives the bytes
    this worker answers."""
    deadline = time.monotonic() + 30
    while True:
        plain, fast, _ = asyncio.run(plain_and_hot(dsn, f"{base}/sta/v1.1", list(params.items())))
        assert fast == plain
        if httpx.get(f"{base}/sta/v1.1/Datastreams", params=params).content == plain:
            return
        assert time.monotonic() < deadline, "the worker's answer never matched what is stored"
        time.sleep(0.2)


def test_datastreams_in_an_area_from_memory_are_the_plain_paths_bytes(city_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path / "a")
        dsn = dsn_of(city_url)
        fill(base, dsn)
        for params in AREA_REQUESTS:
            plain, fast, held = asyncio.run(plain_and_hot(dsn, f"{base}/sta/v1.1", list(params.items())))
            assert held == ("$select" not in params), params
            assert fast == plain, params
            answer = httpx.get(f"{base}/sta/v1.1/Datastreams", params=params)
            assert answer.status_code == 200, answer.text
            assert answer.content == plain, params
        within = httpx.get(f"{base}/sta/v1.1/Datastreams", params=AREA_REQUESTS[1]).json()["value"]
        touching = httpx.get(f"{base}/sta/v1.1/Datastreams", params=AREA_REQUESTS[2]).json()["value"]
        assert (len(within), len(touching)) == (2, 12)  # the edges and corners count for intersects alone


@pytest.mark.parametrize("params", [
    {"$filter": area("st_within", ON_EDGE), "$expand": LATEST},
    {"$filter": area("st_within", BOX), "$orderby": "name desc"},
    {"$filter": area("st_within", "LINESTRING(13.41 52.51, 13.42 52.52)")},
    {"$filter": area("st_contains", BOX)},
    {"$filter": f"{area('st_within', BOX)} and name eq 'grid 8'"},
    {"$filter": area("st_within", "POLYGON((13.41 52.51, 13.42 52.52, 13.42 52.51, 13.41 52.52, 13.41 52.51))")},
], ids=["sensors on a slanted edge", "another order", "a line", "another test", "more conditions",
        "an invalid polygon"])
def test_what_memory_cannot_answer_exactly_is_left_to_sql(city_url: str, tmp_path: Path,
                                                          params: dict[str, str]) -> None:
    with ExitStack() as stack:
        base = serving_worker(stack, city_url, tmp_path / "a")
        fill(base, dsn_of(city_url))
        plain, fast, held = asyncio.run(plain_and_hot(dsn_of(city_url), f"{base}/sta/v1.1", list(params.items())))
        assert not held
        assert fast == plain
        assert httpx.get(f"{base}/sta/v1.1/Datastreams", params=params).content == plain


def test_a_reading_shows_in_the_next_answer_and_a_sensors_changes_on_another_worker(city_url: str,
                                                                                     tmp_path: Path) -> None:
    params = {"$filter": area("st_within", BOX), "$expand": LATEST}

    def names(base: str) -> dict[str, Any]:
        answer = httpx.get(f"{base}/sta/v1.1/Datastreams", params=params)
        assert answer.status_code == 200, answer.text
        return {d["@iot.id"]: (d["name"], [o["result"] for o in d["Observations"]]) for d in answer.json()["value"]}

    def until(base: str, check: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while not check(seen := names(base)):
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        return seen

    with redis_server(tmp_path) as redis, ExitStack() as stack:
        a = serving_worker(stack, city_url, tmp_path / "a", bus_url=redis.url)
        b = serving_worker(stack, city_url, tmp_path / "b", bus_url=redis.url)
        dsn = dsn_of(city_url)
        fill(a, dsn)
        first = until(b, lambda seen: len(seen) == 6 and sum(bool(results) for _, results in seen.values()) == 4)
        assert names(a) == first
        until_stored(b, dsn, params)
        now = datetime.now(UTC).isoformat()
        assert httpx.post(f"{a}/readings", json=[{"sensor": "G-9", "time": now, "value": 42.0}]).json()["accepted"]
        until(b, lambda seen: seen["G-9"][1] == [42.0])
        moved = {**SENSORS[8], "name": "renamed"}
        assert httpx.post(f"{a}/sensors", json=moved).status_code == 201
        until(b, lambda seen: seen["G-8"][0] == "renamed")
        away = {**SENSORS[9], "position": [LON + 0.5, LAT + 0.5, 1.0]}
        assert httpx.post(f"{a}/sensors", json=away).status_code == 201
        until(b, lambda seen: "G-9" not in seen)
        added = {"id": "NEW-1", "kind": "gas", "position": [LON + 0.002, LAT + 0.002, 0.0]}
        assert httpx.post(f"{a}/sensors", json=added).status_code == 201
        until(b, lambda seen: seen.get("NEW-1") == ("NEW-1", []))
        assert httpx.delete(f"{a}/sensors/G-14").status_code in (200, 204)
        until(b, lambda seen: "G-14" not in seen)
        until_stored(b, dsn, params)
        single = serving_worker(stack, city_url, tmp_path / "c")  # its own in-process bus: applied before the answer
        assert names(single) == names(b)
        reading = {"sensor": "G-13", "time": datetime.now(UTC).isoformat(), "value": 99.5}
        posted = httpx.post(f"{single}/readings", json=[reading]).json()
        assert posted["accepted"] == 1, posted
        assert names(single)["G-13"][1] == [99.5]


def test_after_a_first_look_at_an_area_every_other_datastreams_document_is_written_ahead(
        city_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ExitStack() as stack:
        fill(serving_worker(stack, city_url, tmp_path / "a"), dsn_of(city_url))
    base = "http://city.test/sta/v1.1"

    async def first_look_then_fill() -> tuple[list[object], list[bool], LiveState]:
        pool = await asyncpg.create_pool(dsn_of(city_url), init=init_connection, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                state = await load_state(conn, 0)
                await sta_query.answer(conn, "Datastreams", list(AREA_REQUESTS[0].items()),
                                       sta_query.Request(base, state))
            spawned: list[Any] = []
            hot.start_fills(state, pool, spawned.append)
            hot.start_fills(state, pool, spawned.append)  # once per base
            await asyncio.gather(*spawned)
            return spawned, [d is not None for d in hot.positions_of(state).slots(base)], state
        finally:
            await pool.close()

    spawned, kept, state = asyncio.run(first_look_then_fill())
    assert len(spawned) == 1 and all(kept) and len(kept) == len(SENSORS)

    async def answers(params: dict[str, str]) -> list[bytes]:
        conn = await asyncpg.connect(dsn_of(city_url))
        try:
            await init_connection(conn)
            return [render(await sta_query.answer(conn, "Datastreams", list(params.items()),
                                                  sta_query.Request(base, state, fast))) for fast in (True, False)]
        finally:
            await conn.close()

    async def no_read(*_: Any) -> None:
        raise AssertionError("a document was read although it was written ahead")

    monkeypatch.setattr(hot.lean, "datastream_columns", no_read)
    for params in (p for p in AREA_REQUESTS if "$select" not in p):
        fast, plain = asyncio.run(answers(params))
        assert fast == plain, params
