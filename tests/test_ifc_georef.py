"""Georeferencing of IFC models: map conversions (with the Scale unit subtlety), IfcSite, overrides, failures."""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import numpy as np
import pytest
from pyproj import Transformer

from ingest_bim.geometry import mesh_batches
from ingest_bim.georef import GeorefOptions, parse_origin, read_georef, resolve_scale
from ingest_bim.model import make_iterator
from ingest_gis.records import IngestError
from tests.helpers.data import shared_data
from tiles.geodesy import EnuFrame

UTM = "ifc/geographic-referencing-utm.ifc"
FZK = "ifc/AC20-FZK-Haus.ifc"
DUPLEX = "ifc/Duplex_A_20110907.ifc"


def _open(relative: str) -> ifcopenshell.file:
    return ifcopenshell.open(str(shared_data(relative)))


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    frame = EnuFrame(a[0], a[1], 0.0)
    d = frame.from_geodetic(np.array([b[0]]), np.array([b[1]]), np.array([0.0]))[0]
    return float(np.hypot(d[0], d[1]))


def test_utm_sample_vertices_land_at_the_map_position_with_the_rotation_applied() -> None:
    model = _open(UTM)
    georef = read_georef(model)
    assert georef.source == "IfcMapConversion" and georef.crs == "EPSG:25832"
    assert "reciprocal" in georef.parameters["scale_reading"]
    (batch,) = list(mesh_batches(make_iterator(model), georef))
    assert len(batch.shapes) == 1
    positions = batch.positions
    to_lonlat = Transformer.from_crs(25832, 4326, always_xy=True)
    # the proxy's first vertex (0, 0, 0) mm is the map conversion's origin itself
    lon, lat = to_lonlat.transform(458657.30, 5438232.25)
    lowest = positions[np.argmin(positions[:, 2])]
    assert lowest[0] == pytest.approx(lon, abs=1e-8) and lowest[1] == pytest.approx(lat, abs=1e-8)
    assert lowest[2] == pytest.approx(113.7, abs=1e-6)
    # vertex (500, -500, 2000) mm: 0.5 m east and 0.5 m south in model axes, turned by XAxisAbscissa/Ordinate
    c, s = 0.270600445976, 0.962691746426
    norm = math.hypot(c, s)
    c, s = c / norm, s / norm
    e = 458657.30 + c * 0.5 - s * -0.5
    n = 5438232.25 + s * 0.5 + c * -0.5
    lon, lat = to_lonlat.transform(e, n)
    expected = np.array([lon, lat, 115.7])
    hits = np.all(np.isclose(positions, expected, rtol=0, atol=1e-8), axis=1)
    assert hits.any(), "the rotated corner vertex is not where EPSG:25832 puts it"
    # and the file's own IfcSite reference agrees to the millimetre
    assert georef.parameters["site_reference_distance_m"] < 0.01


def test_scale_is_read_the_way_that_matches_the_units() -> None:
    assert resolve_scale(0.001, 0.001)[1].startswith("as written")
    assert resolve_scale(1000.0, 0.001)[1].startswith("as its reciprocal")
    scale, reading = resolve_scale(1.0, 0.001)
    assert scale == pytest.approx(0.001) and "grid scale factor" in reading
    assert resolve_scale(0.9996, 1.0)[0] == pytest.approx(0.9996)
    assert resolve_scale(None, 1.0)[0] == 1.0


def test_fzk_house_stands_at_its_site_reference_turned_by_true_north() -> None:
    georef = read_georef(_open(FZK))
    assert georef.source == "IfcSite"
    lon, lat, height = georef.origin()
    assert (lat, lon) == (pytest.approx(49.1004, abs=1e-4), pytest.approx(8.4365, abs=1e-4))
    assert height == pytest.approx(110.0)
    # TrueNorth (0.766, 0.643): north is 50° clockwise... the model x axis points 50° north of east
    assert georef.summary()["rotation_deg"] == pytest.approx(50.0, abs=1e-6)
    x_axis = georef.normals_to_enu(np.array([[1.0, 0.0, 0.0]]))[0]
    assert math.degrees(math.atan2(x_axis[1], x_axis[0])) == pytest.approx(50.0, abs=1e-3)


def test_duplex_ifc2x3_stands_at_its_site_reference_in_chicago() -> None:
    georef = read_georef(_open(DUPLEX))
    assert georef.source == "IfcSite"
    lon, lat, _ = georef.origin()
    assert _distance_m((lon, lat), (-87.6394, 41.8744)) < 5


def test_overrides_replace_the_files_georeferencing() -> None:
    model = _open(FZK)
    moved = read_georef(model, GeorefOptions(origin=(13.4, 52.5, 34.0), rotation=0.0))
    assert moved.source == "--origin" and moved.origin() == pytest.approx((13.4, 52.5, 34.0))
    east = moved.to_geodetic(np.array([[10.0, 0.0, 0.0]]))[0]
    assert east[1] == pytest.approx(52.5, abs=1e-7) and east[0] > 13.4
    turned = read_georef(model, GeorefOptions(rotation=90.0))
    assert turned.source == "IfcSite" and turned.parameters["rotation_from"] == "--rotation"
    north = turned.to_geodetic(np.array([[10.0, 0.0, 0.0]]))[0]
    assert north[0] == pytest.approx(turned.origin()[0], abs=1e-7) and north[1] > turned.origin()[1]
    # --crs on a model without a map conversion: its coordinates are map coordinates
    mapped = read_georef(model, GeorefOptions(crs="25833"))
    assert mapped.source == "--crs" and mapped.crs == "EPSG:25833"
    # --origin with --crs is easting, northing, height in that CRS
    utm = read_georef(model, GeorefOptions(crs="EPSG:25832", origin=(458657.30, 5438232.25, 113.7)))
    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(458657.30, 5438232.25)
    assert utm.origin() == pytest.approx((lon, lat, 113.7))
    # --crs replaces the map conversion's CRS and keeps its parameters
    other = read_georef(_open(UTM), GeorefOptions(crs="EPSG:25833"))
    assert other.source == "IfcMapConversion" and other.crs == "EPSG:25833"


def test_a_model_without_georeferencing_fails_naming_the_options(tmp_path: Path) -> None:
    model = _open(UTM)
    for op in model.by_type("IfcMapConversion"):
        model.remove(op)
    site = model.by_type("IfcSite")[0]
    site.RefLatitude = None
    site.RefLongitude = None
    with pytest.raises(IngestError, match=r"no usable georeferencing.*--origin.*--crs.*--rotation"):
        read_georef(model)


def test_bad_override_values_are_refused() -> None:
    with pytest.raises(IngestError, match="LON,LAT"):
        parse_origin("east,north")
    with pytest.raises(IngestError, match="--crs"):
        read_georef(_open(FZK), GeorefOptions(crs="EPSG:999999"))
    with pytest.raises(IngestError, match="longitude"):
        read_georef(_open(FZK), GeorefOptions(origin=(200.0, 95.0, 0.0)))
