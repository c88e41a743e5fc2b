"""Property tests (hypothesis): extrusion gives closed meshes of the right volume, geodetic ↔ ECEF round trips,
the quadtree places every feature exactly once within its budget, and reading parsing never fails other than with
a reason, whatever it is handed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import trimesh
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import Polygon

from ingest_gis.lod1 import extrude
from tiles.geodesy import ecef_to_geodetic, geodetic_to_ecef
from tiles.partition import partition, root_square
from twin.live.readings import BodyError, Window, check_batch, parse_body
from twin.live.sensors import Sensor

LON, LAT = 13.4, 52.5
TO_LOCAL = Transformer.from_crs("EPSG:4326", f"+proj=aeqd +lat_0={LAT} +lon_0={LON} +units=m", always_xy=True)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def footprints(draw: st.DrawFn) -> Polygon:
    """Simple polygons of 3–12 corners around a point: a star-shaped ring at random angles and radii."""
    n = draw(st.integers(3, 12))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n,
                                  unique=True)))
    radii = draw(st.lists(st.floats(3, 60), min_size=n, max_size=n))
    ring = [(LON + r * math.cos(a) / 68_000, LAT + r * math.sin(a) / 111_000) for a, r in zip(angles, radii,
                                                                                              strict=True)]
    polygon = Polygon(ring)
    if not polygon.is_valid:
        polygon = polygon.convex_hull
    assume(isinstance(polygon, Polygon) and polygon.area * 68_000 * 111_000 > 1.0)  # at least 1 m²
    return polygon


@SETTINGS
@given(footprints(), st.floats(0, 50), st.floats(2, 120))
def test_an_extruded_footprint_is_a_closed_mesh_of_its_area_times_its_height(
        footprint: Polygon, base: float, height: float) -> None:
    mesh = extrude(footprint, base, base + height)
    x, y = TO_LOCAL.transform(mesh.positions[:, 0], mesh.positions[:, 1])
    solid = trimesh.Trimesh(np.column_stack([x, y, mesh.positions[:, 2]]), mesh.triangles, process=True)
    assert solid.is_watertight
    local = Polygon(np.column_stack(TO_LOCAL.transform(*footprint.exterior.xy)))
    assert solid.volume > 0  # wound outward
    assert math.isclose(solid.volume, local.area * height, rel_tol=1e-3)


@SETTINGS
@given(st.floats(-180, 180), st.floats(-89.9, 89.9), st.floats(-500, 9000))
def test_geodetic_to_ecef_and_back_returns_the_same_place(lon: float, lat: float, height: float) -> None:
    back = ecef_to_geodetic(geodetic_to_ecef(np.array([lon]), np.array([lat]), np.array([height])))[0]
    assert math.isclose(back[1], lat, abs_tol=1e-9)
    assert math.isclose(math.remainder(back[0] - lon, 360.0), 0.0, abs_tol=1e-9) or abs(lat) > 89.99
    assert math.isclose(back[2], height, abs_tol=1e-4)


@SETTINGS
@given(st.lists(st.tuples(st.floats(0, 5000), st.floats(0, 5000), st.floats(0.5, 80), st.floats(0.5, 80)),
                min_size=1, max_size=400), st.integers(1, 50))
def test_the_quadtree_holds_every_feature_once_and_splits_until_the_budget_or_the_deepest_level(
        boxes: list[tuple[float, float, float, float]], budget: int) -> None:
    lo = np.array([[x, y] for x, y, _, _ in boxes])
    hi = np.array([[x + w, y + h] for x, y, w, h in boxes])
    square = root_square(lo, hi)
    root = partition(lo, hi, square, budget=budget, max_level=8)
    members = np.concatenate([cell.members for cell in root.walk()])
    assert sorted(members.tolist()) == list(range(len(boxes)))
    for cell in root.walk():
        if cell.children:
            continue
        x0, y0, x1, y1 = square.cell_bounds(cell.level, cell.x, cell.y)
        side = x1 - x0
        for i in cell.members:  # a feature sits in the (loose) cell holding its centre
            cx, cy = (lo[i] + hi[i]) / 2
            assert x0 - side <= cx <= x1 + side and y0 - side <= cy <= y1 + side


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=30),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                      children, max_size=4),
                    max_leaves=12)
READING = st.fixed_dictionaries({"sensor": st.sampled_from(["T-1", "T-2", "nope"]) | st.text(max_size=5)},
                                optional={"time": st.datetimes(timezones=st.just(UTC)).map(
                                    lambda t: t.isoformat()) | JSON,
                                    "value": st.floats(allow_nan=True, allow_infinity=True) | JSON,
                                    "unit": st.sampled_from(["°C", "ppm"]) | JSON})
SENSORS = {"T-1": Sensor("T-1", "temperature", "°C"), "T-2": Sensor("T-2", "smoke", "")}


@SETTINGS
@given(st.lists(READING | JSON, max_size=20))
def test_every_reading_is_either_taken_as_a_finite_value_in_its_window_or_rejected_with_a_reason(
        items: list[Any]) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    window = Window(now, timedelta(days=30))
    good, bad = check_batch(items, SENSORS, window)
    assert sorted([i for i, _ in good] + [r.index for r in bad]) == list(range(len(items)))
    for _, reading in good:
        assert math.isfinite(reading.value)
        assert now - window.retention <= reading.time <= now + window.max_future
    assert all(r.reason for r in bad)


@SETTINGS
@given(st.binary(max_size=300) | st.lists(READING | JSON, max_size=5).map(lambda items: json.dumps(items).encode()),
       st.sampled_from(["application/json", "application/x-ndjson"]))
def test_any_body_parses_into_items_or_is_refused_as_a_body_error(body: bytes, content_type: str) -> None:
    try:
        items = parse_body(body, content_type, max_items=100)
    except BodyError as exc:
        assert str(exc)
    else:
        assert isinstance(items, list) and len(items) <= 100
