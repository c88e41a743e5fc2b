"""Twin queries by location: near, at (3D containment), nearest k, within a polygon, children and context."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import QueryCity
from tests.helpers.city import DLAT, DLON, EAST_ROOM_CENTRE, HOUSE_LAT, HOUSE_LON
from twin.queries import nearest

WALL = (HOUSE_LON + DLON, HOUSE_LAT + DLAT / 2)
"""Centre of the house's east wall; hydrants stand 50, 100, 150, 200 and 250 m east of it."""


@pytest.fixture(scope="module")
def client(query_city: QueryCity) -> httpx.Client:
    return httpx.Client(base_url=query_city.base_url, timeout=60)


def _ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["id"] for f in body["features"]]


def test_near_finds_objects_within_a_radius_in_metres_nearest_first(client: httpx.Client) -> None:
    body = client.get("/query/near", params={"lon": WALL[0], "lat": WALL[1], "radius": 160, "kind": "hydrant"}).json()
    assert _ids(body) == ["street.h0", "street.h1", "street.h2"]
    distances = [f["properties"]["distance_m"] for f in body["features"]]
    assert distances == pytest.approx([50, 100, 150], abs=0.6)
    assert body["moreAvailable"] is False
    capped = client.get("/query/near", params={"lon": WALL[0], "lat": WALL[1], "radius": 300, "kind": "hydrant",
                                               "limit": 2}).json()
    assert _ids(capped) == ["street.h0", "street.h1"] and capped["moreAvailable"] is True


def test_at_answers_which_space_storey_and_building_hold_a_point_at_a_height(client: httpx.Client) -> None:
    lon, lat = EAST_ROOM_CENTRE
    inside = client.get("/query/at", params={"lon": lon, "lat": lat, "h": 4.5}).json()
    assert _ids(inside) == ["house.s1.east", "house.s1", "house.b"]  # innermost first
    ground = client.get("/query/at", params={"lon": lon, "lat": lat, "h": 1.0}).json()
    assert _ids(ground) == ["house.s0", "house.b"]
    above = client.get("/query/at", params={"lon": lon, "lat": lat, "h": 30}).json()
    assert _ids(above) == []
    every_height = client.get("/query/at", params={"lon": lon, "lat": lat}).json()
    assert len(_ids(every_height)) == 5
    berlin = client.get("/query/at", params={"lon": 13.4141, "lat": 52.5400, "h": 5}).json()
    assert _ids(berlin) == ["berlin.23077868"]


def test_nearest_returns_k_of_a_kind_with_exact_metres(client: httpx.Client) -> None:
    body = client.get("/query/nearest", params={"lon": WALL[0], "lat": WALL[1], "k": 2, "kind": "hydrant"}).json()
    assert _ids(body) == ["street.h0", "street.h1"]
    assert [f["properties"]["distance_m"] for f in body["features"]] == pytest.approx([50, 100], abs=0.6)
    station = client.get("/query/nearest", params={"lon": HOUSE_LON, "lat": HOUSE_LAT, "kind": "fire_station"}
                         ).json()
    assert _ids(station) == ["street.fire"]
    assert station["features"][0]["properties"]["distance_m"] == pytest.approx(400, abs=1)  # its south wall


def test_nearest_is_exact_in_metres_where_degrees_would_rank_wrongly(query_city: QueryCity) -> None:
    """At 60° N a degree of longitude is half a degree of latitude: index order and metre order disagree.

    Twenty beacons stand 111–132 m north (0.00100–0.00119°), one 84 m east (0.0015°): the east one is nearest in
    metres but 21st in degrees, beyond the first round of index candidates, so the search must widen.
    """
    north = ", ".join(f"('north.n{i:02d}', 'north', 'beacon', ST_SetSRID(ST_MakePoint(10.0, {60.001 + i * 1e-5}), "
                      f"4326), 0, 1)" for i in range(20))
    with query_city.engine.begin() as conn:
        conn.execute(text("INSERT INTO datasets (id, name, kind, source) VALUES ('north', 'north', 'handmade', 't')"))
        conn.execute(text(
            "INSERT INTO twin_objects (id, dataset_id, kind, footprint, zmin, zmax) VALUES "
            f"{north}, ('north.east', 'north', 'beacon', ST_SetSRID(ST_MakePoint(10.0015, 60.0), 4326), 0, 1)"))
    try:
        with query_city.engine.connect() as conn:
            found = nearest(conn, 10.0, 60.0, 1, "beacon")
            three = nearest(conn, 10.0, 60.0, 3, "beacon")
        assert [r.id for r in found.rows] == ["north.east"] and found.rounds == 2
        assert [r.id for r in three.rows] == ["north.east", "north.n00", "north.n01"]
    finally:
        with query_city.engine.begin() as conn:
            conn.execute(text("DELETE FROM datasets WHERE id = 'north'"))


