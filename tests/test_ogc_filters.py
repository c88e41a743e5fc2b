"""CQL2 filters (cql2-text and cql2-json) on the items of real collections, and attempts to abuse them."""

from __future__ import annotations

import httpx
import orjson
import pytest
from sqlalchemy import text

from tests.conftest import QueryCity
from tests.helpers.city import EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON


@pytest.fixture(scope="module")
def client(query_city: QueryCity) -> httpx.Client:
    return httpx.Client(base_url=query_city.base_url + "/ogc", timeout=60)


def _ids(client: httpx.Client, collection: str, filter_: str | dict, **params: str) -> list[str]:  # type: ignore[type-arg]
    if isinstance(filter_, dict):
        params = {"filter": orjson.dumps(filter_).decode(), "filter-lang": "cql2-json", **params}
    else:
        params = {"filter": filter_, **params}
    response = client.get(f"/collections/{collection}/items", params={"limit": "10000", **params})
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["features"]]


def _sql_ids(query_city: QueryCity, where: str) -> list[str]:
    with query_city.engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT id FROM twin_objects WHERE {where} ORDER BY id"))]


def test_comparisons_and_logic_on_columns_and_attributes(client: httpx.Client, query_city: QueryCity) -> None:
    expected = _sql_ids(query_city, "dataset_id = 'berlin' AND attributes->>'type' = 'commercial'")
    assert expected and _ids(client, "berlin", "type = 'commercial'") == expected
    levels = _sql_ids(query_city, "dataset_id = 'berlin' AND (attributes->>'levels')::float >= 6")
    assert levels and _ids(client, "berlin", "levels >= 6") == levels
    both = _sql_ids(query_city, "dataset_id = 'berlin' AND (attributes->>'levels')::float >= 6 "
                                "AND attributes->>'type' IS NULL")
    assert _ids(client, "berlin", "levels >= 6 AND type IS NULL") == both
    either = _sql_ids(query_city, "dataset_id = 'berlin' AND (attributes->>'levels')::float > 7 "
                                  "OR attributes->>'type' = 'school'")
    assert _ids(client, "berlin", "levels > 7 OR type = 'school'") == either
    assert _ids(client, "house", "NOT (kind = 'space') AND zmax - zmin > 3") == ["house.b"]
    assert _ids(client, "house", "kind <> 'space' AND zmin = 3") == ["house.s1"]
    # `id` is the twin id; the source's own `id` attribute is reached as `attributes.id`
    assert _ids(client, "berlin", "id = 'berlin.23077868'") == ["berlin.23077868"]
    assert _ids(client, "berlin", "\"attributes.id\" = '23077868'") == ["berlin.23077868"]


def test_like_in_between_and_casei(client: httpx.Client) -> None:
    assert _ids(client, "house", "name LIKE '%room'") == ["house.s1.east", "house.s1.west"]
    assert _ids(client, "house", "CASEI(name) LIKE casei('STOREY _')") == ["house.s0", "house.s1", "house.s2"]
    assert _ids(client, "house", "name NOT LIKE 'Storey%'") == ["house.b", "house.s1.east", "house.s1.west"]
    assert _ids(client, "house", "kind IN ('building', 'space')") == ["house.b", "house.s1.east", "house.s1.west"]
    assert _ids(client, "house", "level IN (0, 2)") == ["house.s0", "house.s2"]
    assert _ids(client, "street", "pressure_bar BETWEEN 5 AND 6") == ["street.h1", "street.h2"]
    assert _ids(client, "nyc", "height BETWEEN 11.3 AND 11.3") == _ids(client, "nyc", "height = 11.3")


def test_cql2_json_says_the_same_as_cql2_text(client: httpx.Client) -> None:
    as_json = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "kind"}, "storey"]},
        {"op": "between", "args": [{"property": "level"}, 1, 2]},
    ]}
    assert _ids(client, "house", as_json) == _ids(client, "house", "kind = 'storey' AND level BETWEEN 1 AND 2")
    assert _ids(client, "house", as_json) == ["house.s1", "house.s2"]


