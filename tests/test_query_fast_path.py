"""The query fast path answers exactly what the FastAPI routes answer, and leaves them what it cannot.

Every case is asked three ways: on a fresh connection (the lean HTTP protocol answers it), on a connection already
handed to uvicorn (the bare-ASGI fast path answers it), and with the fast path off (FastAPI answers it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import QueryCity, serving_app
from tests.helpers.city import DLAT, DLON, EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON
from twin.api import create_app, lean_http
from twin.api.lean_pool import APPLICATION_NAME
from twin.api.query_server import answer as lean_answer
from twin.db import Database
from twin.settings import Settings

UTM33 = "http://www.opengis.net/def/crs/EPSG/0/25833"
COMPARED_HEADERS = ("content-type", "content-crs", "access-control-allow-origin", "access-control-expose-headers")


@dataclass
class Served:
    app: FastAPI
    client: httpx.Client  # its connection belongs to uvicorn: the bare-ASGI fast path answers on it
    base_url: str
    lean: list[str]  # paths answered by the lean protocol


@pytest.fixture(scope="module")
def served(query_city: QueryCity, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = query_city.engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, data_dir=Path(tmp_path_factory.mktemp("fast")))
    app = create_app(settings, Database(query_city.engine))
    lean: list[str] = []

    async def spied(server: Any, path: str, *args: Any) -> Any:
        reply = await lean_answer(server, path, *args)
        if reply is not None:
            lean.append(path)
        return reply

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lean_http, "answer", spied)
        with serving_app(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
            assert client.get("/health").status_code == 200  # not a query: this connection is uvicorn's now
            yield Served(app, client, base_url, lean)


@dataclass
class Answers:
    lean: httpx.Response
    asgi: httpx.Response
    fastapi: httpx.Response
    by_lean: bool
    by_asgi: bool


def _three(served: Served, path: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> Answers:
    """The answer on a fresh connection, on uvicorn's connection, and with the fast path off."""
    queries = served.app.state.queries
    lean_before = len(served.lean)
    lean = httpx.get(served.base_url + path, params=params, headers=headers, timeout=60)
    by_lean = len(served.lean) > lean_before
    before = queries.answered
    asgi = served.client.get(path, params=params, headers=headers)
    by_asgi = queries.answered > before and len(served.lean) == lean_before + by_lean
    served.app.state.queries = None
    try:
        fastapi = served.client.get(path, params=params, headers=headers)
    finally:
        served.app.state.queries = queries
    return Answers(lean, asgi, fastapi, by_lean, by_asgi)


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str | None]]:
    body = orjson.loads(response.content)
    body.pop("timeStamp", None)
    return response.status_code, body, {name: response.headers.get(name) for name in COMPARED_HEADERS}


def _berlin_box(query_city: QueryCity) -> str:
    with query_city.engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(extent) AS c FROM datasets "
                                 "WHERE id = 'berlin') AS d")).one()
    return f"{x - 0.002},{y - 0.001},{x + 0.002},{y + 0.001}"


