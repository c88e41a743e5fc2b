"""Oblique photography: OSGB pyramids written by OpenSceneGraph itself (and OBJ tile sets) → textured REPLACE
tilesets in PostGIS, placed by metadata.xml."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pyproj import Transformer
from sqlalchemy import Engine, text

from ingest_gis.osg_reader import write_osgb
from ingest_gis.records import IngestError
from scenes.oblique_site import SiteOptions, ground_color, ground_height, tiles_per_level
from tests.helpers.gltf import assert_valid_glbs, tileset_validator
from tests.helpers.oblique import write_site
from tiles.glb import unpack_glb
from twin import cli
from twin.ingest import ingest_oblique
from twin.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("osgconv") is None, reason="OpenSceneGraph (osgconv) not installed")

ENU_SITE = SiteOptions(srs="ENU:31.2304,121.4737", origin=(0.0, 0.0, 0.0))
EPSG_SITE = SiteOptions(srs="EPSG:4547", origin=(500000.0, 3400000.0, 20.0), tiles_x=2)
TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
FROM_ECEF = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


@pytest.fixture(scope="module")
def enu_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_site(tmp_path_factory.mktemp("enu"), ENU_SITE)


def _stored(engine: Engine, name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = :t"), {"t": name}).all())
    return json.loads(bytes(rows.pop("tileset.json"))), {k: bytes(v) for k, v in rows.items()}


def _tiles(node: dict[str, Any], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    return [(depth, node)] + [t for child in node.get("children", []) for t in _tiles(child, depth + 1)]


def _accessor(gltf: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    dtype = {5126: "<f4", 5123: "<u2", 5125: "<u4"}[acc["componentType"]]
    return np.frombuffer(binary, dtype, acc["count"] * width, view.get("byteOffset", 0)).reshape(acc["count"], width)


def _image(gltf: dict[str, Any], binary: bytes, index: int) -> bytes:
    view = gltf["bufferViews"][gltf["images"][index]["bufferView"]]
    return binary[view.get("byteOffset", 0): view.get("byteOffset", 0) + view["byteLength"]]


def _ecef_vertices(glb: bytes, transform: list[float]) -> np.ndarray:
    """Every vertex of a tile in ECEF metres: node translation, y-up → z-up, then the root transform."""
    gltf, binary = unpack_glb(glb)
    translation = np.array(gltf["nodes"][0]["translation"])
    points = []
    for primitive in gltf["meshes"][0]["primitives"]:
        yup = _accessor(gltf, binary, primitive["attributes"]["POSITION"]) + translation
        points.append(np.column_stack([yup[:, 0], -yup[:, 2], yup[:, 1]]))
    enu = np.concatenate(points)
    matrix = np.array(transform).reshape(4, 4).T
    return enu @ matrix[:3, :3].T + matrix[:3, 3]


def _root_content(document: dict[str, Any], glbs: dict[str, bytes]) -> bytes:
    return glbs[document["root"]["children"][0]["content"]["uri"]]


def _corner_errors(glb: bytes, transform: list[float], expected_lonlath: list[tuple[float, float, float]]) -> list:
    vertices = _ecef_vertices(glb, transform)
    errors = []
    for lon, lat, h in expected_lonlath:
        target = np.array(TO_ECEF.transform(lon, lat, h))
        nearest = vertices[np.argmin(np.linalg.norm(vertices - target, axis=1))]
        got = FROM_ECEF.transform(*nearest)
        errors.append((float(np.linalg.norm(nearest - target)), got))
    return errors


def _corners(options: SiteOptions) -> list[tuple[float, float, float]]:
    """The four corners of tile (0, 0) in the input frame."""
    x0, y0, size = options.offset[0], options.offset[1], options.tile_size
    return [(x, y, float(ground_height(np.array(x), np.array(y)))) for x in (x0, x0 + size) for y in (y0, y0 + size)]


def test_an_osgb_site_written_by_osg_keeps_its_lod_levels_textures_and_replace_refinement(
        engine: Engine, enu_site: Path) -> None:
    summary = ingest_oblique(engine, enu_site, "site")
    assert summary["format"] == "osgb" and summary["objects"] == 0
    assert summary["levels"] == tiles_per_level(ENU_SITE) == [1, 4, 16]
    assert summary["tiles"] == 21 and summary["files"] == 18 and summary["warnings"] == []
    document, glbs = _stored(engine, "site")
    tileset_validator().validate(document)
    tiles = _tiles(document["root"])
    assert all(tile["refine"] == "REPLACE" for _, tile in tiles)
    per_depth = [sum(1 for d, t in tiles if d == depth and "content" in t) for depth in range(1, 4)]
    assert per_depth == [1, 4, 16] and len(glbs) == 21
    for depth, tile in tiles:  # each tile is coarser than its children, leaves have no error left
        for child in tile.get("children", []):
            assert child["geometricError"] < tile["geometricError"]
        assert (tile["geometricError"] == 0) == ("children" not in tile), (depth, tile["geometricError"])
    errors = sorted({round(t["geometricError"], 3) for d, t in tiles if d >= 1}, reverse=True)
    assert errors[0] == pytest.approx(16 * 2 * (np.hypot(64, 64) / 2 + 6) / 64, rel=1e-3)  # 16·2r/pixel size
    for glb in glbs.values():
        gltf, binary = unpack_glb(glb)
        assert gltf["extensionsUsed"] == ["KHR_materials_unlit"]
        for primitive in gltf["meshes"][0]["primitives"]:
            assert set(primitive["attributes"]) == {"POSITION", "TEXCOORD_0"}
        assert [i["mimeType"] for i in gltf["images"]] == ["image/jpeg"]
        assert Image.open(io.BytesIO(_image(gltf, binary, 0))).size == (64, 64)
    assert_valid_glbs(glbs)
    with engine.connect() as conn:
        kind, extent = conn.execute(text("SELECT kind, ST_AsText(ST_Envelope(extent)) FROM datasets")).one()
    assert kind == "oblique" and extent.startswith("POLYGON((121.47")


def _colour_error(glb: bytes) -> float:
    """Mean difference between each vertex's texel and the ground colour where the vertex stands (ENU = input)."""
    gltf, binary = unpack_glb(glb)
    translation = np.array(gltf["nodes"][0]["translation"])
    primitive = gltf["meshes"][0]["primitives"][0]
    yup = _accessor(gltf, binary, primitive["attributes"]["POSITION"]) + translation
    uv = _accessor(gltf, binary, primitive["attributes"]["TEXCOORD_0"])
    picture = np.asarray(Image.open(io.BytesIO(_image(gltf, binary, 0))).convert("RGB"), dtype=np.float64)
    height, width = picture.shape[:2]
    sampled = picture[np.clip((uv[:, 1] * height).astype(int), 0, height - 1),
                      np.clip((uv[:, 0] * width).astype(int), 0, width - 1)]
    return float(np.abs(sampled - ground_color(yup[:, 0], -yup[:, 2])).mean())