def test_spatial_predicates_intersects_within_and_dwithin_in_metres(client: httpx.Client, query_city: QueryCity
                                                                   ) -> None:
    x, y = EAST_ROOM_CENTRE
    assert _ids(client, "house", f"S_INTERSECTS(geometry, POINT({x} {y})) AND kind = 'space'") == ["house.s1.east"]
    d = 0.002  # ≈136 m east-west, ≈222 m north-south
    ring = [(HOUSE_LON - d, HOUSE_LAT - d), (HOUSE_LON + d, HOUSE_LAT - d), (HOUSE_LON + d, HOUSE_LAT + d),
            (HOUSE_LON - d, HOUSE_LAT + d), (HOUSE_LON - d, HOUSE_LAT - d)]
    box = "POLYGON((" + ", ".join(f"{a} {b}" for a, b in ring) + "))"
    within = _ids(client, "objects", f"S_WITHIN(geometry, {box})")
    assert within == _sql_ids(query_city, f"ST_Within(footprint, ST_GeomFromText('{box}', 4326))")
    assert {"house.b", "house.s1.east", "street.h0", "street.h1"} <= set(within)  # hydrants 70 m and 120 m east
    assert "street.h2" not in within and "street.fire" not in within  # 170 m east, 400 m north
    as_json = {"op": "s_intersects", "args": [{"property": "geometry"},
                                              {"bbox": [HOUSE_LON - d, HOUSE_LAT - d, HOUSE_LON + d, HOUSE_LAT + d]}]}
    assert _ids(client, "objects", as_json) == _sql_ids(
        query_city, f"ST_Intersects(footprint, ST_MakeEnvelope({HOUSE_LON - d}, {HOUSE_LAT - d}, {HOUSE_LON + d}, "
                    f"{HOUSE_LAT + d}, 4326))")
    # hydrants stand 50, 100, 150 … m east of the house's east wall; 120 m from the wall's centre catches two
    wall_x, wall_y = HOUSE_LON + 20 / 67_800, HOUSE_LAT + 10 / 111_260
    assert _ids(client, "street", f"S_DWITHIN(geometry, POINT({wall_x} {wall_y}), 120)") == ["street.h0",
                                                                                             "street.h1"]
    assert _ids(client, "street", {"op": "s_dwithin", "args": [
        {"property": "geometry"}, {"type": "Point", "coordinates": [wall_x, wall_y]}, 160]}) == [
        "street.h0", "street.h1", "street.h2"]


def test_filter_crs_reads_filter_geometries_in_another_crs(client: httpx.Client) -> None:
    x, y = EAST_ROOM_CENTRE
    lat_lon = _ids(client, "house", f"S_INTERSECTS(geometry, POINT({y} {x})) AND kind = 'space'",
                   **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    assert lat_lon == ["house.s1.east"]


@pytest.mark.parametrize("filter_,fragment", [
    ("colour = 'red'", "unknown property 'colour'"),
    ("name = ", "not valid cql2-text"),
    ("\"name; DROP TABLE twin_objects; --\" = 'x'", "unknown property"),
    ("name = 3", "cannot compare a number value with a text value"),
    ("S_INTERSECTS(name, POINT(1 2))", "spatial functions take geometries"),
    ("S_DWITHIN(geometry, POINT(1 2), 5, feet)", "metres"),
    ("T_AFTER(zmin, TIMESTAMP('2020-01-01T00:00:00Z'))", "not a supported condition"),
    ("geometry = 3", "spatial functions"),
    ("foo(name) = 'x'", "not a supported function"),
])
def test_bad_filters_answer_400_with_a_precise_message(client: httpx.Client, filter_: str, fragment: str) -> None:
    response = client.get("/collections/house/items", params={"filter": filter_})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


def test_bad_json_filters_and_languages_answer_400(client: httpx.Client) -> None:
    for params in ({"filter": "{\"op\": \"=\"}", "filter-lang": "cql2-json"},
                   {"filter": "not json", "filter-lang": "cql2-json"},
                   {"filter": "kind = 'x'", "filter-lang": "sql"}):
        response = client.get("/collections/house/items", params=params)
        assert response.status_code == 400, response.text


INJECTIONS = [
    "x'; DROP TABLE twin_objects; --",
    "' OR '1'='1",
    "building' OR 1=1 --",
    "\\'; SELECT pg_sleep(5); --",
    "%' UNION SELECT id, id, id FROM datasets --",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_filter_values_and_property_filters_is_harmless(client: httpx.Client, query_city: QueryCity,
                                                                     payload: str) -> None:
    quoted = payload.replace("'", "''")
    for params in ({"filter": f"kind = '{quoted}'"}, {"filter": f"type LIKE '{quoted}'"},
                   {"kind": payload}, {"type": payload}):
        response = client.get("/collections/objects/items", params=params, timeout=4)
        assert response.status_code == 200, response.text
        assert response.json()["features"] == []
    json_filter = {"op": "=", "args": [{"property": "name"}, payload]}
    assert _ids(client, "objects", json_filter) == []
    with query_city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM twin_objects")).scalar_one() == 662


@pytest.mark.parametrize("name", ["kind'--", "attributes->>'x'", "1=1 OR kind", "id; DROP TABLE datasets"])
def test_injection_in_property_names_is_refused(client: httpx.Client, name: str) -> None:
    assert client.get("/collections/objects/items", params={name: "x"}).status_code == 400
    quoted = name.replace('"', '""')
    assert client.get("/collections/objects/items", params={"filter": f"\"{quoted}\" = 'x'"}).status_code == 400
