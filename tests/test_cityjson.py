"""CityJSON: Delft's city model into PostGIS and tiles; an authored LoD2 house for semantics, parts and winding."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
import trimesh
from sqlalchemy import Engine, text

from ingest_gis.cityjson import CityJsonOptions, choose_lod, read_cityjson
from ingest_gis.records import IngestError
from tests.helpers.citymodels import (
    ATTRIBUTES,
    VOLUMES,
    assert_colours_follow_facing,
    cityjson_house,
    object_solid,
    vertex_classes,
)
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, property_strings, tileset_validator
from tiles.geodesy import EnuFrame
from tiles.glb import unpack_glb
from twin import repository
from twin.ingest import ingest_cityjson, ingest_footprints

DELFT = "gis/delft.city.json"


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("datasets", "twin_objects", "tilesets", "tiles"))


def _tiles(engine: Engine, dataset: str) -> dict[str, bytes]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = :t"), {"t": dataset}).all()
    return {r.path: bytes(r.content) for r in rows}


def _attributes(glb: bytes) -> set[str]:
    gltf, _ = unpack_glb(glb)
    primitive = gltf["meshes"][0]["primitives"][0]  # type: ignore[index]
    draco = primitive.get("extensions", {}).get("KHR_draco_mesh_compression", {})
    return set(primitive["attributes"]) | set(draco.get("attributes", {}))


def _write(tmp_path: Path, doc: object, name: str = "house.city.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(doc))
    return path


def test_delft_lands_in_delft_with_every_building_an_object_carrying_its_attributes(engine: Engine) -> None:
    path = shared_data(DELFT)
    summary = ingest_cityjson(engine, path, CityJsonOptions("delft"))
    source = json.loads(path.read_text())["CityObjects"]
    assert summary["objects"] == 570 and summary["version"] == "2.0" and summary["source_crs"] == "EPSG:7415"
    assert summary["types"]["Building"] == 160 and summary["lods"] == {"1": 570}
    assert summary["vertical"] == {"crs": "EPSG:7415", "horizontal": "Amersfoort / RD New", "vertical": "NAP height",
                                   "heights": "gravity-related"}
    assert any("NAP height" in w and "no geoid model" in w for w in summary["warnings"])
    with engine.connect() as conn:
        kinds = Counter(r.kind for r in conn.execute(text("SELECT kind FROM twin_objects")))
        lon, lat = conn.execute(text("SELECT ST_X(ST_Centroid(ST_Collect(footprint))), "
                                     "ST_Y(ST_Centroid(ST_Collect(footprint))) FROM twin_objects "
                                     "WHERE kind = 'building'")).one()
        invalid = conn.execute(text("SELECT count(*) FROM twin_objects WHERE NOT ST_IsValid(footprint)")).scalar_one()
    assert kinds == {"building": 160, "road": 143, "plant_cover": 126, "land_use": 81, "generic_city_object": 54,
                     "bridge": 3, "water_body": 3}
    assert lat == pytest.approx(52.0, abs=0.02) and lon == pytest.approx(4.36, abs=0.02)
    assert invalid == 0
    buildings = [k for k, o in source.items() if o["type"] == "Building"]
    for key in (buildings[0], buildings[77], buildings[-1]):
        record = repository.get_object(engine, f"delft.{key}")
        assert record["kind"] == "building" and record["attributes"] == source[key]["attributes"]
    first = repository.get_object(engine, f"delft.{buildings[0]}")
    assert first["attributes"]["measuredHeight"] == 6 and first["attributes"]["bgt_status"] == "bestaand"
    assert first["zmax"] == pytest.approx(6.0, abs=0.01)  # the 3dfier roof height, NAP metres

    tiles = _tiles(engine, "delft")
    tileset = orjson.loads(tiles["tileset.json"])
    tileset_validator().validate(tileset)
    assert set(summary["surfaces"]) == {"roof", "wall", "vegetation", "water", "transport", "terrain", "other"}
    glbs = {p: c for p, c in tiles.items() if p.endswith(".glb")}
    assert len(glbs) == summary["tiles"]
    assert_valid_glbs(glbs)
    tiled = {i for c in glbs.values() for i in property_strings(c, "id")}
    assert {f"delft.{k}" for k in buildings} <= tiled and len(tiled) == 570
    assert all("COLOR_0" in _attributes(c) for c in glbs.values())
    types = {t for c in glbs.values() for t in property_strings(c, "type")}
    assert types == {"Building", "Road", "PlantCover", "LandUse", "GenericCityObject", "Bridge", "WaterBody"}


@pytest.mark.parametrize("version", ["1.0", "1.1", "2.0"])
def test_an_lod2_house_keeps_roof_wall_and_ground_apart_with_closed_outward_solids(tmp_path: Path,
                                                                                   version: str) -> None:
    result = read_cityjson(_write(tmp_path, cityjson_house(version)), CityJsonOptions("house"))
    assert result.summary["lods"] == {"2.2": 2} and result.summary["version"] == version
    by_id = {o.id: o for o in result.objects}
    block, part = by_id["house.B1"], by_id["house.B1-P"]
    assert (block.kind, part.kind, part.parent_id, block.parent_id) == ("building", "building_part", "house.B1", None)
    assert block.attributes == ATTRIBUTES["B1"] and part.attributes == ATTRIBUTES["B1-P"]
    assert block.name == "Courtyard block"
    assert (block.zmin, block.zmax, part.zmax) == (pytest.approx(0), pytest.approx(6), pytest.approx(5))
    # the building's footprint covers its part and keeps the courtyard open
    assert block.footprint.geom_type == "Polygon" and len(block.footprint.interiors) == 1
    assert part.footprint.within(block.footprint.buffer(1e-9))
    assert sorted(f.id for f in result.features) == ["house.B1", "house.B1-P"]
    for feature in result.features:
        assert assert_colours_follow_facing(feature) == {"roof", "wall", "ground"}
        assert feature.properties["lod"] == "2.2"
        assert feature.properties["type"] == ("Building" if feature.id == "house.B1" else "BuildingPart")
        assert feature.properties["height"] == (6.0 if feature.id == "house.B1" else 5.0)
    for object_id, key in (("house.B1", "B1"), ("house.B1-P", "B1-P")):
        solid = object_solid(result.features, object_id)
        assert solid.is_watertight and solid.is_winding_consistent
        assert solid.volume == pytest.approx(VOLUMES[key], rel=1e-3)  # positive: wound outwards
    # the courtyard is a hole in the roof: 400 − 64 m² of flat roof
    block_mesh = next(f for f in result.features if f.id == "house.B1").mesh
    roof_triangles = block_mesh.triangles[vertex_classes(next(f for f in result.features if f.id == "house.B1"))
                                          [block_mesh.triangles[:, 0]] == "roof"]
    frame = EnuFrame(float(block_mesh.positions[0, 0]), float(block_mesh.positions[0, 1]))
    assert trimesh.Trimesh(frame.from_geodetic(*block_mesh.positions.T), roof_triangles).area == \
        pytest.approx(336, rel=1e-3)


@pytest.mark.parametrize("geometry_type", ["MultiSurface", "CompositeSurface", "MultiSolid", "CompositeSolid"])
def test_every_surface_and_solid_geometry_type_reads_the_same_house(tmp_path: Path, geometry_type: str) -> None:
    doc = cityjson_house()
    for obj in doc["CityObjects"].values():
        lod2 = obj["geometry"][1]
        shell, values = lod2["boundaries"][0], lod2["semantics"]["values"][0]
        if geometry_type.endswith("Surface"):
            lod2["boundaries"], lod2["semantics"]["values"] = shell, values
        else:
            lod2["boundaries"], lod2["semantics"]["values"] = [[shell]], [[values]]
        lod2["type"] = geometry_type
    result = read_cityjson(_write(tmp_path, doc), CityJsonOptions("house"))
    for feature in result.features:
        assert assert_colours_follow_facing(feature) == {"roof", "wall", "ground"}
    for object_id, key in (("house.B1", "B1"), ("house.B1-P", "B1-P")):
        solid = object_solid(result.features, object_id)
        assert solid.is_watertight and solid.volume == pytest.approx(VOLUMES[key], rel=1e-3)


def test_vertex_normals_agree_with_the_winding_of_every_triangle(tmp_path: Path) -> None:
    result = read_cityjson(_write(tmp_path, cityjson_house()), CityJsonOptions("house"))
    for feature in result.features:
        mesh = feature.mesh
        frame = EnuFrame(float(mesh.positions[0, 0]), float(mesh.positions[0, 1]))
        corners = frame.from_geodetic(*mesh.positions.T)[mesh.triangles]
        geometric = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        geometric /= np.linalg.norm(geometric, axis=1, keepdims=True)
        stored = frame.normals_from_local(mesh.positions[:, 0], mesh.positions[:, 1], mesh.normals)
        assert (np.einsum("ij,ij->i", geometric, stored[mesh.triangles[:, 0]]) > 0.999).all()


def test_solids_written_inside_out_are_turned_outwards_with_a_warning(tmp_path: Path) -> None:
    result = read_cityjson(_write(tmp_path, cityjson_house(inside_out=True)), CityJsonOptions("house"))
    assert "2 solids had their surfaces wound inwards and were turned outwards" in result.warnings
    assert object_solid(result.features, "house.B1").volume == pytest.approx(VOLUMES["B1"], rel=1e-3)
    for feature in result.features:
        assert assert_colours_follow_facing(feature) == {"roof", "wall", "ground"}


def test_the_asked_lod_is_taken_and_a_missing_one_falls_back_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, cityjson_house())
    lod1 = read_cityjson(path, CityJsonOptions("house", lod="1"))
    assert lod1.summary["lods"] == {"1": 2} and not any("LoD" in w for w in lod1.warnings)
    block = next(o for o in lod1.objects if o.id == "house.B1")
    assert len(block.footprint.interiors) == 0 and block.zmax == pytest.approx(6)  # the plain box
    lod3 = read_cityjson(path, CityJsonOptions("house", lod="3"))
    assert lod3.summary["lods"] == {"2.2": 2}
    assert "2 objects have no LoD3 geometry and keep their nearest: 2 LoD2.2" in lod3.warnings
    assert choose_lod(["1", "2.2", "2"], "2") == "2.2" and choose_lod(["1.2", "1.3"], "best") == "1.3"
    assert choose_lod(["2"], "1") == "2" and choose_lod(["0", "2"], "1") == "0" and choose_lod([], "best") is None


def test_a_geometry_template_instance_is_placed_at_its_reference_point(tmp_path: Path) -> None:
    doc = cityjson_house()
    doc["geometry-templates"] = {
        "templates": [{"type": "MultiSurface", "lod": "1",
                       "boundaries": [[[0, 1, 2]], [[0, 2, 3]]]}],  # a 2 × 2 m upright board
        "vertices-templates": [[-1, 0, 0], [1, 0, 0], [1, 0, 2], [-1, 0, 2]]}
    doc["vertices"].append([50_000, 50_000, 0])
    doc["CityObjects"]["T1"] = {"type": "SolitaryVegetationObject", "geometry": [
        {"type": "GeometryInstance", "template": 0, "boundaries": [len(doc["vertices"]) - 1],
         "transformationMatrix": [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1]}]}
    result = read_cityjson(_write(tmp_path, doc), CityJsonOptions("house"))
    tree = next(o for o in result.objects if o.id == "house.T1")
    assert tree.kind == "solitary_vegetation_object" and (tree.zmin, tree.zmax) == (0.0, 4.0)
    feature = next(f for f in result.features if f.id == "house.T1")
    assert set(vertex_classes(feature)) == {"vegetation"} and len(feature.mesh.triangles) == 2


def test_a_cityjson_text_sequence_reads_each_feature_with_its_own_vertices(tmp_path: Path) -> None:
    doc = cityjson_house("2.0")
    header = {k: v for k, v in doc.items() if k not in ("CityObjects", "vertices")} | {"CityObjects": {},
                                                                                       "vertices": []}
    first = {"type": "CityJSONFeature", "id": "B1", "CityObjects": doc["CityObjects"], "vertices": doc["vertices"]}
    moved = orjson.loads(orjson.dumps(doc["CityObjects"]).replace(b"B1", b"B2"))
    second = {"type": "CityJSONFeature", "id": "B2", "CityObjects": moved,
              "vertices": [[x + 100_000, y, z] for x, y, z in doc["vertices"]]}  # 100 m east
    path = tmp_path / "houses.city.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(d) for d in (header, first, second)) + b"\n")
    result = read_cityjson(path, CityJsonOptions("seq"))
    by_id = {o.id: o for o in result.objects}
    assert sorted(by_id) == ["seq.B1", "seq.B1-P", "seq.B2", "seq.B2-P"] and by_id["seq.B2-P"].parent_id == "seq.B2"
    for key in ("B1", "B2"):
        assert object_solid(result.features, f"seq.{key}").volume == pytest.approx(VOLUMES["B1"], rel=1e-3)
    shift = by_id["seq.B2"].footprint.centroid.x - by_id["seq.B1"].footprint.centroid.x
    assert shift * 111_320 * np.cos(np.radians(52.0)) == pytest.approx(100, abs=0.5)
    path.write_bytes(b"\n".join([orjson.dumps(header), orjson.dumps(first), b'{"type": "Feature"}']))
    with pytest.raises(IngestError, match="line 3 is not a CityJSONFeature"):
        read_cityjson(path, CityJsonOptions("seq"))


def test_cityjson_ingest_stores_objects_and_tiles_in_postgis_and_reingest_replaces_them(engine: Engine,
                                                                                        tmp_path: Path) -> None:
    path = _write(tmp_path, cityjson_house())
    first = ingest_cityjson(engine, path, CityJsonOptions("house"), max_features_per_tile=1)
    again = ingest_cityjson(engine, path, CityJsonOptions("house"), max_features_per_tile=1)
    assert first["objects"] == again["objects"] == 2 and first["surfaces"] == {"roof": 3, "wall": 12, "ground": 2}
    assert _counts(engine) == (1, 2, 1, again["tiles"] + 1)
    tiles = _tiles(engine, "house")
    tileset_validator().validate(orjson.loads(tiles["tileset.json"]))
    assert_valid_glbs({p: c for p, c in tiles.items() if p.endswith(".glb")})
    with engine.connect() as conn:
        parent = conn.execute(text("SELECT parent_id FROM twin_objects WHERE id = 'house.B1-P'")).scalar_one()
        summary = conn.execute(text("SELECT summary FROM datasets WHERE id = 'house'")).scalar_one()
    assert parent == "house.B1" and summary["surfaces"] == first["surfaces"] and summary["version"] == "2.0"


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_bad_cityjson_fails_clearly_and_leaves_the_database_as_it_was(engine: Engine, tmp_path: Path) -> None:
    ingest_footprints_path = shared_data("gis/osm_nyc_ridgewood_buildings.geojson")
    from ingest_gis.footprints import FootprintOptions

    ingest_footprints(engine, ingest_footprints_path, FootprintOptions("keep"))
    before = _counts(engine)
    no_crs = cityjson_house()
    del no_crs["metadata"]
    roads_only = cityjson_house()
    roads_only["CityObjects"] = {"R1": {"type": "Road", "geometry": []}}
    bad_index = cityjson_house()
    bad_index["CityObjects"]["B1"]["geometry"][1]["boundaries"][0][0][0][0] = 10**6
    cases = [
        (_bad(tmp_path, "no-crs.json", orjson.dumps(no_crs)), "declares no CRS: pass --crs"),
        (_bad(tmp_path, "broken.json", orjson.dumps(cityjson_house())[:-40]), "is not valid JSON"),
        (_bad(tmp_path, "roads.json", orjson.dumps(roads_only)), r"has no Building city objects \(1 Road\)"),
        (_bad(tmp_path, "index.json", orjson.dumps(bad_index)), "refers to a vertex that does not exist"),
        (_bad(tmp_path, "geojson.json", b'{"type": "FeatureCollection", "features": []}'), "is not a CityJSON"),
        (_bad(tmp_path, "old.json", orjson.dumps({**cityjson_house(), "version": "0.9"})), "CityJSON 0.9"),
        (tmp_path / "missing.json", "no such file"),
    ]
    for path, message in cases:
        with pytest.raises(IngestError, match=message):
            ingest_cityjson(engine, path, CityJsonOptions("bad"))
    with pytest.raises(IngestError, match="not a CRS pyproj knows"):
        ingest_cityjson(engine, cases[0][0], CityJsonOptions("bad", crs="EPSG:99999999"))
    with pytest.raises(IngestError, match="is the geographic CRS EPSG:4326 .* coordinates are projected metres"):
        ingest_cityjson(engine, cases[0][0], CityJsonOptions("bad", crs="4326"))
    assert _counts(engine) == before
    # the same file with --crs lands where it should
    fixed = ingest_cityjson(engine, cases[0][0], CityJsonOptions("fixed", crs="7415"))
    assert fixed["objects"] == 2 and fixed["source_crs"] == "EPSG:7415"
