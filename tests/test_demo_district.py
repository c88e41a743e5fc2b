"""The generated demo district."""

from __future__ import annotations

from pathlib import Path

import orjson
import shapely
from shapely.geometry import Point, Polygon

from ingest_gis.footprints import FootprintOptions, read_footprints
from scenes.demo_district import generate_district


def test_the_demo_district_is_a_few_hundred_deterministic_buildings(tmp_path: Path) -> None:
    city = generate_district()
    assert city == generate_district()
    assert 250 <= len(city["features"]) <= 800
    path = tmp_path / "demo.geojson"
    path.write_bytes(orjson.dumps(city))
    result = read_footprints(path, FootprintOptions("demo"))
    assert len(result.objects) == len(city["features"])
    assert any(len(o.footprint.interiors) for o in result.objects if o.footprint.geom_type == "Polygon")
    assert max(o.zmax for o in result.objects) > 40  # a few towers
    assert any("no usable height" in w for w in result.warnings) is False
    assert all(o.footprint.is_valid for o in result.objects)
    overlaps = sum(a.footprint.intersection(b.footprint).area > 1e-12
                   for i, a in enumerate(result.objects) for b in result.objects[i + 1 : i + 40])
    assert overlaps == 0


def test_the_demo_building_is_a_walkable_ifc_model_in_the_park(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from scenes.demo_building import generate_building
    from scenes.demo_district import park_centre
    from twin.ingest import ingest_ifc

    path = tmp_path / "building.ifc"
    lon, lat = park_centre()
    products = generate_building(path, lon, lat, storeys=3)
    summary = ingest_ifc(engine, path, "rathaus")
    assert summary["objects"] == products and summary["georef"]["source"] == "IfcSite"
    assert summary["floors"] == 3 and not summary["warnings"]
    with engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT kind, count(*) FROM building_connections GROUP BY kind")).all())
        outline = conn.execute(text("SELECT ST_AsText(ST_Union(footprint)) FROM twin_objects "
                                    "WHERE dataset_id = 'rathaus' AND kind = 'IfcWall'")).scalar_one()
    assert kinds == {"door": 18, "exit": 2, "stair": 2}
    building = shapely.from_wkt(outline)
    assert building.distance(Point(lon, lat)) < 1e-6  # the model origin is a corner of the building
    district = generate_district()
    assert not any(building.intersects(Polygon(f["geometry"]["coordinates"][0])) for f in district["features"])
