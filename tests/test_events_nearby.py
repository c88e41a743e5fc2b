"""Resources, roads and cameras near events on a real PostGIS with pgRouting: point and mixed layers, nearest-k
against a brute force, a generated road network's route, travel time and one-way street, the OSM road layer made
routable, and camera coverage at the edge of the view."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pyproj import Geod
from sqlalchemy import Engine, text

from ingest_gis.points import PointOptions, read_points
from ingest_gis.roads import RoadOptions, parse_oneway, parse_speed, read_roads
from tests.conftest import populated_server
from tests.helpers.data import shared_data
from twin.events.coverage import View, covers
from twin.events.roads_store import ingest_roads
from twin.ingest import ingest_points

GEOD = Geod(ellps="WGS84")
LON0, LAT0 = 13.40, 52.50


def at(x: float, y: float) -> list[float]:
    """The point x metres east and y metres north of the origin."""
    lon, lat, _ = GEOD.fwd(LON0, LAT0, 90, x) if x else (LON0, LAT0, 0)
    if y:
        lon, lat, _ = GEOD.fwd(lon, lat, 0, y)
    return [lon, lat]


def feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point(x: float, y: float, **properties: Any) -> dict[str, Any]:
    return feature({"type": "Point", "coordinates": at(x, y)}, **properties)


def line(*xy: tuple[float, float], **properties: Any) -> dict[str, Any]:
    return feature({"type": "LineString", "coordinates": [at(x, y) for x, y in xy]}, **properties)


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    return path


ROADS = [  # A and B cross at (500, 0) without a shared vertex; C is one-way from (1000, 500) down to (1000, 0)
    line((0, 0), (1000, 0), highway="residential", maxspeed="36", name="A"),
    line((500, -500), (500, 500), highway="residential", maxspeed="18", name="B"),
    line((1000, 0), (1000, 500), highway="residential", maxspeed="36", oneway="-1", name="C"),
    line((500, 500), (1000, 500), highway="residential", maxspeed="36", name="D"),
    line((0, 0), (0, -300), highway="footway", name="walk"),
]
RESOURCES = [point(0, 0, kind="fire_station", name="S"), point(1000, 500, kind="fire_station", name="T"),
             point(300, 50, kind="camera", heading=90, fov=60, range_m=250, stream_url="rtsp://cam/1"),
             point(300, -50, kind="camera", heading=270, fov=60, range_m=250, stream_url="rtsp://cam/2")]
random.seed(7)
HYDRANTS = [point(random.uniform(-800, 1800), random.uniform(-800, 1300), kind="fire_hydrant", id=f"h{i}")
            for i in range(60)]


@pytest.fixture
def city(server_url: str, template_database: str, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    def populate(engine: Engine) -> None:
        ingest_points(engine, write(tmp_path / "res.geojson", RESOURCES + HYDRANTS), PointOptions(name="res"))
        ingest_roads(engine, write(tmp_path / "roads.geojson", ROADS), RoadOptions(name="grid"))

    with populated_server(server_url, template_database, tmp_path, populate) as served:
        yield served


def report(base: str, x: float, y: float) -> int:
    answer = httpx.post(f"{base}/events", json={"kind": "fire", "location": at(x, y), "title": "fire"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["event"]["id"])


def path_metres(*xy: tuple[float, float]) -> float:
    lons, lats = zip(*(at(x, y) for x, y in xy), strict=True)
    return float(GEOD.line_length(lons, lats))


def test_speed_limits_and_one_way_tags_are_read_from_raw_text() -> None:
    assert [parse_speed(v) for v in ("50", "30 mph", "50;30", "none", "signals", "RU:urban", "", 80)] == \
        [50, pytest.approx(48.28032), 50, None, None, None, None, 80]
    assert [parse_oneway(v) for v in ("yes", "true", "1", "-1", "no", "", None)] == [1, 1, 1, -1, 0, 0, 0]
    assert parse_oneway("", "motorway") == 1 and parse_oneway("", "primary", "roundabout") == 1


def test_the_route_and_travel_time_are_right_and_a_one_way_street_is_respected(city: tuple[str, Engine]) -> None:
    base, _ = city
    event = report(base, 1000, 500)  # at T; S must go round by B and D: C is one-way the other way
    got = httpx.get(f"{base}/events/{event}/nearby", params={"kinds": "fire_station", "k": 2}).json()
    station_s = next(r for r in got["resources"]["fire_station"]["straight"] if r["name"] == "S")
    expected = [path_metres((0, 0), (500, 0)), path_metres((500, 0), (500, 500)), path_metres((500, 500), (1000, 500))]
    assert station_s["road"]["distance_m"] == pytest.approx(sum(expected), rel=1e-4)
    assert station_s["road"]["travel_s"] == pytest.approx(expected[0] / 10 + expected[1] / 5 + expected[2] / 10,
                                                          rel=1e-4)
    route = station_s["road"]["route"]["coordinates"]
    assert route[0] == pytest.approx(at(0, 0), abs=1e-6) and route[-1] == pytest.approx(at(1000, 500), abs=1e-6)
    back = report(base, 0, 0)  # from T to S the one-way street C is the way: down C, then all of A
    got = httpx.get(f"{base}/events/{back}/nearby", params={"kinds": "fire_station", "k": 2}).json()
    station_t = next(r for r in got["resources"]["fire_station"]["by_road"] if r["name"] == "T")
    down = [path_metres((1000, 500), (1000, 0)), path_metres((1000, 0), (500, 0)), path_metres((500, 0), (0, 0))]
    assert station_t["road"]["travel_s"] == pytest.approx(sum(down) / 10, rel=1e-4)
    assert got["resources"]["fire_station"]["by_road"][0]["name"] == "S"  # where the event is: no travel


def test_the_nearest_k_resources_equal_a_brute_force_check(city: tuple[str, Engine]) -> None:
    base, _ = city
    for x, y in ((200, 300), (-700, 1200), (1500, -100)):
        event = report(base, x, y)
        got = httpx.get(f"{base}/events/{event}/nearby", params={"kinds": "hydrant", "k": 5}).json()
        where = at(x, y)
        metres = sorted((GEOD.inv(where[0], where[1], *h["geometry"]["coordinates"])[2], h["properties"]["id"])
                        for h in HYDRANTS)
        straight = got["resources"]["hydrant"]["straight"]
        assert [r["id"] for r in straight] == [f"res.{i}" for _, i in metres[:5]]
        assert [r["distance_m"] for r in straight] == pytest.approx([m for m, _ in metres[:5]], abs=1e-3)


def test_a_camera_covers_a_point_right_at_the_edge_of_its_view() -> None:
    view = View(heading=90.0, fov=60.0, range_m=200.0)
    camera = (LON0, LAT0)
    for azimuth, metres, seen in ((120.0, 100.0, True), (120.01, 100.0, False), (60.0, 100.0, True),
                                  (59.99, 100.0, False), (90.0, 200.0, True), (90.0, 200.01, False)):
        lon, lat, _ = GEOD.fwd(LON0, LAT0, azimuth, metres)
        assert covers(camera, view, (lon, lat)) is seen, (azimuth, metres)
    assert covers(camera, View(None, 60.0, 200.0), GEOD.fwd(LON0, LAT0, 250, 150)[:2])  # a dome sees all round
    north = View(heading=350.0, fov=40.0, range_m=100.0)  # the view spans north: 330° … 10°
    assert covers(camera, north, GEOD.fwd(LON0, LAT0, 9.9, 50)[:2])
    assert not covers(camera, north, GEOD.fwd(LON0, LAT0, 10.1, 50)[:2])


def test_the_cameras_that_see_an_event_are_listed_with_their_stream_urls(city: tuple[str, Engine]) -> None:
    base, _ = city
    event = report(base, 500, 50)  # 200 m east of camera 1, which looks east; camera 2 looks west
    got = httpx.get(f"{base}/events/{event}/nearby", params={"kinds": "hydrant", "k": 1}).json()
    assert [(c["stream_url"], round(c["distance_m"])) for c in got["cameras"]] == [("rtsp://cam/1", 200)]
    far = report(base, 600, 50)  # 300 m: out of range
    assert httpx.get(f"{base}/events/{far}/nearby", params={"kinds": "hydrant"}).json()["cameras"] == []


def test_a_mixed_layer_puts_points_and_polygons_each_where_they_belong(tmp_path: Path) -> None:
    square = [at(0, 0), at(20, 0), at(20, 20), at(0, 20), at(0, 0)]
    layer = write(tmp_path / "mixed.geojson", [
        point(50, 50, amenity="hospital", name="Charité"), point(60, 60, emergency="fire_hydrant"),
        feature({"type": "Polygon", "coordinates": [square]}, name="house", height=12),
        line((0, 0), (10, 10), name="fence")])
    result = read_points(layer, PointOptions(name="mixed"))
    assert sorted((o.kind, o.name, o.footprint.geom_type) for o in result.objects) == [
        ("building", "house", "Polygon"), ("hospital", "Charité", "Point"), ("hydrant", None, "Point")]
    building = next(o for o in result.objects if o.kind == "building")
    assert building.zmax - building.zmin == 12
    assert len(result.features) == 3
    assert any("1 LineString" in w for w in result.warnings)


def test_bad_nearby_requests_get_a_clear_4xx(city: tuple[str, Engine]) -> None:
    base, _ = city
    event = report(base, 0, 0)
    assert httpx.get(f"{base}/events/{event}/nearby", params={"kinds": "DROP TABLE"}).status_code == 400
    assert httpx.get(f"{base}/events/{event}/nearby", params={"k": 0}).status_code == 422
    assert httpx.get(f"{base}/events/987654/nearby").status_code == 404


def test_the_osm_road_layer_becomes_a_routable_network(engine: Engine) -> None:
    path = shared_data("roads/osm_swellendam_training_data.gpkg")
    raw = read_roads(path, RoadOptions(name="swellendam"))
    summary = ingest_roads(engine, path, RoadOptions(name="swellendam"))
    assert summary["edges"] == len(raw.edges) > 717  # ways split at their junctions
    assert summary["oneway_edges"] > 0 and any("footway" in w for w in summary["warnings"])
    components_sql = ("SELECT node, component FROM pgr_connectedComponents("
                      "'SELECT id, source, target, cost, reverse_cost FROM roads')")
    with engine.connect() as conn:
        speeds: dict[str, float] = dict(conn.execute(text(
            "SELECT class, mode() WITHIN GROUP (ORDER BY speed_kmh) FROM roads GROUP BY class")).all())
        components = conn.execute(text(
            f"SELECT component, count(*) FROM ({components_sql}) c GROUP BY component ORDER BY 2 DESC")).all()
        nodes: int = conn.execute(text("SELECT count(*) FROM road_nodes")).scalar_one()
        ends = conn.execute(text(
            f"SELECT min(n.id) FILTER (WHERE ST_X(n.geom) = (SELECT min(ST_X(geom)) FROM road_nodes m JOIN "
            f"({components_sql}) d ON d.node = m.id WHERE d.component = :c)), "
            f"min(n.id) FILTER (WHERE ST_X(n.geom) = (SELECT max(ST_X(geom)) FROM road_nodes m JOIN "
            f"({components_sql}) d ON d.node = m.id WHERE d.component = :c)) FROM road_nodes n"),
            {"c": components[0][0]}).one()
        route = conn.execute(text("SELECT max(agg_cost), count(*) FROM pgr_dijkstra('SELECT id, source, target, "
                                  "length_m AS cost, length_m AS reverse_cost FROM roads', :a, :b, false)"),
                             {"a": ends[0], "b": ends[1]}).one()
    assert speeds["residential"] == 30 and speeds["track"] == 15  # untagged streets take their class's speed
    assert speeds["trunk"] == 100  # most trunk road pieces are tagged maxspeed=100
    assert components[0][1] > 0.8 * nodes  # most of the town is one connected network
    assert route[1] > 20 and route[0] > 10_000  # west to east across the network


def test_the_demo_streets_and_resources_route_a_fire_engine_to_the_park(
        server_url: str, template_database: str, tmp_path: Path) -> None:
    from scenes.demo_district import park_centre
    from scenes.demo_resources import generate_resources, generate_streets

    def populate(engine: Engine) -> None:
        ingest_points(engine, write(tmp_path / "res.geojson", generate_resources()["features"]),
                      PointOptions(name="resources"))
        ingest_roads(engine, write(tmp_path / "streets.geojson", generate_streets()["features"]),
                     RoadOptions(name="streets"))

    with populated_server(server_url, template_database, tmp_path / "server", populate) as (base, _):
        lon, lat = park_centre()
        answer = httpx.post(f"{base}/events", json={"kind": "fire", "location": [lon, lat, 0], "title": "park"})
        got = httpx.get(f"{base}/events/{answer.json()['event']['id']}/nearby",
                        params={"kinds": "fire_station,hydrant,shelter", "k": 1}).json()
    station = got["resources"]["fire_station"]["by_road"][0]
    assert station["name"] == "Feuerwache Nord" and 0 < station["road"]["travel_s"] < 120
    assert got["resources"]["hydrant"]["straight"] and got["resources"]["shelter"]["straight"]
