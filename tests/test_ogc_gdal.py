"""A real OGC client: GDAL's OAPIF driver (`ogrinfo`) lists the collections and reads features with filters."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import QueryCity

OGRINFO = shutil.which("ogrinfo")
pytestmark = pytest.mark.skipif(OGRINFO is None and os.environ.get("CI") != "true",
                                reason="ogrinfo (Debian gdal-bin) is not installed")


def _ogrinfo(*args: str, debug: bool = False) -> str:
    """ogrinfo's output; with `debug`, its debug log (the URLs it fetched) follows."""
    assert OGRINFO, "ogrinfo (Debian gdal-bin) is required under CI"
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "ON" if debug else "OFF"}
    done = subprocess.run([OGRINFO, "-ro", *args], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout + (done.stderr if debug else "")


def test_gdal_lists_every_collection(query_city: QueryCity) -> None:
    out = _ogrinfo(f"OAPIF:{query_city.base_url}/ogc")
    layers = re.findall(r"^\d+: (\S+)", out, re.MULTILINE)
    assert layers == ["objects", "berlin", "house", "nyc", "street", "sensors", "events"]


def test_gdal_reads_features_with_a_spatial_filter_across_pages(query_city: QueryCity) -> None:
    # a box around the Berlin building at (13.4141, 52.5400); the page size forces GDAL to follow next links
    out = _ogrinfo("-spat", "13.4130", "52.5390", "13.4160", "52.5410", "-oo", "PAGE_SIZE=3",
                   f"OAPIF:{query_city.base_url}/ogc", "berlin")
    count = int(re.search(r"^Feature Count: (\d+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    ids = re.findall(r"^\s+id \(String\) = (berlin\.\S+)", out, re.MULTILINE)
    assert "berlin.23077868" in ids and count == len(ids) > 3
    assert re.search(r"^\s+POLYGON \(\(13\.41", out, re.MULTILINE)
    summary = _ogrinfo("-so", f"OAPIF:{query_city.base_url}/ogc", "berlin")
    assert "Geometry: Polygon" in summary and "zmin: Real" in summary and "attributes.id: String" in summary


def test_gdal_reads_typed_fields_from_the_schema_and_fetches_one_feature_by_id(query_city: QueryCity) -> None:
    # `id = '…'` makes GDAL ask /items/{featureId}; field types come from the collection's JSON Schema
    out = _ogrinfo("-where", "id = 'house.s1.east'", f"OAPIF:{query_city.base_url}/ogc", "house")
    assert re.findall(r"^\s+id \(String\) = (\S+)", out, re.MULTILINE) == ["house.s1.east"]
    assert re.search(r"^\s+zmax \(Real\) = 6$", out, re.MULTILINE)
    assert re.search(r"^\s+parent_id \(String\) = house.s1$", out, re.MULTILINE)


def test_gdal_sends_property_filters_to_the_server(query_city: QueryCity) -> None:
    # the API definition lists each collection's properties as item parameters, so GDAL asks for ?kind=space
    # and evaluates only the rest (zmin >= 3) itself
    out = _ogrinfo("-where", "kind = 'space' AND zmin >= 3", f"OAPIF:{query_city.base_url}/ogc", "house",
                   debug=True)
    assert re.search(r"Fetch\(\S+/ogc/collections/house/items\?limit=\d+&kind=space\)", out), out[-3000:]
    assert re.findall(r"^\s+id \(String\) = (\S+)", out, re.MULTILINE) == ["house.s1.east", "house.s1.west"]
