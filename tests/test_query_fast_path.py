"""The bare-ASGI query path answers exactly what the FastAPI routes answer, and leaves them what it cannot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import QueryCity, serving_app
from tests.helpers.city import DLAT, DLON, EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON
from twin.api import create_app
from twin.api.lean_pool import APPLICATION_NAME
from twin.db import Database
from twin.settings import Settings

UTM33 = "http://www.opengis.net/def/crs/EPSG/0/25833"
COMPARED_HEADERS = ("content-type", "content-crs", "access-control-allow-origin", "access-control-expose-headers")


@pytest.fixture(scope="module")
def app_and_client(query_city: QueryCity, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[FastAPI, httpx.Client]]:
    url = query_city.engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, data_dir=Path(tmp_path_factory.mktemp("fast")))
    app = create_app(settings, Database(query_city.engine))
    with serving_app(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield app, client


def _both(app: FastAPI, client: httpx.Client, path: str, params: dict[str, Any],
          headers: dict[str, str] | None = None) -> tuple[httpx.Response, httpx.Response, bool]:
    """The answer with the fast path on, the answer with it off, and whether the fast path gave the first."""
    queries = app.state.queries
    before = queries.answered
    fast = client.get(path, params=params, headers=headers)
    answered = queries.answered > before
    app.state.queries = None
    try:
        slow = client.get(path, params=params, headers=headers)
    finally:
        app.state.queries = queries
    return fast, slow, answered


def _comparable(response: httpx.Response) -> tuple[int, dict[str, Any], dict[str, str | None]]:
    body = orjson.loads(response.content)
    body.pop("timeStamp", None)
    return response.status_code, body, {name: response.headers.get(name) for name in COMPARED_HEADERS}


def _berlin_box(query_city: QueryCity) -> str:
    with query_city.engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(extent) AS c FROM datasets "
                                 "WHERE id = 'berlin') AS d")).one()
    return f"{x - 0.002},{y - 0.001},{x + 0.002},{y + 0.001}"


def test_fast_answers_equal_the_fastapi_answers(app_and_client: tuple[FastAPI, httpx.Client],
                                                query_city: QueryCity) -> None:
    app, client = app_and_client
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
        fast, slow, answered = _both(app, client, path, params)
        assert answered, (path, params)
        assert fast.status_code == 200, fast.text
        assert _comparable(fast) == _comparable(slow), (path, params)
        assert fast.headers["content-length"] == str(len(fast.content))
    berlin = client.get("/ogc/collections/berlin/items", params={"bbox": _berlin_box(query_city), "limit": 50})
    assert len(berlin.json()["features"]) == 50
    assert any(link["rel"] == "next" for link in berlin.json()["links"])


def test_cross_origin_requests_get_the_same_cors_headers(app_and_client: tuple[FastAPI, httpx.Client]) -> None:
    app, client = app_and_client
    lon, lat = EAST_ROOM_CENTRE
    fast, slow, answered = _both(app, client, "/query/at", {"lon": lon, "lat": lat},
                                 {"Origin": "https://dashboard.example"})
    assert answered
    assert _comparable(fast) == _comparable(slow)
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
def test_what_the_fast_path_cannot_judge_goes_to_fastapi(app_and_client: tuple[FastAPI, httpx.Client], path: str,
                                                         params: dict[str, Any]) -> None:
    app, client = app_and_client
    fast, slow, answered = _both(app, client, path, params)
    assert not answered
    assert fast.status_code == slow.status_code
    assert fast.json().keys() == slow.json().keys()


def test_repeated_parameters_go_to_fastapi(app_and_client: tuple[FastAPI, httpx.Client]) -> None:
    app, client = app_and_client
    before = app.state.queries.answered
    response = client.get("/query/at?lon=13.4&lon=13.5&lat=52.5")
    assert app.state.queries.answered == before
    assert response.status_code in (200, 400, 422)


def test_a_lost_connection_costs_one_declined_request_then_the_fast_path_reconnects(
        app_and_client: tuple[FastAPI, httpx.Client], query_city: QueryCity) -> None:
    app, client = app_and_client
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
