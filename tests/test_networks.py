"""Underground networks: pipes and nodes become a snapped graph, objects and valid tube tiles; isolating a leak
names the valves to close and what loses supply, on a small network drawn here with known answers; the real KY4
water network under its terrain; the demo city on its valley with its gas and drainage under the streets."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import shapely
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions
from ingest_gis.network import NetworkOptions, read_network
from ingest_gis.network_kinds import COLORS
from ingest_gis.records import IngestError
from ingest_gis.terrain import TerrainOptions
from scenes.demo_district import park_centre
from scenes.demo_terrain import low_point
from tests.conftest import serving
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, property_strings, tileset_validator
from twin.db import Database
from twin.demo import build_demo_city
from twin.ingest import ingest_footprints
from twin.networks.ingest import ingest_network
from twin.networks.isolation import Graph, isolate
from twin.networks.store import load_graph
from twin.settings import Settings
from twin.terrain.ingest import ingest_terrain
from twin.terrain.store import sample_heights

LON0, LAT0 = 8.43, 49.09
NODES = {"S": (0, 0, "source"), "A": (20, 0, "junction"), "V1": (20, 20, "valve"), "B": (20, 40, "junction"),
         "C": (60, 40, "junction"), "V4": (60, 20, "valve"), "D": (60, 0, "junction"), "V2": (40, 0, "valve"),
         "V3": (80, 40, "valve"), "E": (100, 40, "junction"), "F": (120, 40, "junction")}
PIPES = {"p0": "S A", "p1": "A V1", "p2": "V1 B", "p3": "B C", "p6a": "C V4", "p6b": "V4 D", "p5": "D V2",
         "p4": "V2 A", "p78": "C E", "p9": "E F"}  # p78 passes V3, which lies on it and splits it


def lonlat(x: float, y: float) -> list[float]:
    return [LON0 + x / (111_319.49 * math.cos(math.radians(LAT0))), LAT0 + y / 111_319.49]


def drawn_network() -> dict[str, object]:
    features: list[dict[str, object]] = []
    for pipe, ends in PIPES.items():
        a, b = (NODES[n][:2] for n in ends.split())
        features.append({"type": "Feature", "properties": {"id": pipe, "dn": 150 if pipe != "p9" else 100,
                                                           "depth": 1.2},
                         "geometry": {"type": "LineString", "coordinates": [lonlat(*a), lonlat(*b)]}})
    for node, (x, y, kind) in NODES.items():
        if kind in ("valve", "source"):
            features.append({"type": "Feature", "properties": {"id": node, "kind": kind},
                             "geometry": {"type": "Point", "coordinates": lonlat(x, y)}})
    return {"type": "FeatureCollection", "features": features}


def houses() -> dict[str, object]:
    def square(x: float, y: float) -> list[list[float]]:
        return [lonlat(x - 4, y - 4), lonlat(x + 4, y - 4), lonlat(x + 4, y + 4), lonlat(x - 4, y + 4),
                lonlat(x - 4, y - 4)]

    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": house, "properties": {"height": 8},
         "geometry": {"type": "Polygon", "coordinates": [square(x, y)]}}
        for house, (x, y) in {"h-far-end": (115, 52), "h-loop-south": (50, -12), "h-segment": (40, 52)}.items()]}


@pytest.fixture
def drawn(tmp_path: Path) -> Path:
    path = tmp_path / "gas.geojson"
    path.write_bytes(orjson.dumps(drawn_network()))
    return path


def graph_of(path: Path) -> Graph:
    network = read_network(path, NetworkOptions("gas", "gas", diameter_unit="mm"))
    return Graph.of({n.id: n.kind for n in network.nodes}, [(p.id, p.from_node, p.to_node) for p in network.pipes])


def test_a_leak_in_the_loop_closes_the_valves_around_it_and_the_far_side_of_the_loop_keeps_supply(drawn: Path
                                                                                                 ) -> None:
    answer = isolate(graph_of(drawn), "gas.p3")
    assert answer.valves == ("V1", "V3", "V4")
    assert answer.segment == ("gas.p2", "gas.p3", "gas.p6a", "gas.p78-1")
    assert answer.cut_off == ("gas.p78-2", "gas.p9")  # beyond V3, no way back to the source
    assert answer.sources == 1  # p0, p1 and the loop's south side (p4, p5, p6b) keep their supply


def test_a_leak_at_the_dead_end_needs_one_valve_and_cuts_off_nothing_else(drawn: Path) -> None:
    answer = isolate(graph_of(drawn), "gas.p9")
    assert (answer.valves, answer.segment, answer.cut_off) == (("V3",), ("gas.p78-2", "gas.p9"), ())


def test_a_leak_beside_the_source_cuts_off_everything_behind_its_valves(drawn: Path) -> None:
    answer = isolate(graph_of(drawn), "gas.p0")
    assert answer.valves == ("V1", "V2") and answer.segment == ("gas.p0", "gas.p1", "gas.p4")
    assert set(answer.cut_off) == {"gas.p2", "gas.p3", "gas.p5", "gas.p6a", "gas.p6b", "gas.p78-1", "gas.p78-2",
                                   "gas.p9"}


def test_without_any_source_only_the_segment_is_known_to_lose_supply() -> None:
    graph = Graph.of({"a": "junction", "v": "valve", "b": "junction"}, [("p", "a", "v"), ("q", "v", "b")])
    answer = isolate(graph, "p")
    assert (answer.valves, answer.segment, answer.cut_off, answer.sources) == (("v",), ("p",), (), 0)
    with pytest.raises(KeyError):
        isolate(graph, "nope")


def test_pipe_ends_and_valves_are_snapped_into_one_graph_and_a_valve_on_a_pipe_splits_it(drawn: Path) -> None:
    network = read_network(drawn, NetworkOptions("gas", "gas", diameter_unit="mm", snap_m=0.5))
    ends = {p.id: (p.from_node, p.to_node) for p in network.pipes}
    assert ends["gas.p78-1"][1] == "V3" and ends["gas.p78-2"][0] == "V3"
    assert ends["gas.p3"] == (ends["gas.p2"][1], ends["gas.p78-1"][0])  # B – C
    assert len(network.pipes) == 11 and sum(n.kind == "junction" for n in network.nodes) == 6  # A B C D E F
    pipe = next(p for p in network.pipes if p.id == "gas.p3")
    assert pipe.diameter_m == pytest.approx(0.15) and pipe.length_m == pytest.approx(40.0, abs=0.1)  # geodesic metres


def test_every_tube_has_the_pipes_diameter_and_lies_at_its_depth(drawn: Path) -> None:
    network = read_network(drawn, NetworkOptions("gas", "gas", diameter_unit="mm"))
    meshes = {f.id: f.mesh for f in network.result.features}
    for pipe in network.pipes:
        mesh = meshes[pipe.id]
        assert pipe.z is not None and np.allclose(pipe.z, -1.2)
        rings = mesh.positions[: 2 * 10]  # the first two rings of SIDES = 10 vertices
        centre = np.array([*pipe.line[0], pipe.z[0]])
        scale = np.array([111_319.49 * math.cos(math.radians(LAT0)), 111_319.49, 1.0])
        radii = np.linalg.norm((rings[:10] - centre) * scale, axis=1)
        assert radii == pytest.approx(np.full(10, pipe.diameter_m / 2), abs=1e-3)
        assert tuple(mesh.colors[0]) == COLORS["gas"]  # type: ignore[index]


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    with serving(settings, Database(engine)) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def test_an_ingested_network_answers_isolation_with_the_buildings_that_lose_supply(
        engine: Engine, drawn: Path, tmp_path: Path, served: httpx.Client) -> None:
    houses_path = tmp_path / "houses.geojson"
    houses_path.write_bytes(orjson.dumps(houses()))
    ingest_footprints(engine, houses_path, FootprintOptions("houses"))
    summary = ingest_network(engine, drawn, NetworkOptions("gas", "gas", diameter_unit="mm"), serves="houses")
    assert summary["pipes"] == 11 and summary["served_objects"] == 3 and summary["objects"] == 11 + 5
    listed = served.get("/networks").json()
    assert listed[0]["id"] == "gas" and listed[0]["network_type"] == "gas"

    answer = served.get("/networks/gas/isolate", params={"pipe": "p3"}).json()
    assert [v["node"] for v in answer["valves"]] == ["V1", "V3", "V4"]
    assert answer["valves"][0]["object_id"] == "gas.V1"
    assert answer["isolated_pipes"] == ["gas.p2", "gas.p3", "gas.p6a", "gas.p78-1"]
    assert answer["cut_off_pipes"] == ["gas.p78-2", "gas.p9"]
    assert answer["objects_without_supply"] == ["houses.h-far-end", "houses.h-segment"]
    assert served.get("/networks/gas/isolate", params={"pipe": "gas.p9"}).json()["objects_without_supply"] == \
        ["houses.h-far-end"]
    assert served.get("/networks/gas/isolate", params={"pipe": "nope"}).status_code == 404
    assert served.get("/networks/none/isolate", params={"pipe": "p3"}).status_code == 404
    assert served.get("/networks/gas/isolate").status_code == 422
    pipe = served.get("/objects/gas.p3").json()
    assert pipe["kind"] == "pipe" and pipe["attributes"]["diameter_m"] == 0.15
    assert pipe["geometry"]["type"] == "LineString"


def test_network_tiles_pass_the_gltf_validator_and_carry_every_pipe_and_node_id(engine: Engine, drawn: Path) -> None:
    ingest_network(engine, drawn, NetworkOptions("gas", "gas", diameter_unit="mm"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = 'gas'")).all()
        objects = set(conn.execute(text("SELECT id FROM twin_objects WHERE dataset_id = 'gas'")).scalars())
    tiles = {r.path: bytes(r.content) for r in rows}
    document = orjson.loads(tiles.pop("tileset.json"))
    assert not [e.message for e in tileset_validator().iter_errors(document)]
    assert_valid_glbs(tiles)
    ids = {i for glb in tiles.values() for i in property_strings(glb, "id")}
    assert ids == objects


def test_bad_network_inputs_are_refused_and_nothing_is_stored(engine: Engine, drawn: Path, tmp_path: Path) -> None:
    bare = drawn_network()
    for feature in bare["features"]:  # type: ignore[attr-defined]
        feature["properties"].pop("dn", None)
    no_diameter = tmp_path / "bare.geojson"
    no_diameter.write_bytes(orjson.dumps(bare))
    with pytest.raises(IngestError, match="no usable diameter"):
        ingest_network(engine, no_diameter, NetworkOptions("gas", "gas"))
    with pytest.raises(IngestError, match="--type"):
        NetworkOptions("x", "sewage")
    with pytest.raises(IngestError, match="--ground terrain needs a terrain"):
        ingest_network(engine, drawn, NetworkOptions("gas", "gas", diameter_unit="mm"), ground="terrain")
    with pytest.raises(IngestError, match="no pipe lines"):
        ingest_network(engine, shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), NetworkOptions("x", "water",
                                                                                                    default_diameter=1))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM network_pipes")).scalar_one() == 0
    summary = ingest_network(engine, no_diameter, NetworkOptions("gas", "gas", default_diameter=0.1))
    assert summary["diameter_m"] == [0.1, 0.1]


def test_the_ky4_water_network_ingests_with_its_nodes_and_lies_under_its_terrain(engine: Engine) -> None:
    folder = shared_data("networks/ky4_pipes.geojson").parent
    ingest_terrain(engine, folder / "ky4_elevation.tif", TerrainOptions("ky4-ground", max_zoom=12))
    nodes = tuple(str(folder / f"ky4_{kind}.geojson") for kind in ("junctions", "tanks", "reservoirs", "pumps"))
    summary = ingest_network(engine, folder / "ky4_pipes.geojson", NetworkOptions("ky4", "water", nodes=nodes),
                             ground="terrain")
    assert summary["pipes"] == 1156 and summary["nodes"] == {"junction": 959, "tank": 4, "reservoir": 1, "pump": 2}
    assert summary["source_crs"] == "EPSG:3547" and summary["length_km"] == pytest.approx(260.2, abs=0.5)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.id, p.from_node, p.to_node, o.attributes->>'start_node_name' AS a, "
            "o.attributes->>'end_node_name' AS b, ST_X(ST_StartPoint(p.geom)) AS lon, "
            "ST_Y(ST_StartPoint(p.geom)) AS lat, ST_Z(ST_StartPoint(p.geom)) AS z, p.depth_m, "
            "o.zmax FROM network_pipes p JOIN twin_objects o ON o.id = p.id WHERE p.network_id = 'ky4'")).all()
    mismatched = [r.id for r in rows if (r.from_node, r.to_node) != (r.a, r.b)]
    assert len(mismatched) == 2  # the pipes at the two pumps, whose in/out junctions are one node
    ground, _ = sample_heights(engine, [r.lon for r in rows], [r.lat for r in rows], "ky4-ground")
    z = np.array([r.z for r in rows])
    assert np.isfinite(ground).all() and np.allclose(z, ground - 1.5, atol=1e-6)  # water mains 1.5 m deep
    assert ground.min() > 110 and ground.max() < 230
    with engine.connect() as conn:
        tiles = {r.path: bytes(r.content) for r in conn.execute(text(
            "SELECT path, content FROM tiles WHERE tileset_id = 'ky4'"))}
    assert not [e.message for e in tileset_validator().iter_errors(orjson.loads(tiles.pop("tileset.json")))]
    assert_valid_glbs(tiles)  # the tubes of the real network pass the Khronos validator


def test_the_demo_city_stands_on_its_valley_with_gas_and_drainage_under_its_streets(engine: Engine,
                                                                                    tmp_path: Path) -> None:
    city = build_demo_city(engine, tmp_path / "demo")
    assert city["terrain"]["tiles"] > 0 and city["gas"]["pipes"] > 50 and city["drainage"]["pipes"] > 50
    with engine.connect() as conn:
        buildings = conn.execute(text(
            "SELECT id, zmin, ST_AsBinary(footprint) AS wkb FROM twin_objects WHERE dataset_id = 'demo'")).all()
        pipes = conn.execute(text(
            "SELECT network_id, ST_X(ST_StartPoint(geom)) AS lon, ST_Y(ST_StartPoint(geom)) AS lat, "
            "ST_Z(ST_StartPoint(geom)) AS z, depth_m FROM network_pipes")).all()
        served = conn.execute(text("SELECT count(*) FROM network_services WHERE network_id = 'gas'")).scalar_one()
    lowest = []
    for building in buildings:  # each base at the lowest ground under its corners: none floats
        corners = shapely.get_coordinates(shapely.from_wkb(bytes(building.wkb)))
        ground, _ = sample_heights(engine, corners[:, 0], corners[:, 1], "ground")
        assert building.zmin == pytest.approx(float(ground.min()), abs=1e-3), building.id
        lowest.append(building.zmin)
    assert min(lowest) < -1.0  # the houses along the valley stand in it
    ground, _ = sample_heights(engine, [p.lon for p in pipes], [p.lat for p in pipes], "ground")
    assert np.allclose([p.z for p in pipes], ground - np.array([p.depth_m for p in pipes]), atol=1e-6)
    park, valley = sample_heights(engine, [park_centre()[0], low_point()[0]], [park_centre()[1], low_point()[1]])[0]
    assert park == pytest.approx(0.0, abs=0.01) and valley < -3.0  # the town hall's terrace; the basin
    assert served == len(buildings)  # every house has its gas service line
    gas = load_graph(engine, "gas")
    leak = isolate(gas, "gas.gas-ns-1-1-2") if gas is not None else None  # beyond the valve 6 m into it
    assert leak is not None and "valve-ns-1-1" in leak.valves and leak.sources == 1
