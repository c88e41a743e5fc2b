"""Footprint layers as other tools write them: every attribute type GDAL hands over becomes JSON (or is left out
with a warning), a building layer with points and lines mixed in still ingests its polygons, and so does one
with a ring left unclosed."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, Point, box
from sqlalchemy import Engine, text

from ingest_gis.attributes import MISSING, Unsupported, json_value
from ingest_gis.footprints import FootprintOptions, read_footprints
from ingest_gis.records import IngestError
from twin.ingest import ingest_footprints

BUILDINGS = [box(13.40 + i * 0.001, 52.50, 13.4005 + i * 0.001, 52.5005) for i in range(3)]
STRAYS = [Point(13.41, 52.51), LineString([(13.41, 52.51), (13.42, 52.52)]), Point(13.41, 52.52)]


def _layer() -> gpd.GeoDataFrame:
    """Three buildings and three strays (two POIs, a line) with each attribute type and values missing."""
    missing: list[Any] = [None] * 3
    return gpd.GeoDataFrame({
        "id": ["b0", "b1", "b2", "p0", "l0", "p1"],
        "height": [12.0, 9.5, 6.0, 1.0, 1.0, 1.0],
        "check_date": [dt.date(2020, 1, 2), None, dt.date(2021, 3, 4), *missing],
        "survey": pd.to_datetime(["2023-05-01T12:30:00+02:00", None, "2023-05-02T00:00:00+02:00", *missing],
                                 utc=True),
        "opening_hours_start": ["08:30:00", None, "09:00:15", *missing],
        "tags": [["a", "b"], None, [], *missing],
        "floors": [[1, 2], None, [3], *missing],
        "ratio": [0.5, np.nan, None, *missing],
        "roof_ok": pd.array([True, False, None, *missing], dtype="boolean"),
        "big": np.array([2**40, 1, 2, 3, 4, 5], dtype=np.int64),
    }, geometry=[*BUILDINGS, *STRAYS], crs=4326)


def _geojson(tmp_path: Path) -> Path:
    path = tmp_path / "buildings.geojson"
    pyogrio.write_dataframe(_layer(), path)
    return path


def _geopackage(tmp_path: Path) -> Path:
    """The layer as GPKG (GDAL through pyogrio), plus a DATE and a BLOB column that pyogrio cannot write."""
    path = tmp_path / "buildings.gpkg"
    pyogrio.write_dataframe(_layer(), path, layer="buildings", layer_options={"SPATIAL_INDEX": "NO"})
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE buildings ADD COLUMN start_date DATE")
        db.execute("ALTER TABLE buildings ADD COLUMN thumbnail BLOB")
        db.execute("UPDATE buildings SET start_date = '1905-06-07', thumbnail = x'89504e470d0a' WHERE id = 'b0'")
        db.execute("UPDATE buildings SET thumbnail = x'00' WHERE id = 'b2'")
    return path


def _stored(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {row.id: row.attributes for row in conn.execute(text("SELECT id, attributes FROM twin_objects"))}


def test_dates_datetimes_times_lists_and_booleans_of_a_geojson_layer_become_json(engine: Engine,
                                                                                 tmp_path: Path) -> None:
    summary = ingest_footprints(engine, _geojson(tmp_path), FootprintOptions(name="osm"))
    stored = _stored(engine)
    assert sorted(stored) == ["osm.b0", "osm.b1", "osm.b2"]
    assert stored["osm.b0"] == {"id": "b0", "height": 12.0, "check_date": "2020-01-02",
                                "survey": "2023-05-01T10:30:00Z", "opening_hours_start": "08:30:00",
                                "tags": ["a", "b"], "floors": [1, 2], "ratio": 0.5, "roof_ok": True,
                                "big": 2**40}
    assert stored["osm.b1"] == {"id": "b1", "height": 9.5, "roof_ok": False, "big": 1}  # the missing are absent
    assert stored["osm.b2"]["tags"] == [] and "roof_ok" not in stored["osm.b2"] and "ratio" not in stored["osm.b2"]
    assert not any("left out" in w for w in summary["warnings"])


def test_a_geopackage_keeps_its_dates_and_leaves_binary_out_with_a_warning(engine: Engine, tmp_path: Path) -> None:
    summary = ingest_footprints(engine, _geopackage(tmp_path), FootprintOptions(name="gpkg"))
    stored = _stored(engine)
    assert stored["gpkg.b0"]["start_date"] == "1905-06-07"
    assert stored["gpkg.b0"]["survey"] == "2023-05-01T10:30:00Z"
    assert stored["gpkg.b0"]["roof_ok"] is True and "start_date" not in stored["gpkg.b1"]
    assert not any("thumbnail" in attributes for attributes in stored.values())
    assert "attribute 'thumbnail' (binary) cannot be stored as JSON and was left out of 2 features" in \
        summary["warnings"]


@pytest.mark.parametrize("make", [_geojson, _geopackage], ids=["geojson", "gpkg"])
def test_a_building_layer_with_points_and_lines_mixed_in_ingests_its_polygons_and_counts_the_rest(
        engine: Engine, tmp_path: Path, make: Any) -> None:
    summary = ingest_footprints(engine, make(tmp_path), FootprintOptions(name="mixed"))
    assert summary["objects"] == 3
    assert sorted(_stored(engine)) == ["mixed.b0", "mixed.b1", "mixed.b2"]
    assert "3 features had no usable polygon and were skipped: 2 Point, 1 LineString" in summary["warnings"]
    with engine.connect() as conn:
        warnings = conn.execute(text("SELECT summary -> 'warnings' FROM datasets WHERE id = 'mixed'")).scalar_one()
    assert "2 Point, 1 LineString" in str(warnings)


def test_features_without_geometry_are_counted_as_such(tmp_path: Path) -> None:
    path = tmp_path / "holes.geojson"
    path.write_text('{"type":"FeatureCollection","features":['
                    '{"type":"Feature","properties":{"id":"a"},"geometry":'
                    '{"type":"Polygon","coordinates":[[[13.4,52.5],[13.401,52.5],[13.401,52.501],[13.4,52.5]]]}},'
                    '{"type":"Feature","properties":{"id":"b"},"geometry":null}]}')
    result = read_footprints(path, FootprintOptions("holes"))
    assert [o.id for o in result.objects] == ["holes.a"]
    assert "1 features had no usable polygon and were skipped: 1 no geometry" in result.warnings


def test_a_feature_whose_ring_is_not_closed_is_skipped_with_its_fid_and_the_rest_ingest(
        engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "unclosed.geojson"  # as hand-edited GeoJSON has it; GDAL itself writes no such ring
    path.write_text('{"type":"FeatureCollection","features":['
                    '{"type":"Feature","properties":{"id":"a","height":9},"geometry":{"type":"Polygon",'
                    '"coordinates":[[[13.4,52.5],[13.401,52.5],[13.401,52.501],[13.4,52.5]]]}},'
                    '{"type":"Feature","properties":{"id":"b","height":7},"geometry":{"type":"Polygon",'
                    '"coordinates":[[[13.41,52.5],[13.411,52.5],[13.411,52.501]]]}},'
                    '{"type":"Feature","properties":{"id":"c","height":5},"geometry":{"type":"Polygon",'
                    '"coordinates":[[[13.42,52.5],[13.421,52.5]]]}}]}')
    summary = ingest_footprints(engine, path, FootprintOptions(name="unclosed"))
    assert summary["objects"] == 1 and sorted(_stored(engine)) == ["unclosed.a"]
    assert "2 features have a geometry GEOS cannot build (an unclosed or too short ring, say) and were read " \
           "without one: fid 1, 2" in summary["warnings"], summary["warnings"]
    assert "2 features had no usable polygon and were skipped: 2 no geometry" in summary["warnings"]
    assert any("Non closed ring detected" in w for w in summary["warnings"]), summary["warnings"]


def test_a_layer_of_unclosed_rings_alone_is_refused_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":'
                    '{"type":"Polygon","coordinates":[[[13.4,52.5],[13.401,52.5]]]}}]}')
    with pytest.raises(IngestError, match=r"not a polygon layer \(found no geometry\).*GEOS cannot build.*fid 0"):
        read_footprints(path, FootprintOptions("broken"))


@pytest.mark.parametrize(("value", "expected"), [
    (None, MISSING), (pd.NaT, MISSING), (np.datetime64("NaT"), MISSING), (float("nan"), MISSING),
    (np.float32("nan"), MISSING), (float("inf"), MISSING),
    (np.int64(7), 7), (np.bool_(True), True), (np.float64(2.5), 2.5), ("text", "text"),
    (dt.date(2024, 2, 29), "2024-02-29"), (dt.time(23, 59, 1), "23:59:01"),
    (dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC), "2024-01-01T08:00:00+00:00"),
    (pd.Timestamp("2024-01-01T08:00"), "2024-01-01T08:00:00"),
    (np.datetime64("2024-01-01T08:00:00.000000000"), "2024-01-01T08:00:00"),
    (np.array([1.5, np.nan]), [1.5, None]), (np.array(["a", "b"]), ["a", "b"]),
    ({"k": [1, None]}, {"k": [1, None]}), (dt.timedelta(minutes=2), 120.0),
])
def test_each_value_gdal_hands_over_has_a_json_form_or_is_absent(value: Any, expected: Any) -> None:
    assert json_value(value) == expected if expected is not MISSING else json_value(value) is MISSING


@pytest.mark.parametrize(("value", "kind"), [(b"\x00", "binary"), (bytearray(b"x"), "binary"),
                                             (decimal.Decimal("1.5"), "Decimal"), (object(), "object")])
def test_what_json_cannot_carry_is_named_for_the_warning(value: Any, kind: str) -> None:
    with pytest.raises(Unsupported) as caught:
        json_value(value)
    assert caught.value.kind == kind