def test_within_a_polygon_by_wkt_geojson_and_post_body_with_paging(client: httpx.Client) -> None:
    d = 0.0005
    ring = [[HOUSE_LON - d, HOUSE_LAT - d], [HOUSE_LON + d, HOUSE_LAT - d], [HOUSE_LON + d, HOUSE_LAT + d],
            [HOUSE_LON - d, HOUSE_LAT + d], [HOUSE_LON - d, HOUSE_LAT - d]]
    wkt = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
    expected = ["house.b", "house.s0", "house.s1", "house.s1.east", "house.s1.west", "house.s2"]
    assert _ids(client.get("/query/within", params={"geometry": wkt}).json()) == expected
    polygon = {"type": "Polygon", "coordinates": [ring]}
    assert _ids(client.post("/query/within", json=polygon).json()) == expected
    feature = {"type": "Feature", "properties": {}, "geometry": polygon}
    assert _ids(client.post("/query/within", json=feature, params={"kind": "space"}).json()) == expected[3:5]
    first = client.get("/query/within", params={"geometry": wkt, "limit": 4}).json()
    assert _ids(first) == expected[:4]
    (next_link,) = [link["href"] for link in first["links"] if link["rel"] == "next"]
    assert _ids(client.get(next_link).json()) == expected[4:]


def test_children_and_context_walk_the_building_hierarchy(client: httpx.Client) -> None:
    storeys = client.get("/objects/house.b/children").json()
    assert _ids(storeys) == ["house.s0", "house.s1", "house.s2"]
    rooms = client.get("/objects/house.s1/children", params={"limit": 1}).json()
    assert _ids(rooms) == ["house.s1.east"]
    (more,) = [link["href"] for link in rooms["links"] if link["rel"] == "next"]
    assert _ids(client.get(more).json()) == ["house.s1.west"]
    context = client.get("/objects/house.s1/context").json()
    assert context["id"] == "house.s1" and context["type"] == "Feature"
    assert context["properties"]["level"] == 1
    assert context["parent"]["id"] == "house.b"
    assert _ids(context["children"]) == ["house.s1.east", "house.s1.west"]
    top = client.get("/objects/house.b/context", params={"children": 2}).json()
    assert top["parent"] is None and _ids(top["children"]) == ["house.s0", "house.s1"]
    assert [link["rel"] for link in top["children"]["links"]] == ["next"]
    assert client.get("/objects/nothing/context").status_code == 404


@pytest.mark.parametrize("path,params", [
    ("/query/near", {"lon": 200, "lat": 52, "radius": 10}),
    ("/query/near", {"lon": 13, "lat": 52, "radius": -1}),
    ("/query/near", {"lon": 13, "lat": 52, "radius": 1e9}),
    ("/query/near", {"lon": "east", "lat": 52, "radius": 10}),
    ("/query/near", {"lon": 13, "lat": 52}),
    ("/query/at", {"lon": 13, "lat": 95}),
    ("/query/nearest", {"lon": 13, "lat": 52, "k": 0}),
    ("/query/nearest", {"lon": 13, "lat": 52, "k": 5000}),
    ("/query/within", {"geometry": "POINT(1 2)"}),
    ("/query/within", {"geometry": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"}),
    ("/query/within", {"geometry": "{not json"}),
    ("/query/within", {"geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))", "relation": "touches"}),
    ("/query/near", {"lon": 13, "lat": 52, "radius": 10, "crs": "EPSG:1"}),
    ("/objects/house.b/children", {"limit": 0}),
])
def test_bad_query_parameters_answer_400(client: httpx.Client, path: str, params: dict[str, object]) -> None:
    response = client.get(path, params=params)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