def test_textures_show_the_colour_of_the_ground_where_each_vertex_stands(engine: Engine, enu_site: Path) -> None:
    ingest_oblique(engine, enu_site, "site")
    _, glbs = _stored(engine, "site")
    assert all(_colour_error(glb) < 8 for glb in glbs.values()), "texture coordinates point at the wrong texels"


@pytest.mark.parametrize("fmt", ["osgt", "obj"])
def test_transparent_png_textures_stay_png_with_their_alpha(engine: Engine, tmp_path: Path, fmt: str) -> None:
    ingest_oblique(engine, write_site(tmp_path, SiteOptions(fmt=fmt, texture="png", levels=2)), "png")
    _, glbs = _stored(engine, "png")
    assert len(glbs) == 5
    for glb in glbs.values():
        gltf, binary = unpack_glb(glb)
        assert [i["mimeType"] for i in gltf["images"]] == ["image/png"]
        picture = Image.open(io.BytesIO(_image(gltf, binary, 0)))
        alpha = np.asarray(picture.getchannel("A"))
        assert picture.mode == "RGBA" and alpha[:, :4].max() == 0 and alpha[:, 4:].min() == 255  # west stripe
        assert _colour_error(glb) < 4
    assert_valid_glbs(glbs)


def test_an_enu_site_sits_at_its_metadata_origin(engine: Engine, enu_site: Path) -> None:
    ingest_oblique(engine, enu_site, "site")
    document, glbs = _stored(engine, "site")
    enu_to_geodetic = Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=topocentric +ellps=WGS84 +lat_0=31.2304 +lon_0=121.4737 +h_0=0 "
        "+step +inv +proj=cart +ellps=WGS84")
    expected = [enu_to_geodetic.transform(x, y, z) for x, y, z in _corners(ENU_SITE)]
    for error, (lon, lat, _h) in _corner_errors(_root_content(document, glbs), document["root"]["transform"],
                                                 expected):
        assert error < 0.5
        assert abs(lon - 121.4737) < 0.001 and abs(lat - 31.2304) < 0.001