def test_fast_answers_equal_the_fastapi_answers(served: Served, query_city: QueryCity) -> None:
    house = f"{HOUSE_LON - DLON},{HOUSE_LAT - DLAT},{HOUSE_LON + 2 * DLON},{HOUSE_LAT + 2 * DLAT}"
    lon, lat = EAST_ROOM_CENTRE
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/query/near", {"lon": lon, "lat": lat, "radius": 120}),
        ("/query/near", {"lon": lon, "lat": lat, "radius": 300, "kind": "hydrant", "limit": 2}),
        ("/query/near", {"lon": lon, "lat": lat, "radius": 60, "crs": UTM33}),
        ("/query/at", {"lon": lon, "lat": lat, "h": 4.5}),
        ("/query/at", {"lon": lon, "lat": lat}),
        ("/query/at", {"lon": lon, "lat": lat, "kind": "storey", "crs": UTM33}),
        ("/query/at", {"lon": 0.5, "lat": 0.5, "h": 1}),  # nothing there: an empty collection
        ("/query/nearest", {"lon": lon, "lat": lat, "k": 3, "kind": "hydrant"}),
        ("/query/nearest", {"lon": lon, "lat": lat, "k": 7}),
        ("/query/nearest", {"lon": lon, "lat": lat, "kind": "fire_station", "crs": UTM33}),
        ("/ogc/collections/house/items", {"bbox": house, "limit": 2}),
        ("/ogc/collections/house/items", {"bbox": house, "limit": 2, "after": "house.s0"}),
        ("/ogc/collections/berlin/items", {"bbox": _berlin_box(query_city), "limit": 50}),
    ]
    for path, params in cases:
        answers = _three(served, path, params)
        assert answers.by_lean and answers.by_asgi, (path, params)
        for fast in (answers.lean, answers.asgi):
            assert fast.status_code == 200, fast.text
            assert _comparable(fast) == _comparable(answers.fastapi), (path, params)
            assert fast.headers["content-length"] == str(len(fast.content))
            assert fast.headers["server"] == "uvicorn" and "date" in fast.headers
    berlin = served.client.get("/ogc/collections/berlin/items", params={"bbox": _berlin_box(query_city), "limit": 50})
    assert len(berlin.json()["features"]) == 50
    assert any(link["rel"] == "next" for link in berlin.json()["links"])


def test_cross_origin_requests_get_the_same_cors_headers(served: Served) -> None:
    lon, lat = EAST_ROOM_CENTRE
    answers = _three(served, "/query/at", {"lon": lon, "lat": lat}, {"Origin": "https://dashboard.example"})
    assert answers.by_lean and answers.by_asgi
    for fast in (answers.lean, answers.asgi):
        assert _comparable(fast) == _comparable(answers.fastapi)
        assert fast.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(("path", "params"), [
    ("/query/near", {"lon": 13.4, "lat": 52.5}),  # no radius
    ("/query/near", {"lon": 13.4, "lat": 52.5, "radius": -1}),
    ("/query/near", {"lon": 13.4, "lat": 52.5, "radius": 10, "limit": 0}),
    ("/query/at", {"lon": "east", "lat": 52.5}),
    ("/query/at", {"lon": 200, "lat": 52.5}),
    ("/query/at", {"lon": "nan", "lat": 52.5}),
    ("/query/at", {"lon": 13.4, "lat": 52.5, "crs": "EPSG:nonsense"}),
    ("/query/at", {"lon": 13.4, "lat": 52.5, "sql": "1; DROP TABLE twin_objects"}),
    ("/query/nearest", {"lon": 13.4, "lat": 52.5, "k": 5000}),
    ("/ogc/collections/house/items", {"bbox": "1,2,3"}),
    ("/ogc/collections/nowhere/items", {"bbox": "13,52,14,53"}),  # a missing collection: 404
    ("/ogc/collections/house/items", {"bbox": "0,0,1,1"}),  # an empty page: FastAPI checks the collection
    ("/ogc/collections/house/items", {"bbox": "170,0,-170,1"}),  # across the antimeridian: the general path
    ("/ogc/collections/house/items", {"bbox": "13,52,14,53", "kind": "space"}),
])
def test_what_the_fast_path_cannot_judge_goes_to_fastapi(served: Served, path: str, params: dict[str, Any]
                                                         ) -> None:
    answers = _three(served, path, params)
    assert not answers.by_lean and not answers.by_asgi
    for fast in (answers.lean, answers.asgi):
        assert fast.status_code == answers.fastapi.status_code
        assert fast.json().keys() == answers.fastapi.json().keys()


def test_repeated_parameters_go_to_fastapi(served: Served) -> None:
    before = served.app.state.queries.answered
    for response in (served.client.get("/query/at?lon=13.4&lon=13.5&lat=52.5"),
                     httpx.get(served.base_url + "/query/at?lon=13.4&lon=13.5&lat=52.5")):
        assert response.status_code in (200, 400, 422)
    assert served.app.state.queries.answered == before


