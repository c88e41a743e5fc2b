"""City models that name a bare datum (a geographic CRS) while their coordinates are metres of a grid on it: the
one projected CRS on that datum whose area of use holds the data is taken with a warning; several or none are
refused, naming the candidates for --crs, and nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from ingest_gis.citygml import CityGmlOptions, read_citygml
from ingest_gis.cityjson import CityJsonOptions, read_cityjson
from ingest_gis.records import IngestError
from tests.helpers.citymodels import ORIGIN, citygml_house, cityjson_house
from twin.ingest import ingest_cityjson

BERLIN_GK4 = (4_595_000.0, 5_820_000.0, 34.0)
"""Prenzlauer Berg in DHDN / 3-degree Gauss-Krüger zone 4 (zone number in front of the easting)."""
BERLIN_GK3 = (3_795_000.0, 5_820_000.0, 34.0)
"""The same numbers as if in zone 3: outside zone 3's area of use."""
BERLIN_UTM33 = (390_000.0, 5_820_000.0, 34.0)
NYC_UTM18 = (585_000.0, 4_510_000.0, 10.0)


def _house(tmp_path: Path, reference_system: str, origin: tuple[float, float, float] = ORIGIN) -> Path:
    doc: dict[str, Any] = cityjson_house("2.0")
    doc["metadata"]["referenceSystem"] = reference_system
    doc["transform"]["translate"] = list(origin)
    path = tmp_path / "house.city.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def _centre(result: Any) -> tuple[float, float]:
    point = result.objects[0].footprint.centroid
    return point.x, point.y


def test_a_bare_datum_name_with_rd_metres_is_read_in_rd_new_with_a_warning(tmp_path: Path) -> None:
    guessed = read_cityjson(_house(tmp_path, "Amersfoort"), CityJsonOptions("delft"))
    declared = read_cityjson(_house(tmp_path, "EPSG:28992"), CityJsonOptions("delft"))
    assert guessed.source_crs == "EPSG:28992"
    assert any("the geographic CRS EPSG:4289" in w and "read in EPSG:28992 (Amersfoort / RD New), the only "
               "projected CRS on the Amersfoort datum" in w for w in guessed.warnings)
    assert _centre(guessed) == pytest.approx(_centre(declared), abs=1e-9)
    assert _centre(guessed) == pytest.approx((4.367, 52.0), abs=0.01)  # Delft


def test_a_compound_name_keeps_its_height_system_when_the_grid_is_found(tmp_path: Path) -> None:
    result = read_cityjson(_house(tmp_path, "urn:ogc:def:crs,crs:EPSG::4289,crs:EPSG::5709"),
                           CityJsonOptions("delft"))
    assert "Amersfoort / RD New" in result.summary["vertical"]["horizontal"]
    vertical = result.summary["vertical"]
    assert vertical["heights"] == "gravity-related" and "NAP" in vertical["vertical"]


def test_dhdn_with_gauss_krueger_zone_4_metres_lands_in_berlin(tmp_path: Path) -> None:
    result = read_cityjson(_house(tmp_path, "DHDN", BERLIN_GK4), CityJsonOptions("berlin"))
    assert any("DHDN / 3-degree Gauss-Kruger zone 4" in w for w in result.warnings)
    assert result.source_crs in ("EPSG:5678", "EPSG:31468")
    assert _centre(result) == pytest.approx((13.40, 52.51), abs=0.02)


def test_citygml_with_a_bare_datum_srs_name_is_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "house.gml"
    path.write_text(citygml_house(srs_name="Amersfoort"))
    result = read_citygml(path, CityGmlOptions("delft"))
    assert result.source_crs == "EPSG:28992" and any("EPSG:28992" in w for w in result.warnings)


@pytest.mark.parametrize(("name", "origin", "named"), [
    ("ETRS89", BERLIN_UTM33, ["EPSG:25832 (ETRS89 / UTM zone 32N)", "EPSG:25833 (ETRS89 / UTM zone 33N)"]),
    ("NAD83", NYC_UTM18, ["EPSG:26918 (NAD83 / UTM zone 18N)", "EPSG:26917 (NAD83 / UTM zone 17N)"]),
], ids=["etrs89-utm-zones", "nad83-utm-zones"])
def test_utm_metres_fit_every_zone_and_are_refused_with_the_candidates(engine: Engine, tmp_path: Path, name: str,
                                                                       origin: tuple[float, float, float],
                                                                       named: list[str]) -> None:
    with pytest.raises(IngestError, match="projected CRSs on the .* datum hold them") as refused:
        ingest_cityjson(engine, _house(tmp_path, name, origin), CityJsonOptions("city"))
    message = str(refused.value)
    assert all(label in message for label in named) and "pass the right one with --crs" in message
    assert "(N-E)" not in message  # the N-E twins of a grid place the data identically: folded into one
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0


def test_metres_that_no_grid_on_the_datum_holds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no projected CRS on the Deutsches Hauptdreiecksnetz datum holds them"):
        read_cityjson(_house(tmp_path, "DHDN", BERLIN_GK3), CityJsonOptions("berlin"))


def test_a_geographic_crs_option_is_never_replaced_but_the_refusal_names_the_grid(tmp_path: Path) -> None:
    named = r"--crs 4289 is the geographic CRS .*1 projected CRS on the Amersfoort datum holds them .*EPSG:28992"
    with pytest.raises(IngestError, match=named):
        read_cityjson(_house(tmp_path, "EPSG:28992"), CityJsonOptions("delft", crs="4289"))