def test_an_epsg_site_is_placed_by_its_origin_plus_reprojected_offsets(engine: Engine, tmp_path: Path) -> None:
    summary = ingest_oblique(engine, write_site(tmp_path, EPSG_SITE), "gk")
    assert summary["source_crs"] == "EPSG:4547" and summary["levels"] == [2, 8, 32]
    document, glbs = _stored(engine, "gk")
    to_wgs84 = Transformer.from_crs("EPSG:4547", "EPSG:4979", always_xy=True)
    x0, y0, z0 = EPSG_SITE.origin
    expected = [to_wgs84.transform(x0 + x, y0 + y, z0 + z) for x, y, z in _corners(EPSG_SITE)]
    for error, (lon, lat, h) in _corner_errors(_root_content(document, glbs), document["root"]["transform"],
                                                expected):
        assert error < 0.5
        assert abs(lon - 114.0) < 0.01 and abs(lat - 30.72) < 0.01 and 10 < h < 40
    assert_valid_glbs(glbs)


def test_an_obj_site_keeps_its_named_levels_and_its_texture_files_as_they_are(engine: Engine,
                                                                            tmp_path: Path) -> None:
    options = SiteOptions(fmt="obj")
    site = write_site(tmp_path, options)
    summary = ingest_oblique(engine, site, "objsite")
    assert summary["format"] == "obj" and summary["levels"] == [1, 4, 16] and summary["files"] == 21
    document, glbs = _stored(engine, "objsite")
    tiles = _tiles(document["root"])
    assert all(t["refine"] == "REPLACE" for _, t in tiles)
    levels = [sorted({t["geometricError"] for d, t in tiles if d == depth}) for depth in (1, 2, 3)]
    assert levels[2] == [0.0] and max(levels[1]) < min(levels[0])
    assert 16 <= levels[0][0] < 18  # 16 px × ≈1 m per texel (a little more: the ground is not flat)
    jpegs = {p.read_bytes() for p in (site / "Data").rglob("*.jpg")}
    for glb in glbs.values():
        gltf, binary = unpack_glb(glb)
        assert _image(gltf, binary, 0) in jpegs  # JPEG bytes embedded untouched
    root = _root_content(document, glbs)
    expected = [Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=topocentric +ellps=WGS84 +lat_0=31.2304 +lon_0=121.4737 +h_0=0 "
        "+step +inv +proj=cart +ellps=WGS84").transform(x, y, z) for x, y, z in _corners(options)]
    assert all(error < 0.5 for error, _ in _corner_errors(root, document["root"]["transform"], expected))
    assert_valid_glbs(glbs)


def _table_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM datasets")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM tiles")).scalar_one())