def test_a_lost_connection_costs_one_declined_request_then_the_fast_path_reconnects(
        served: Served, query_city: QueryCity) -> None:
    app, client = served.app, served.client
    lon, lat = EAST_ROOM_CENTRE
    params = {"lon": lon, "lat": lat, "h": 4.5}
    assert client.get("/query/at", params=params).status_code == 200
    with query_city.engine.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = :name AND datname = current_database()"),
                              {"name": APPLICATION_NAME}).scalar_one()
    assert killed >= 1
    before = app.state.queries.answered
    answers = [client.get("/query/at", params=params) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({orjson.dumps(_comparable(a)) for a in answers}) == 1
    assert app.state.queries.answered - before >= 2


@pytest.mark.parametrize(("head", "taken"), [
    (b"GET /query/at?lon=1&lat=2 HTTP/1.1\r\nHost: a:8000\r\n\r\n", True),
    (b"GET /query/at HTTP/1.1\r\nhost: a\r\nConnection: keep-alive\r\nOrigin: https://b\r\nAccept: */*\r\n\r\n", True),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", True),
    (b"HEAD /query/at HTTP/1.1\r\nHost: a\r\n\r\n", False),
    (b"GET /query/at HTTP/1.0\r\nHost: a\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\n\r\n", False),  # no Host
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\n", False),  # the head continues in another packet
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\n\r\nGET /query/at HTTP/1.1\r\nHost: a\r\n\r\n", False),  # pipelined
    (b"GET /query/%61t HTTP/1.1\r\nHost: a\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHo st: a\r\nHost: a\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", False),
    (b"GET /query/at HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 9000 + b"\r\n\r\n", False),
])
def test_the_lean_protocol_takes_only_plain_complete_gets(head: bytes, taken: bool) -> None:
    assert (lean_http.plain_get(head) is not None) == taken


class RawConnection:
    """HTTP/1.1 over a plain socket: what is sent is exactly the bytes given."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.socket = socket.create_connection((host, int(port)), timeout=30)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        return not self.buffer and self.socket.recv(1) == b""

    def _read(self) -> None:
        data = self.socket.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def close(self) -> None:
        self.socket.close()


def _get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]).encode()


def _at(h: float = 4.5) -> str:
    lon, lat = EAST_ROOM_CENTRE
    return f"/query/at?lon={lon}&lat={lat}&h={h}"


def test_keep_alive_queries_on_one_connection_are_answered_by_the_lean_protocol(served: Served) -> None:
    connection = RawConnection(served.base_url)
    before = len(served.lean)
    bodies = []
    for _ in range(3):
        connection.send(_get(_at()))
        status, headers, body = connection.response()
        assert status == 200 and headers["content-type"] == "application/geo+json"
        bodies.append(body)
    connection.close()
    assert len(served.lean) - before == 3
    assert len(set(bodies)) == 1 and orjson.loads(bodies[0])["features"]


def test_pipelined_and_early_requests_are_answered_in_order(served: Served) -> None:
    connection = RawConnection(served.base_url)
    connection.send(_get(_at()) + _get("/health"))  # two in one packet: uvicorn takes the connection
    assert orjson.loads(connection.response()[2])["type"] == "FeatureCollection"
    assert "status" in orjson.loads(connection.response()[2])
    connection.close()
    connection = RawConnection(served.base_url)
    lon, lat = EAST_ROOM_CENTRE
    connection.send(_get(f"/query/nearest?lon={lon}&lat={lat}&k=7"))
    connection.send(_get("/health"))  # sent before the first answer: it waits for it
    connection.send(_get(_at()))
    first, second, third = (orjson.loads(connection.response()[2]) for _ in range(3))
    assert len(first["features"]) == 7 and "status" in second and third["type"] == "FeatureCollection"
    connection.close()


def test_a_head_split_over_packets_and_a_declined_query_are_uvicorns(served: Served) -> None:
    connection = RawConnection(served.base_url)
    request = _get(_at())
    connection.send(request[:20])
    time.sleep(0.1)
    connection.send(request[20:])
    assert connection.response()[0] == 200
    connection.close()
    connection = RawConnection(served.base_url)
    connection.send(_get("/ogc/collections/nowhere/items?bbox=13,52,14,53"))  # declined after its query
    assert connection.response()[0] == 404
    connection.send(_get(_at()))
    assert connection.response()[0] == 200
    connection.close()


def test_connection_close_is_honoured(served: Served) -> None:
    connection = RawConnection(served.base_url)
    connection.send(_get(_at(), "Connection: close"))
    status, headers, _ = connection.response()
    assert status == 200 and headers["connection"] == "close"
    assert connection.closed()
    connection.close()


def test_idle_lean_connections_time_out_and_shutdown_does_not_wait_for_them(query_city: QueryCity,
                                                                             tmp_path: Path) -> None:
    url = query_city.engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, data_dir=tmp_path), Database(query_city.engine))
    with serving_app(app, timeout_keep_alive=1) as base_url:
        idle, kept = RawConnection(base_url), RawConnection(base_url)
        for connection in (idle, kept):
            connection.send(_get(_at()))
            assert connection.response()[0] == 200
        for _ in range(4):  # activity keeps a connection open past the timeout
            time.sleep(0.4)
            kept.send(_get(_at()))
            assert kept.response()[0] == 200
        assert idle.closed()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5  # the open keep-alive connection was closed at shutdown
    assert kept.closed()
    idle.close()
    kept.close()


def test_many_requests_sent_while_busy_are_all_answered_in_order(served: Served) -> None:
    connection = RawConnection(served.base_url)
    lon, lat = EAST_ROOM_CENTRE
    connection.send(_get(f"/query/nearest?lon={lon}&lat={lat}&k=7"))
    pad = "X-Pad: " + "p" * 1000
    connection.send(b"".join(_get(f"/health?n={i}", pad) for i in range(80)))  # ≈ 85 kB while the first runs
    assert len(orjson.loads(connection.response()[2])["features"]) == 7
    assert all(connection.response()[0] == 200 for _ in range(80))
    connection.close()


def test_a_failure_inside_the_lean_path_leaves_the_request_to_uvicorn(served: Served,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(lean_http, "answer", broken)
    connection = RawConnection(served.base_url)
    connection.send(_get(_at()))
    status, _, body = connection.response()
    assert status == 200 and orjson.loads(body)["type"] == "FeatureCollection"
    connection.close()


TINY = "5e-324"  # the smallest subnormal double
EDGE_NUMBERS: list[tuple[str, dict[str, Any], str]] = [
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": TINY}, "radius=5e-324 is subnormal"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": "1e-310"}, "is subnormal"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": "nan"}, "radius: Input should be a finite number"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": "inf"}, "radius: Input should be a finite number"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": "-inf"}, "radius: Input should be a finite number"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": -5}, "greater than or equal to 0"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": "1e308"}, "less than or equal to 50000"),
    ("/query/near", {"lon": TINY, "lat": 52.53, "radius": 10}, "lon=5e-324 is subnormal"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": 10, "limit": "9" * 40}, "limit"),
    ("/query/at", {"lon": 13.43, "lat": 52.53, "h": TINY}, "h=5e-324 is subnormal"),
    ("/query/at", {"lon": 13.43, "lat": 52.53, "h": "1e308"}, "h: Input should be less than or equal to 100000"),
    ("/query/at", {"lon": 13.43, "lat": 52.53, "h": "-inf"}, "h: Input should be a finite number"),
    ("/query/at", {"lon": 13.43, "lat": "nan"}, "lat: Input should be a finite number"),
    ("/query/at", {"lon": 13.43, "lat": TINY}, "lat=5e-324 is subnormal"),
    ("/query/at", {"lon": "-181", "lat": 52.53}, "lon: Input should be greater than or equal to -180"),
    ("/query/nearest", {"lon": TINY, "lat": -90, "k": 3}, "lon=5e-324 is subnormal"),
    ("/query/nearest", {"lon": 13.43, "lat": 52.53, "k": "1e3"}, "k: Input should be a valid integer"),
    ("/query/nearest", {"lon": 13.43, "lat": 52.53, "k": -1}, "k: Input should be greater than or equal to 1"),
    ("/query/within", {"geometry": "POLYGON((0 0,1e308 0,1e308 1e308,0 1e308,0 0))"},
     "geometry lon=1e+308 is absurdly large"),
    ("/query/within", {"geometry": f"POLYGON((0 0,{TINY} 0,{TINY} 1,0 1,0 0))"}, "geometry lon=5e-324 is subnormal"),
    ("/query/within", {"geometry": "POLYGON((0 0,2e7 0,2e7 2e7,0 2e7,0 0))", "geometry-crs": UTM33},
     "geometry x=20000000.0 is too large"),
    ("/query/within", {"geometry": "POLYGON((0 0,1 0,1 1,0 1,0 0))", "limit": 0}, "limit"),
    ("/ogc/collections/house/items", {"bbox": f"{TINY},52,14,53"}, "bbox=5e-324 is subnormal"),
    ("/ogc/collections/house/items", {"bbox": "nan,52,14,53"}, "bbox is NaN"),
    ("/ogc/collections/house/items", {"bbox": "13,52,inf,53"}, "bbox=inf is infinite"),
    ("/ogc/collections/house/items", {"bbox": "-200,52,14,53"}, "bbox corner lon=-200.0 is too small"),
    ("/ogc/collections/house/items", {"bbox": "13,52,-1e308,14,53,9"}, "bbox minimum height=-1e+308"),
    ("/ogc/collections/house/items", {"bbox": "0,0,1e300,1e300", "bbox-crs": UTM33}, "is absurdly large"),
    ("/ogc/collections/house/items", {"bbox": "0,0,2e7,2e7", "bbox-crs": UTM33}, "bbox corner x=20000000.0"),
    ("/ogc/collections/house/items", {"bbox": "13,52,14,53", "limit": "1e3"}, "limit"),
    ("/ogc/collections/house/items", {"bbox": "13,52,14,53", "limit": 10_001}, "limit"),
    ("/ogc/collections/objects/items", {"filter": f"S_DWITHIN(geometry,POINT(13.43 52.53),{TINY})"},
     "the S_DWITHIN distance=5e-324 is subnormal"),
    ("/ogc/collections/objects/items", {"filter": "S_DWITHIN(geometry,POINT(13.43 52.53),1e308)"},
     "the S_DWITHIN distance=1e+308 is absurdly large"),
    ("/ogc/collections/objects/items", {"filter": f"zmin > {TINY}"}, "a number in the filter=5e-324 is subnormal"),
    ("/ogc/collections/objects/items", {"filter": "zmin > 1e308 * 10"}, "cannot be evaluated: value out of range"),
    ("/ogc/collections/objects/items", {"filter": "zmin / 0 > 1"}, "cannot be evaluated: division by zero"),
    ("/ogc/collections/objects/items", {"filter-lang": "cql2-json", "filter": orjson.dumps(
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [1e308, 0]}]}
    ).decode()}, "a filter geometry's point lon=1e+308 is absurdly large"),
    ("/query/near", {"lon": 13.43, "lat": 52.53, "radius": 10, "kind": "a\x00b"}, "'kind' holds a NUL character"),
    ("/ogc/collections/objects/items", {"use": "a\x00b"}, "'use' holds a NUL character"),
]


@pytest.mark.parametrize(("path", "params", "reason"), EDGE_NUMBERS)
def test_numbers_at_the_edge_answer_400_with_the_reason_on_every_path(served: Served, path: str,
                                                                      params: dict[str, Any], reason: str) -> None:
    answers = _three(served, path, params)
    assert not answers.by_lean and not answers.by_asgi
    for response in (answers.lean, answers.asgi, answers.fastapi):
        assert response.status_code == 400, (response.status_code, response.text)
        assert reason in response.json()["detail"], response.json()["detail"]
        assert response.json() == answers.fastapi.json()


def test_negative_zero_radius_and_the_smallest_normal_number_are_still_answered(served: Served) -> None:
    lon, lat = EAST_ROOM_CENTRE
    for radius in ("-0.0", "0", "2.2250738585072014e-308"):
        answers = _three(served, "/query/near", {"lon": lon, "lat": lat, "radius": radius})
        assert answers.by_lean and answers.by_asgi
        assert {a.status_code for a in (answers.lean, answers.asgi, answers.fastapi)} == {200}
        assert _comparable(answers.lean) == _comparable(answers.fastapi)
