"""The generated demo district."""

from __future__ import annotations

from pathlib import Path

import orjson

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