def test_a_folder_without_metadata_xml_is_refused(engine: Engine, tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", ENU_SITE)
    (site / "metadata.xml").unlink()
    with pytest.raises(IngestError, match="no metadata.xml"):
        ingest_oblique(engine, site, "nometa")
    assert _table_counts(engine) == (0, 0)


@pytest.mark.parametrize("srs", ["EPSG:999999", "NOT-A-CRS", "ENU:north,east"])
def test_metadata_with_an_unknown_srs_is_refused(engine: Engine, tmp_path: Path, srs: str) -> None:
    site = write_site(tmp_path / "site", SiteOptions(srs=srs, levels=2))
    with pytest.raises(IngestError, match="metadata.xml"):
        ingest_oblique(engine, site, "badsrs")
    assert _table_counts(engine) == (0, 0)


def test_a_corrupt_osgb_is_refused_by_name_and_the_old_dataset_stays(engine: Engine, enu_site: Path,
                                                                     tmp_path: Path) -> None:
    ingest_oblique(engine, enu_site, "site")
    before = _table_counts(engine)
    broken = shutil.copytree(enu_site, tmp_path / "broken")
    leaf = broken / "Data" / "Tile_+000_+000" / "Tile_+000_+000_L2_21.osgb"
    leaf.write_bytes(leaf.read_bytes()[: len(leaf.read_bytes()) // 2])
    with pytest.raises(IngestError, match=r"Tile_\+000_\+000_L2_21\.osgb cannot be read by OpenSceneGraph"):
        ingest_oblique(engine, broken, "site")
    assert _table_counts(engine) == before
    garbage = broken / "Data" / "Tile_+000_+000" / "Tile_+000_+000.osgb"
    garbage.write_bytes(b"\x00not an osgb file at all" * 20)
    with pytest.raises(IngestError, match=r"Tile_\+000_\+000\.osgb cannot be read"):
        ingest_oblique(engine, broken, "other")
    assert _table_counts(engine) == before


def test_matrix_transforms_strips_and_distance_ranges_are_read_from_osgb(tmp_path: Path) -> None:
    from ingest_gis.oblique import read_oblique

    (tmp_path / "Data" / "Tile_+000_+000").mkdir(parents=True)
    (tmp_path / "metadata.xml").write_text("<ModelMetadata><SRS>ENU:10,20</SRS><SRSOrigin>0,0,5</SRSOrigin>"
                                           "</ModelMetadata>")
    scene = tmp_path / "Data" / "Tile_+000_+000" / "Tile_+000_+000.osgt"
    scene.write_text("""#Ascii Scene
#Version 161
#Generator OpenSceneGraph 3.6.5

osg::PagedLOD {
UniqueID 1
RangeList 2 {
100 1e+30
0 100
}
RangeDataList 2 {
""
"child.osgb"
}
PriorityList 2 {
0 1
0 1
}
Children 1 {
osg::MatrixTransform {
UniqueID 2
Children 1 {
osg::Geometry {
UniqueID 3
PrimitiveSetList 1 {
osg::DrawArrays {
UniqueID 4
Mode TRIANGLE_STRIP
First 0
Count 4
}
}
VertexArray TRUE {
osg::Vec3Array {
UniqueID 5
Binding BIND_PER_VERTEX
vector 4 {
0 0 0
1 0 0
0 1 0
1 1 0
}
}
}
}
}
Matrix {
2 0 0 0
0 2 0 0
0 0 1 0
10 20 30 1
}
}
}
}
""")
    write_osgb(scene, scene.with_suffix(".osgb"))
    child = scene.with_name("child.osgt")
    child.write_text("""#Ascii Scene
#Version 161
#Generator OpenSceneGraph 3.6.5

osg::Geometry {
UniqueID 1
PrimitiveSetList 1 {
osg::DrawElementsUInt {
UniqueID 2
Mode QUADS
vector 4 {
0 1 3 2
}
}
}
VertexArray TRUE {
osg::Vec3dArray {
UniqueID 3
Binding BIND_PER_VERTEX
vector 4 {
0 0 0
1 0 0
0 1 0
1 1 0
}
}
}
}
""")
    write_osgb(child, child.with_suffix(".osgb"))
    scene.unlink()
    child.unlink()
    result = read_oblique(tmp_path)
    assert result.tiles_per_level() == [1, 1]
    root = result.roots[0]
    assert root.geometric_error == pytest.approx(16 * 100 / (1080 / (2 * np.tan(np.radians(30)))))
    assert root.content is not None  # (0..1)² scaled by 2, moved by (10, 20, 30), SRS origin z = 5
    assert list(root.content.enu_min) == [10, 20, 35] and list(root.content.enu_max) == [12, 22, 35]
    child_tile = root.children[0]
    assert child_tile.content is not None and list(child_tile.content.enu_max) == [1, 1, 5]


def test_cli_ingests_an_oblique_folder_and_reports_bad_input_with_exit_code_2(
        settings: Settings, enu_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["ingest", "oblique", str(enu_site), "--name", "cli-site", "--json"],
                    settings_factory=lambda: settings)
    out, _ = capsys.readouterr()
    assert code == 0
    summary = json.loads(out)
    assert summary["tiles"] == 21 and summary["levels"] == [1, 4, 16]
    code = cli.main(["ingest", "oblique", str(tmp_path), "--name", "empty"], settings_factory=lambda: settings)
    _, err = capsys.readouterr()
    assert code == 2 and "no metadata.xml" in err


def test_a_large_textured_part_and_an_untextured_part_make_a_valid_glb() -> None:
    from tiles.textured import Texture, TexturedPart, build_textured_glb

    side = 300  # 90,000 vertices: 32-bit indices
    u, v = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    positions = np.column_stack([u.ravel() * 100, v.ravel() * 100, np.zeros(side * side)])
    a = (np.arange(side - 1)[None, :] + side * np.arange(side - 1)[:, None]).ravel()
    triangles = np.concatenate([np.stack([a, a + 1, a + side + 1], 1), np.stack([a, a + side + 1, a + side], 1)])
    out = io.BytesIO()
    Image.new("RGB", (8, 4), (200, 30, 30)).save(out, "PNG")
    texture = Texture(out.getvalue(), "image/png", 8, 4)
    textured = TexturedPart(positions, np.column_stack([u.ravel(), v.ravel()]).astype(np.float32),
                            triangles.astype(np.uint32), texture)
    plain = TexturedPart(positions[:3] + 5, None, np.array([[0, 1, 2]], np.uint32))
    content = build_textured_glb([textured, plain])
    gltf, _ = unpack_glb(content.data)
    first, second = gltf["meshes"][0]["primitives"]
    assert gltf["accessors"][first["indices"]]["componentType"] == 5125 and "TEXCOORD_0" not in second["attributes"]
    assert "baseColorTexture" not in gltf["materials"][second["material"]]["pbrMetallicRoughness"]
    assert list(content.enu_min) == [0, 0, 0] and list(content.enu_max) == [100, 100, 5]
    assert_valid_glbs({"big.glb": content.data})
    with pytest.raises(ValueError, match="one \\(u, v\\) per vertex"):
        TexturedPart(positions, None, triangles.astype(np.uint32), texture)


def test_a_paged_lod_without_geometry_or_ranges_still_refines_into_its_children(tmp_path: Path) -> None:
    from ingest_gis.oblique import read_oblique
    from tiles.textured import build_replace_tileset

    folder = tmp_path / "Data" / "Tile_+001_-002"
    folder.mkdir(parents=True)
    (tmp_path / "metadata.xml").write_text("<ModelMetadata><SRS>EPSG:32633</SRS><SRSOrigin>400000,5800000</SRSOrigin>"
                                           "</ModelMetadata>")
    header = "#Ascii Scene\n#Version 161\n#Generator OpenSceneGraph 3.6.5\n\n"
    root = folder / "Tile_+001_-002.osgt"
    root.write_text(header + 'osg::PagedLOD {\nUniqueID 1\nRangeDataList 2 {\n"a.osgb"\n"sub\\\\b.osgb"\n}\n'
                    "PriorityList 2 {\n0 1\n0 1\n}\n}\n")
    (folder / "sub").mkdir()
    for name, x in (("a", 0), ("sub/b", 10)):
        leaf = folder / f"{name}.osgt"
        leaf.write_text(header + "osg::Geode {\nUniqueID 1\nDrawables 1 {\nosg::Geometry {\nUniqueID 2\n"
                        "PrimitiveSetList 1 {\nosg::DrawArrays {\nUniqueID 3\nMode TRIANGLES\nFirst 0\nCount 3\n}\n}\n"
                        "VertexArray TRUE {\nosg::Vec3Array {\nUniqueID 4\nBinding BIND_PER_VERTEX\n"
                        f"vector 3 {{\n{x} 0 0\n{x + 10} 0 0\n{x} 10 0\n}}\n}}\n}}\n}}\n}}\n}}\n")
    for scene in folder.rglob("*.osgt"):
        write_osgb(scene, scene.with_suffix(".osgb"))
        scene.unlink()
    result = read_oblique(tmp_path)
    assert result.tiles_per_level() == [0, 2] and result.warnings == []
    top = result.roots[0]
    assert top.content is None and top.geometric_error == pytest.approx(np.hypot(20, 10) / 4, rel=0.03)
    document = json.loads(build_replace_tileset(result.roots, result.georef.frame).root.content)
    tileset_validator().validate(document)
    assert [c["geometricError"] for c in document["root"]["children"][0]["children"]] == [0, 0]
