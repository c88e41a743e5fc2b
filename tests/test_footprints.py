"""Reading footprint layers: formats, CRS, heights, repairs and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from ingest_gis.footprints import DEFAULT_HEIGHT, FootprintOptions, parse_number, read_footprints
from ingest_gis.records import IngestError
from tests.helpers.data import shared_data

BERLIN_BOX = box(13.41, 52.535, 13.43, 52.545)


def test_berlin_has_635_buildings_with_mixed_heights_and_levels() -> None:
    result = read_footprints(shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson"),
                             FootprintOptions("berlin"))
    assert len(result.objects) == 635 == len(result.features)
    assert result.source_crs == "EPSG:4326"
    by_id = {o.id: o for o in result.objects}
    assert all(BERLIN_BOX.contains(o.footprint) for o in result.objects)
    with_height = [o for o in result.objects if "height" in o.attributes]
    assert len(with_height) == 305
    assert all(o.zmax - o.zmin == pytest.approx(o.attributes["height"]) for o in with_height)
    levels_only = [o for o in result.objects if "height" not in o.attributes and "levels" in o.attributes]
    assert levels_only and all(o.zmax == pytest.approx(o.attributes["levels"] * 3.0) for o in levels_only)
    defaulted = [o for o in result.objects if "height" not in o.attributes and "levels" not in o.attributes]
    assert all(o.zmax == DEFAULT_HEIGHT for o in defaulted)
    assert any(f"{len(defaulted)} buildings had no usable height" in w for w in result.warnings)
    assert by_id["berlin.23077868"].attributes["type"] == "commercial"


def test_ridgewood_string_heights_become_numbers() -> None:
    result = read_footprints(shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("nyc"))
    assert len(result.objects) == 15
    first = next(o for o in result.objects if o.id == "nyc.way-247502012")
    assert first.zmax == pytest.approx(11.3)
    assert first.attributes["addr:street"] == "Clover Place"
    assert not result.warnings


@pytest.mark.parametrize("text,value", [("11.3", 11.3), ("12,5", 12.5), (" 9 m", 9.0), (7, 7.0),
                                        ("tall", None), ("", None), (None, None), (float("nan"), None)])
def test_heights_parse_from_numbers_and_numeric_strings(text: object, value: float | None) -> None:
    assert parse_number(text) == value


def _utm_frame() -> gpd.GeoDataFrame:
    polygons = [box(391000 + i * 30, 5820000, 391020 + i * 30, 5820015) for i in range(3)]
    return gpd.GeoDataFrame({"id": ["a", "b", "c"], "hoehe": [10.0, 20.0, 30.0]}, geometry=polygons,
                            crs="EPSG:25833")


@pytest.mark.parametrize("suffix,driver", [(".shp", "ESRI Shapefile"), (".gpkg", "GPKG")])
def test_projected_layers_are_reprojected_from_their_own_crs(tmp_path: Path, suffix: str, driver: str) -> None:
    path = tmp_path / f"blocks{suffix}"
    _utm_frame().to_file(path, driver=driver)
    result = read_footprints(path, FootprintOptions("utm", height_attr="hoehe"))
    assert result.source_crs == "EPSG:25833"
    assert [o.zmax for o in sorted(result.objects, key=lambda o: o.id)] == [10.0, 20.0, 30.0]
    lon, lat = result.objects[0].footprint.centroid.coords[0]
    assert 13.3 < lon < 13.5 and 52.5 < lat < 52.6  # Berlin


def test_an_old_style_geojson_crs_member_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "old.geojson"
    frame = _utm_frame().to_crs(3857)
    doc = json.loads(frame.to_json())
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    path.write_text(json.dumps(doc))
    result = read_footprints(path, FootprintOptions("old", height_attr="hoehe"))
    assert "3857" in result.source_crs
    lon, lat = result.objects[0].footprint.centroid.coords[0]
    assert 13.3 < lon < 13.5 and 52.5 < lat < 52.6


def test_a_layer_without_crs_needs_the_crs_option(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    _utm_frame().set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(IngestError, match="no CRS.*--crs"):
        read_footprints(path, FootprintOptions("nocrs"))
    result = read_footprints(path, FootprintOptions("nocrs", crs="25833", height_attr="hoehe"))
    assert result.source_crs == "EPSG:25833"


def test_projected_coordinates_declared_as_lonlat_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.geojson"
    frame = _utm_frame().set_crs(4326, allow_override=True)
    path.write_text(frame.to_json())
    with pytest.raises(IngestError, match="outside the Earth.*--crs"):
        read_footprints(path, FootprintOptions("wrong"))


def test_z_values_set_the_base_height_and_multipolygons_with_holes_survive(tmp_path: Path) -> None:
    shell = [(13.40, 52.50, 34.0), (13.401, 52.50, 34.0), (13.401, 52.501, 35.0), (13.40, 52.501, 35.0)]
    hole = [(13.4004, 52.5004, 34.0), (13.4006, 52.5004, 34.0), (13.4006, 52.5006, 34.0), (13.4004, 52.5006, 34.)]
    second = Polygon([(13.402, 52.50, 36.0), (13.403, 52.50, 36.0), (13.403, 52.501, 36.0)])
    parts = MultiPolygon([Polygon(shell, [hole]), second])
    path = tmp_path / "z.geojson"
    gpd.GeoDataFrame({"height": [12.0]}, geometry=[parts], crs=4326).to_file(path)
    (record,) = read_footprints(path, FootprintOptions("z")).objects
    assert record.zmin == 34.0 and record.zmax == 46.0
    assert record.footprint.geom_type == "MultiPolygon" and len(record.footprint.geoms[0].interiors) == 1


def test_invalid_polygons_are_repaired_and_counted(tmp_path: Path) -> None:
    bowtie = Polygon([(13.40, 52.50), (13.401, 52.501), (13.401, 52.50), (13.40, 52.501)])
    path = tmp_path / "bad.geojson"
    gpd.GeoDataFrame({"height": [10.0, 8.0]}, geometry=[bowtie, box(13.41, 52.5, 13.411, 52.501)],
                     crs=4326).to_file(path)
    result = read_footprints(path, FootprintOptions("bad"))
    assert len(result.objects) == 2
    assert all(o.footprint.is_valid for o in result.objects)
    assert "1 invalid footprints were repaired" in result.warnings


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("this is not GeoJSON {"), "cannot read"),
        (lambda p: p.write_text('{"type":"FeatureCollection","features":[]}'), "no features"),
        (lambda p: gpd.GeoDataFrame({"a": [1]}, geometry=[Point(13.4, 52.5)], crs=4326).to_file(p),
         "not a polygon layer.*Point"),
        (lambda p: gpd.GeoDataFrame({"a": [1]}, geometry=[LineString([(13.4, 52.5), (13.5, 52.6)])],
                                    crs=4326).to_file(p), "not a polygon layer"),
    ],
    ids=["missing", "corrupt", "empty", "points", "lines"],
)
def test_bad_inputs_get_clear_errors(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "input.geojson"
    make(path)
    with pytest.raises(IngestError, match=message):
        read_footprints(path, FootprintOptions("bad"))


def test_a_named_height_attribute_must_exist() -> None:
    with pytest.raises(IngestError, match="height attribute 'hoehe' is not in the layer"):
        read_footprints(shared_data("gis/osm_nyc_ridgewood_buildings.geojson"),
                        FootprintOptions("nyc", height_attr="hoehe"))
