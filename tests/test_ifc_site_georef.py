"""IFC2X3 georeferencing by property sets on the IfcSite, compound CRS names, and a site reference that disagrees."""

from __future__ import annotations

from pathlib import Path

import ifcopenshell
import pytest
from pyproj import Geod, Transformer
from sqlalchemy import Engine, text

from ingest_bim.georef import read_georef
from ingest_bim.mapcrs import read_crs
from ingest_gis.records import IngestError
from scenes.ifc_authoring import IfcAuthor
from twin.ingest import ingest_ifc

# S-JTSK / Krovak East North in Prague, GDA2020 / MGA zone 56 in Sydney
PRAGUE = (-742000.0, -1043000.0)
SYDNEY = (334000.0, 6250000.0)
CHICAGO = (-87.6394, 41.8744)


def _author(path: Path, *, site_at: tuple[float, float], conversion_on: str = "site", crs_on: str = "site",
            crs_name: str = "EPSG:5514+8357", eastings: tuple[float, float] = PRAGUE,
            extra_crs: dict[str, str] | None = None) -> Path:
    """An IFC2X3 model in millimetres with two walls, its ePSet_MapConversion / ePSet_ProjectedCRS where asked."""
    author = IfcAuthor("Site psets", site_at[0], site_at[1], {"grey": (0.6, 0.6, 0.6)}, schema="IFC2X3")
    storey = author.storey(author.building("House"), "Ground", 0.0)
    author.box("IfcWall", storey, (5.0, 0.2, 3.0), (0.0, 0.0, 0.0), "grey")
    author.box("IfcWall", storey, (5.0, 0.2, 3.0), (0.0, 4.0, 0.0), "grey")
    holders = {"site": author.site, "project": author.project}
    author.pset(holders[conversion_on], "ePSet_MapConversion",
                {"Eastings": eastings[0], "Northings": eastings[1], "OrthogonalHeight": 250.0,
                 "XAxisAbscissa": 1.0, "XAxisOrdinate": 0.0, "Scale": 0.001})
    author.pset(holders[crs_on], "ePSet_ProjectedCRS", {"Name": crs_name, **(extra_crs or {})})
    author.write(path)
    return path


def _lonlat(code: int, en: tuple[float, float]) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(code, 4326, always_xy=True).transform(*en)
    return float(lon), float(lat)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])


def test_a_site_map_conversion_wins_over_a_distant_site_reference_and_the_warning_gives_both(tmp_path: Path) -> None:
    georef = read_georef(ifcopenshell.open(str(_author(tmp_path / "m.ifc", site_at=CHICAGO))))
    assert georef.source == "ePSet_MapConversion" and georef.crs == "EPSG:5514+8357"
    assert georef.parameters["pset_on"] == "IfcSite 'Site'"
    lon, lat, height = georef.origin()
    assert _metres((lon, lat), _lonlat(5514, PRAGUE)) < 0.01
    assert height == pytest.approx(250.0)  # map units are the CRS's metres, not the model's millimetres
    (warning,) = [w for w in georef.warnings if "apart" in w]
    assert f"lon {lon:.6f}, lat {lat:.6f}" in warning and "lon -87.639400, lat 41.874400" in warning
    assert "km apart" in warning and "ePSet_MapConversion was followed" in warning
    assert any("Baltic 1957 height" in w and "no geoid" in w for w in georef.warnings)


def test_a_site_reference_within_a_few_hundred_metres_is_not_reported(tmp_path: Path) -> None:
    near = _lonlat(5514, (PRAGUE[0] + 150.0, PRAGUE[1]))
    georef = read_georef(ifcopenshell.open(str(_author(tmp_path / "m.ifc", site_at=near))))
    assert 100 < georef.parameters["site_reference_distance_m"] < 200
    assert not [w for w in georef.warnings if "apart" in w]


