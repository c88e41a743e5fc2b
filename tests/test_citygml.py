"""CityGML: Delft's three buildings into PostGIS and tiles; the authored LoD2 house in CityGML 1.0, 2.0 and 3.0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from lxml import etree
from pyproj import Transformer
from shapely.geometry import Point
from sqlalchemy import Engine, text

from ingest_gis.citygml import CityGmlOptions, read_citygml
from ingest_gis.footprints import FootprintOptions
from ingest_gis.records import IngestError
from tests.helpers.citymodels import ATTRIBUTES, VOLUMES, assert_colours_follow_facing, citygml_house, object_solid
from tests.helpers.data import shared_data
from tests.helpers.gltf import assert_valid_glbs, property_strings, tileset_validator
from twin import cli, repository
from twin.ingest import ingest_citygml, ingest_footprints
from twin.settings import Settings

DELFT = "gis/delft-citygml2.gml"
HEIGHTS = {"b31c54e7f-00ba-11e6-b420-2bdcc4ab5d7f": 3.23, "bade1427a-031b-11e6-b420-2bdcc4ab5d7f": 9.19,
           "b11239388-00ba-11e6-b420-2bdcc4ab5d7f": 10.56}


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("datasets", "twin_objects", "tilesets", "tiles"))


def _write(tmp_path: Path, content: str | bytes, name: str = "house.gml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_delft_gives_its_three_buildings_with_measured_heights_at_their_gml_ids(engine: Engine) -> None:
    summary = ingest_citygml(engine, shared_data(DELFT), CityGmlOptions("dg"))
    assert summary["objects"] == 3 and summary["types"] == {"Building": 3} and summary["lods"] == {"1": 3}
    assert summary["version"] == "CityGML 2.0" and summary["source_crs"] == "EPSG:7415"
    assert any("NAP height" in w for w in summary["warnings"])
    for gml_id, height in HEIGHTS.items():
        record = repository.get_object(engine, f"dg.{gml_id}")
        assert record["kind"] == "building" and record["attributes"] == {"measuredHeight": height}
        assert record["zmax"] == pytest.approx(height, abs=1e-6)  # the LoD1 roof stands at the measured height
        lon, lat = np.asarray(record["geometry"]["coordinates"][0]).mean(axis=0)
        assert lat == pytest.approx(52.0, abs=0.02) and lon == pytest.approx(4.36, abs=0.02)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, content FROM tiles WHERE tileset_id = 'dg'")).all()
    tiles = {r.path: bytes(r.content) for r in rows}
    tileset_validator().validate(orjson.loads(tiles["tileset.json"]))
    glbs = {p: c for p, c in tiles.items() if p.endswith(".glb")}
    assert_valid_glbs(glbs)
    heights = {i: float(h) for c in glbs.values()
               for i, h in zip(property_strings(c, "id"), _numbers(c, "height"), strict=True)}
    assert heights == {f"dg.{k}": v for k, v in HEIGHTS.items()}


def _numbers(glb: bytes, name: str) -> list[float]:
    from tiles.glb import unpack_glb

    gltf, binary = unpack_glb(glb)
    table = gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]  # type: ignore[index]
    view = gltf["bufferViews"][table["properties"][name]["values"]]  # type: ignore[index]
    return np.frombuffer(binary, "<f8", table["count"], view.get("byteOffset", 0)).tolist()


@pytest.mark.parametrize("version", ["1.0", "2.0", "3.0"])
def test_an_lod2_house_in_each_citygml_version_keeps_semantics_parts_and_closed_solids(tmp_path: Path,
                                                                                     version: str) -> None:
    result = read_citygml(_write(tmp_path, citygml_house(version)), CityGmlOptions("house"))
    assert result.summary["version"] == f"CityGML {version}" and result.summary["lods"] == {"2": 2}
    by_id = {o.id: o for o in result.objects}
    block, part = by_id["house.B1"], by_id["house.B1-P"]
    assert (block.kind, part.kind, part.parent_id) == ("building", "building_part", "house.B1")
    expected = {**ATTRIBUTES["B1"], "source": "survey"}
    assert block.attributes == {**expected, "yearOfConstruction": "1931"}  # CityGML text stays text
    assert part.attributes == {**ATTRIBUTES["B1-P"], "source": "survey"}
    assert block.name == "Courtyard block"
    assert result.features and {f.id for f in result.features} == {"house.B1", "house.B1-P"}
    assert {f.properties["height"] for f in result.features if f.id == "house.B1"} == {6.0}  # measured height
    assert len(block.footprint.interiors) == 1 and part.footprint.within(block.footprint.buffer(1e-9))
    for feature in result.features:
        assert assert_colours_follow_facing(feature) == {"roof", "wall", "ground"}
    for object_id, key in (("house.B1", "B1"), ("house.B1-P", "B1-P")):
        solid = object_solid(result.features, object_id)
        assert solid.is_watertight and solid.volume == pytest.approx(VOLUMES[key], rel=1e-3)
    assert not [w for w in result.warnings if "xlink" in w or "degenerate" in w]


@pytest.mark.parametrize("srs_name", ["urn:ogc:def:crs:EPSG::7415", "EPSG:7415",
                                      "http://www.opengis.net/def/crs/EPSG/0/7415",
                                      "urn:ogc:def:crs,crs:EPSG::28992,crs:EPSG::5709",
                                      "Amersfoort / RD New + NAP height", "EPSG:28992"])
def test_srs_names_as_urn_code_url_or_well_known_name_put_the_house_in_the_same_place(tmp_path: Path,
                                                                                      srs_name: str) -> None:
    result = read_citygml(_write(tmp_path, citygml_house("2.0", srs_name)), CityGmlOptions("house"))
    block = next(o for o in result.objects if o.id == "house.B1")
    to_lonlat = Transformer.from_crs(28992, 4326, always_xy=True)
    inside, courtyard = Point(to_lonlat.transform(85001.0, 447001.0)), Point(to_lonlat.transform(85010.0, 447010.0))
    assert block.footprint.contains(inside) and not block.footprint.contains(courtyard)
    assert block.footprint.distance(inside) == 0 and inside.x == pytest.approx(4.3677, abs=1e-3)
    assert result.summary["vertical"]["heights"] == ("undeclared" if srs_name == "EPSG:28992" else "gravity-related")


def test_the_streaming_reader_drops_each_member_once_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    house = citygml_house("2.0")
    member = house[house.index("<cityObjectMember>"):house.index("</CityModel>")]
    many = house.replace(member, "".join(member.replace('gml:id="B1', f'gml:id="B{i}-1') for i in range(40)))
    seen: list[int] = []
    import ingest_gis.citygml as citygml

    original = citygml._Reader.building

    def spy(self: citygml._Reader, element: etree._Element, parent: str | None) -> None:
        if parent is None:
            seen.append(len(element.getparent().getparent()))  # members still held by the model element
        original(self, element, parent)

    monkeypatch.setattr(citygml._Reader, "building", spy)
    result = read_citygml(_write(tmp_path, many), CityGmlOptions("many"))
    assert len(result.objects) == 80 and len(seen) == 40
    # the member being read, the one before it and what the parser has read ahead; never the 40 of the file
    assert max(seen) <= 8


def test_bad_citygml_fails_clearly_and_leaves_the_database_as_it_was(engine: Engine, tmp_path: Path) -> None:
    ingest_footprints(engine, shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("keep"))
    before = _counts(engine)
    delft = shared_data(DELFT).read_bytes()
    roads = citygml_house().replace("bldg:Building", "tran:Road").replace(
        "<CityModel ", '<CityModel xmlns:tran="http://www.opengis.net/citygml/transportation/2.0" ')
    no_srs = citygml_house().replace(' srsName="urn:ogc:def:crs:EPSG::7415"', "")
    cases = [
        (_write(tmp_path, delft[: len(delft) // 2], "truncated.gml"), "is not well-formed XML"),
        (_write(tmp_path, "<CityModel><cityObjectMember></CityModel>", "broken.gml"), "is not well-formed XML"),
        (_write(tmp_path, '<?xml version="1.0"?><kml><Document/></kml>', "other.gml"), "is not CityGML"),
        (_write(tmp_path, roads, "roads.gml"), r"has no buildings \(1 Road\)"),
        (_write(tmp_path, no_srs, "nosrs.gml"), "declares no CRS: pass --crs"),
        (_write(tmp_path, citygml_house().replace("85000.000 447000.000", "85000.000 oops"), "nan.gml"),
         "malformed geometry"),
        (tmp_path / "missing.gml", "no such file"),
    ]
    for path, message in cases:
        with pytest.raises(IngestError, match=message):
            ingest_citygml(engine, path, CityGmlOptions("bad"))
    assert _counts(engine) == before
    assert ingest_citygml(engine, cases[4][0], CityGmlOptions("fixed", crs="7415"))["objects"] == 2


def test_cli_ingests_cityjson_and_citygml_and_reports_bad_files_with_exit_code_2(
        settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["ingest", "citygml", str(shared_data(DELFT)), "--name", "dg", "--json"],
                    settings_factory=lambda: settings)
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["objects"] == 3
    code = cli.main(["ingest", "cityjson", str(shared_data("gis/delft.city.json")), "--name", "delft", "--lod", "1"],
                    settings_factory=lambda: settings)
    _, err = capsys.readouterr()
    assert code == 0 and "570 objects" in err and "160 Building" in err and "NAP height" in err
    broken = _write(tmp_path, "<CityModel>", "broken.gml")
    code = cli.main(["ingest", "citygml", str(broken), "--name", "bad", "--json"], settings_factory=lambda: settings)
    out, err = capsys.readouterr()
    assert code == 2 and "not well-formed XML" in json.loads(out)["error"] and "not well-formed" in err


@pytest.mark.parametrize(("name", "code", "heights"), [
    ("7415", 7415, "gravity-related"), ("urn:ogc:def:crs:EPSG::7415", 7415, "gravity-related"),
    ("https://www.opengis.net/def/crs/EPSG/0/7415", 7415, "gravity-related"),
    ("http://www.opengis.net/gml/srs/epsg.xml#28992", 28992, "undeclared"),
    ("urn:ogc:def:crs:EPSG:6.12:31467", 31467, "undeclared"),
    ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", None, "gravity-related"),
    ("EPSG:4979", 4979, "ellipsoidal"),
])
def test_city_model_crs_names_resolve_and_say_what_the_heights_are(name: str, code: int | None, heights: str) -> None:
    from ingest_gis.citycrs import resolve_crs

    warnings: list[str] = []
    crs = resolve_crs(name, None, warnings, "model.gml")
    assert crs.crs.to_epsg() == code and crs.vertical_treatment == heights
    if name.startswith("urn:adv"):
        assert crs.horizontal.to_epsg() == 25832 and crs.vertical is not None and "DHHN2016" in crs.vertical.name
    assert (crs.vertical_note() is None) == (heights == "ellipsoidal")
    overridden = resolve_crs(name, "25833", warnings, "model.gml")
    assert overridden.name == "EPSG:25833" and "--crs 25833 overrides the CRS" in warnings[-1]
    with pytest.raises(IngestError, match="not one pyproj knows"):
        resolve_crs("urn:ogc:def:crs:EPSG::nope", None, [], "model.gml")
