"""The tile writer: valid 3D Tiles 1.1 + glTF, right place on Earth, deterministic bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
import shapely
from shapely.geometry import Point

from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import IngestResult
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, decode_positions, property_strings, tileset_validator
from tiles.encoding import Compression
from tiles.geodesy import EnuFrame, ecef_to_geodetic
from tiles.glb import unpack_glb
from tiles.model import BuiltTileset
from tiles.tileset import TilingOptions, build_tileset


@pytest.fixture(scope="module")
def berlin() -> IngestResult:
    return read_footprints(shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"), FootprintOptions("berlin"))


@pytest.fixture(scope="module", params=list(Compression))
def berlin_tiles(berlin: IngestResult, request: pytest.FixtureRequest) -> BuiltTileset:
    return build_tileset(berlin.features, TilingOptions(max_features_per_tile=100, class_name="building",
                                                        compression=request.param))


def _tiles(tile: dict[str, Any], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    found = [(depth, tile)]
    for child in tile.get("children", []):
        found += _tiles(child, depth + 1)
    return found


def _box_corners(box: list[float]) -> np.ndarray:
    c, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    return c + signs @ axes


def test_tileset_json_follows_the_official_3d_tiles_schema(berlin_tiles: BuiltTileset) -> None:
    document = orjson.loads(berlin_tiles.root.content)
    errors = sorted(tileset_validator().iter_errors(document), key=str)
    assert not errors, [e.message for e in errors[:5]]
    assert document["asset"]["version"] == "1.1"
    assert len(document["root"]["transform"]) == 16


def test_every_glb_passes_the_khronos_gltf_validator(berlin_tiles: BuiltTileset) -> None:
    glbs = {e.path: e.content for e in berlin_tiles.entries[1:]}
    assert len(glbs) >= 4
    assert_valid_glbs(glbs)


def test_hierarchy_parents_contain_children_and_errors_shrink_with_depth(berlin_tiles: BuiltTileset) -> None:
    document = orjson.loads(berlin_tiles.root.content)
    uris = set()

    def check(tile: dict[str, Any]) -> None:
        outer = _box_corners(tile["boundingVolume"]["box"])
        lo, hi = outer.min(axis=0), outer.max(axis=0)
        for child in tile.get("children", []):
            inner = _box_corners(child["boundingVolume"]["box"])
            assert (inner.min(axis=0) >= lo - 1e-6).all() and (inner.max(axis=0) <= hi + 1e-6).all()
            assert child["geometricError"] < tile["geometricError"]
            check(child)
        if "content" in tile:
            uris.add(tile["content"]["uri"])

    check(document["root"])
    assert document["geometricError"] > document["root"]["geometricError"] > 0
    assert uris == {e.path for e in berlin_tiles.entries[1:]}


def test_every_building_is_in_exactly_one_tile_with_its_id_in_the_property_table(
    berlin: IngestResult, berlin_tiles: BuiltTileset
) -> None:
    ids: list[str] = []
    for entry in berlin_tiles.entries[1:]:
        table_ids = property_strings(entry.content, "id")
        _, feature_ids, gltf = decode_positions(entry.content)
        assert sorted(set(feature_ids.astype(int))) == list(range(len(table_ids)))
        assert table_ids == list(entry.feature_ids)
        assert gltf["extensionsUsed"][:2] == ["EXT_mesh_features", "EXT_structural_metadata"]
        ids += table_ids
    assert sorted(ids) == sorted(o.id for o in berlin.objects)


def test_a_building_decodes_to_its_footprint_on_earth(berlin: IngestResult, berlin_tiles: BuiltTileset) -> None:
    document = orjson.loads(berlin_tiles.root.content)
    transform = np.array(document["root"]["transform"]).reshape(4, 4).T
    footprints = {o.id: o for o in berlin.objects}
    checked = 0
    for entry in berlin_tiles.entries[1:]:
        positions, feature_ids, _ = decode_positions(entry.content)
        table_ids = property_strings(entry.content, "id")
        enu = np.column_stack([positions[:, 0], -positions[:, 2], positions[:, 1]])  # y-up → z-up
        ecef = enu @ transform[:3, :3].T + transform[:3, 3]
        geo = ecef_to_geodetic(ecef)
        for index in (0, len(table_ids) // 2, len(table_ids) - 1):
            record = footprints[table_ids[index]]
            vertices = geo[feature_ids == index]
            metres = EnuFrame(record.footprint.centroid.x, record.footprint.centroid.y)
            outline = shapely.transform(
                record.footprint.boundary,
                lambda xy, frame=metres: frame.from_geodetic(xy[:, 0], xy[:, 1], np.zeros(len(xy)))[:, :2],
            )
            got = metres.from_geodetic(vertices[:, 0], vertices[:, 1], np.zeros(len(vertices)))[:, :2]
            # every decoded vertex lies on the footprint's outline within 0.5 m
            assert max(outline.distance(Point(p)) for p in got) < 0.5
            assert vertices[:, 2].min() == pytest.approx(record.zmin, abs=0.05)
            assert vertices[:, 2].max() == pytest.approx(record.zmax, abs=0.05)
            checked += 1
    assert checked >= 3 * (len(berlin_tiles.entries) - 1) - 2


def test_the_same_input_gives_the_same_bytes(berlin: IngestResult, berlin_tiles: BuiltTileset) -> None:
    options = TilingOptions(max_features_per_tile=100, class_name="building",
                            compression=_compression(berlin_tiles))
    again = build_tileset(list(reversed(berlin.features)), options)
    assert [(e.path, e.content) for e in again.entries] == [(e.path, e.content) for e in berlin_tiles.entries]


def test_one_small_layer_is_a_single_root_tile(berlin: IngestResult) -> None:
    built = build_tileset(berlin.features[:10])
    document = orjson.loads(built.root.content)
    assert document["root"]["content"]["uri"] == built.entries[1].path
    assert document["root"]["geometricError"] == 0
    assert document["geometricError"] > 0


def test_the_builder_rejects_empty_input_and_duplicate_ids(berlin: IngestResult) -> None:
    with pytest.raises(ValueError, match="at least one feature"):
        build_tileset([])
    with pytest.raises(ValueError, match="unique"):
        build_tileset([berlin.features[0], berlin.features[0]])


def _compression(built: BuiltTileset) -> Compression:
    gltf, _ = unpack_glb(built.entries[1].content)
    used = gltf["extensionsUsed"]
    if "KHR_draco_mesh_compression" in used:
        return Compression.DRACO
    return Compression.QUANTIZED if "KHR_mesh_quantization" in used else Compression.NONE


def test_compressed_tiles_decode_to_the_plain_geometry_within_the_quantization_error(berlin: IngestResult) -> None:
    features = berlin.features[:150]
    plain = build_tileset(features, TilingOptions(compression=Compression.NONE))
    for compression in (Compression.QUANTIZED, Compression.DRACO):
        packed = build_tileset(features, TilingOptions(compression=compression))
        for a, b in zip(plain.entries[1:], packed.entries[1:], strict=True):
            ref, ref_ids, _ = decode_positions(a.content)
            got, got_ids, _ = decode_positions(b.content)
            extent = np.ptp(ref, axis=0).max()
            tolerance = extent / 2**16 * 1.5  # 16-bit positions in both encodings
            assert len(b.content) < len(a.content) * (0.7 if compression == Compression.QUANTIZED else 0.3)
            for fid in np.unique(ref_ids):
                ours, theirs = ref[ref_ids == fid], got[got_ids == fid]
                # the same vertices (Draco may reorder them): compare sorted coordinate sets
                assert len(ours) == len(theirs)
                dist = np.abs(np.sort(ours, axis=0) - np.sort(theirs, axis=0)).max()
                assert dist <= tolerance, (compression, fid, dist, tolerance)


def test_b3dm_output_serves_old_clients_with_a_batch_table(berlin: IngestResult) -> None:
    import struct

    features = berlin.features[:120]
    built = build_tileset(features, TilingOptions(max_features_per_tile=50, b3dm=True, class_name="building"))
    document = orjson.loads(built.root.content)
    assert document["asset"]["version"] == "1.0"
    assert not [e.message for e in tileset_validator().iter_errors(document)]
    glbs = {}
    for entry in built.entries[1:]:
        magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<4sIIIIII", entry.content)
        assert (magic, version, length, ft_bin, bt_bin) == (b"b3dm", 1, len(entry.content), 0, 0)
        assert length % 8 == 0 and (28 + ft_json) % 8 == 0 and (28 + ft_json + bt_json) % 8 == 0
        feature_table = orjson.loads(entry.content[28 : 28 + ft_json])
        batch_table = orjson.loads(entry.content[28 + ft_json : 28 + ft_json + bt_json])
        assert feature_table["BATCH_LENGTH"] == len(entry.feature_ids) == len(batch_table["id"])
        assert batch_table["id"] == list(entry.feature_ids) and "height" in batch_table
        glb = entry.content[28 + ft_json + bt_json :]
        glb = glb[: struct.unpack_from("<I", glb, 8)[0]]
        gltf, _ = unpack_glb(glb)
        assert "_BATCHID" in gltf["meshes"][0]["primitives"][0]["attributes"]
        assert "EXT_structural_metadata" not in gltf.get("extensionsUsed", [])
        glbs[entry.path] = glb
    assert_valid_glbs(glbs)
    with pytest.raises(ValueError, match="implicit"):
        TilingOptions(b3dm=True, implicit=True)


def test_a_byte_budget_splits_tiles_that_a_feature_count_would_not(berlin: IngestResult) -> None:
    features = berlin.features
    by_count = build_tileset(features, TilingOptions(max_features_per_tile=1000))
    by_bytes = build_tileset(features, TilingOptions(max_features_per_tile=1000, max_tile_bytes=100_000))
    assert by_count.content_count == 1
    assert by_bytes.content_count > 4
    sizes = {f.id: f.mesh.vertex_count * 28 + len(f.mesh.triangles) * 12 for f in features}
    deepest = max(e.level for e in by_bytes.entries[1:] if e.level is not None)
    leaves = [e for e in by_bytes.entries[1:] if e.level == deepest]
    assert all(sum(sizes[i] for i in e.feature_ids) <= 100_000 for e in leaves)


@pytest.mark.parametrize("compression", list(Compression))
def test_vertex_colours_draw_several_materials_in_one_primitive(berlin: IngestResult,
                                                                compression: Compression) -> None:
    from dataclasses import replace

    from tiles.model import Feature

    palette = np.array([[200, 40, 40, 255], [40, 200, 40, 255], [40, 40, 200, 255]], dtype=np.uint8)
    coloured = []
    for i, feature in enumerate(berlin.features[:30]):
        colors = palette[(np.arange(feature.mesh.vertex_count) + i) % 3] if i % 2 else None
        coloured.append(Feature(feature.id, replace(feature.mesh, colors=colors), feature.properties))
    built = build_tileset(coloured, TilingOptions(compression=compression))
    (entry,) = built.entries[1:]
    gltf, binary = unpack_glb(entry.content)
    primitive = gltf["meshes"][0]["primitives"][0]
    assert len(gltf["meshes"][0]["primitives"]) == 1 and "COLOR_0" in primitive["attributes"]
    assert gltf["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 1.0, 1.0, 1.0]
    accessor = gltf["accessors"][primitive["attributes"]["COLOR_0"]]
    assert (accessor["componentType"], accessor["type"], accessor["normalized"]) == (5121, "VEC4", True)
    if compression == Compression.DRACO:
        import DracoPy

        draco = primitive["extensions"]["KHR_draco_mesh_compression"]
        view = gltf["bufferViews"][draco["bufferView"]]
        mesh = DracoPy.decode(binary[view.get("byteOffset", 0): view.get("byteOffset", 0) + view["byteLength"]])
        colours = {a["unique_id"]: a for a in mesh.attributes}[draco["attributes"]["COLOR_0"]]["data"]
        assert {tuple(c) for c in np.asarray(colours)} >= {tuple(c) for c in palette}
    assert_valid_glbs({entry.path: entry.content})


def test_layers_share_a_frame_and_refine_in_from_their_own_distance(berlin: IngestResult) -> None:
    from tiles.layers import Layer, build_layered_tileset

    big = [f for f in berlin.features if (f.properties.get("height") or 0) >= 15]
    small = [f for f in berlin.features if (f.properties.get("height") or 0) < 15]
    built = build_layered_tileset([Layer("tall", big), Layer("low", small, 0.125)],
                                  TilingOptions(max_features_per_tile=100))
    document = orjson.loads(built.root.content)
    assert not [e.message for e in tileset_validator().iter_errors(document)]
    tall, low = document["root"]["children"]
    assert tall["geometricError"] == document["root"]["geometricError"]
    assert low["geometricError"] == pytest.approx(document["root"]["geometricError"] * 0.125, abs=0.01)

    def errors_never_grow(tile: dict[str, Any]) -> None:
        for child in tile.get("children", []):
            assert child["geometricError"] <= tile["geometricError"]
            errors_never_grow(child)

    errors_never_grow(document["root"])
    paths = [e.path for e in built.entries[1:]]
    assert all(p.startswith(("tall/content/", "low/content/")) for p in paths)
    assert sorted(i for e in built.entries[1:] for i in e.feature_ids) == sorted(f.id for f in berlin.features)
    assert_valid_glbs({e.path: e.content for e in built.entries[1:]})
    with pytest.raises(ValueError, match="unique"):
        build_layered_tileset([Layer("a", big), Layer("a", small)])


def test_the_draco_level_is_a_tileset_option_that_keeps_the_geometry(berlin: IngestResult) -> None:
    features = berlin.features[:150]
    default = build_tileset(features, TilingOptions())
    fast = build_tileset(features, TilingOptions(draco_level=7))
    assert default.layout["options"]["draco_level"] == 10 and fast.layout["options"]["draco_level"] == 7
    assert TilingOptions.from_dict(fast.layout["options"]).draco_level == 7
    legacy = {k: v for k, v in default.layout["options"].items() if k != "draco_level"}  # stored before the option
    assert TilingOptions.from_dict(legacy).draco_level == 10
    for a, b in zip(default.entries[1:], fast.entries[1:], strict=True):
        assert a.content != b.content
        ref, ref_ids, _ = decode_positions(a.content)
        got, got_ids, _ = decode_positions(b.content)
        for fid in np.unique(ref_ids):
            ours, theirs = np.sort(ref[ref_ids == fid], axis=0), np.sort(got[got_ids == fid], axis=0)
            assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-6
    assert_valid_glbs({e.path: e.content for e in fast.entries[1:]})


def test_layers_of_features_already_in_the_frame_give_the_same_tiles_as_geodetic_features(
        berlin: IngestResult) -> None:
    from tiles.geodesy import geodetic_to_ecef, local_vectors_to_ecef
    from tiles.layers import Layer, build_layered_tileset
    from tiles.model import Feature, Mesh
    from tiles.tileset import dataset_frame

    features = berlin.features[:300]
    frame = dataset_frame(features)

    def in_frame(feature: Feature) -> Feature:
        lon, lat, h = feature.mesh.positions.T
        mesh = feature.mesh
        return Feature(feature.id, Mesh(frame.from_ecef(geodetic_to_ecef(lon, lat, h)),
                                        frame.vectors_from_ecef(local_vectors_to_ecef(lon, lat, mesh.normals)),
                                        mesh.triangles, mesh.colors), feature.properties)

    options = TilingOptions(max_features_per_tile=50)
    geodetic = build_layered_tileset([Layer("a", features[:100]), Layer("b", features[100:], 0.125)], options)
    local = build_layered_tileset([Layer("a", [in_frame(f) for f in features[:100]]),
                                   Layer("b", [in_frame(f) for f in features[100:]], 0.125)], options, frame=frame)
    assert len(geodetic.entries) > 3
    assert [(e.path, e.content) for e in local.entries] == [(e.path, e.content) for e in geodetic.entries]