def test_the_conversion_and_the_crs_may_sit_on_project_and_site_apart(tmp_path: Path) -> None:
    for conversion_on, crs_on in (("project", "site"), ("site", "project"), ("project", "project")):
        path = _author(tmp_path / f"{conversion_on}-{crs_on}.ifc", site_at=CHICAGO, conversion_on=conversion_on,
                       crs_on=crs_on)
        georef = read_georef(ifcopenshell.open(str(path)))
        assert georef.source == "ePSet_MapConversion", (conversion_on, crs_on)
        assert _metres(georef.origin()[:2], _lonlat(5514, PRAGUE)) < 0.01
        assert georef.parameters["crs_pset_on"] == ("IfcSite 'Site'" if crs_on == "site" else "IfcProject "
                                                    "'Site psets'")


@pytest.mark.parametrize(("name", "horizontal", "en"), [
    ("EPSG:5514+5705", 5514, PRAGUE),
    ("EPSG:5514 + EPSG:5705", 5514, PRAGUE),
    ("5514+8357", 5514, PRAGUE),
    ("S-JTSK / Krovak East North + Baltic 1957 height", 5514, PRAGUE),
    ("urn:ogc:def:crs,crs:EPSG::5514,crs:EPSG::8357", 5514, PRAGUE),
    ("GDA2020 / MGA zone 56 + AHD height", 7856, SYDNEY),
    ("EPSG:7856+5711", 7856, SYDNEY),
    ("EPSG:7856", 7856, SYDNEY),
])
def test_compound_crs_names_place_the_model_by_their_horizontal_part(tmp_path: Path, name: str, horizontal: int,
                                                                     en: tuple[float, float]) -> None:
    path = _author(tmp_path / "m.ifc", site_at=_lonlat(horizontal, en), crs_name=name, eastings=en)
    georef = read_georef(ifcopenshell.open(str(path)))
    assert georef.source == "ePSet_MapConversion"
    assert _metres(georef.origin()[:2], _lonlat(horizontal, en)) < 0.001
    assert georef.parameters["site_reference_distance_m"] < 0.01
    assert any("gravity-related" in w for w in georef.warnings) == ("+" in name or "," in name)


def test_a_declared_vertical_datum_is_reported_with_the_heights(tmp_path: Path) -> None:
    path = _author(tmp_path / "m.ifc", site_at=_lonlat(7856, SYDNEY), crs_name="EPSG:7856", eastings=SYDNEY,
                   extra_crs={"VerticalDatum": "AHD"})
    assert any(w.startswith("heights are AHD, gravity-related") for w in read_georef(
        ifcopenshell.open(str(path))).warnings)


def test_crs_names_that_are_no_crs_are_refused_naming_where_they_came_from() -> None:
    with pytest.raises(IngestError, match="ePSet_ProjectedCRS 'EPSG:5514\\+999999'"):
        read_crs("EPSG:5514+999999", "ePSet_ProjectedCRS")


def test_a_geographic_or_unknown_pset_crs_is_skipped_for_the_site_reference_with_a_warning(tmp_path: Path) -> None:
    for name, reason in (("EPSG:4258+5705", "is not a projected CRS"), ("EPSG:5514+999999", "pyproj knows")):
        georef = read_georef(ifcopenshell.open(str(_author(tmp_path / "m.ifc", site_at=CHICAGO, crs_name=name))))
        assert georef.source == "IfcSite" and _metres(georef.origin()[:2], CHICAGO) < 1
        assert any(reason in w and "skipped" in w for w in georef.warnings), name


def test_the_ingested_site_pset_model_stands_in_prague_and_its_summary_warns_of_the_site(engine: Engine,
                                                                                        tmp_path: Path) -> None:
    summary = ingest_ifc(engine, _author(tmp_path / "m.ifc", site_at=CHICAGO), "prague")
    assert summary["schema"] == "IFC2X3" and summary["georef"]["source"] == "ePSet_MapConversion"
    assert any("7" in w and "km apart" in w and "lat 41.874400" in w for w in summary["warnings"])
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(footprint)) c "
                                     "FROM twin_objects WHERE dataset_id = 'prague' AND kind = 'IfcWall') s")).one()
        warnings = conn.execute(text("SELECT summary->'warnings' FROM datasets WHERE id = 'prague'")).scalar_one()
    assert _metres((lon, lat), _lonlat(5514, PRAGUE)) < 10
    assert any("km apart" in w for w in warnings)
