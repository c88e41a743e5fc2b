"""Geodesy and LoD1 extrusion: the math the tiles stand on."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from shapely.geometry import MultiPolygon, Polygon, box

from ingest_gis.lod1 import extrude
from tiles.geodesy import (
    EnuFrame,
    ecef_to_geodetic,
    enu_rotation,
    geodetic_to_ecef,
    geodetic_to_ecef_with_vectors,
    local_vectors_to_ecef,
)


def test_geodetic_to_ecef_round_trips_to_a_millimetre() -> None:
    rng = np.random.default_rng(1)
    lon, lat, h = rng.uniform(-180, 180, 500), rng.uniform(-89, 89, 500), rng.uniform(-100, 9000, 500)
    back = ecef_to_geodetic(geodetic_to_ecef(lon, lat, h))
    assert np.allclose(back[:, 0], lon, atol=1e-9)
    assert np.allclose(back[:, 1], lat, atol=1e-9)
    assert np.allclose(back[:, 2], h, atol=1e-3)


def test_known_ecef_of_the_equator_and_greenwich() -> None:
    assert np.allclose(geodetic_to_ecef(np.array([0.0]), np.array([0.0]), np.array([0.0])), [[6378137.0, 0, 0]])


def test_vectors_to_ecef_are_the_enu_rotation_applied_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    lon, lat, h = rng.uniform(-180, 180, 5000), rng.uniform(-89, 89, 5000), rng.uniform(-50, 500, 5000)
    vectors = rng.normal(size=(5000, 3)).astype(np.float32)
    expected = np.einsum("ni,nij->nj", vectors.astype(np.float64), enu_rotation(lon, lat))
    assert np.array_equal(local_vectors_to_ecef(lon, lat, vectors), expected)
    xyz, ecef_vectors = geodetic_to_ecef_with_vectors(lon, lat, h, vectors)
    assert np.array_equal(xyz, geodetic_to_ecef(lon, lat, h)) and np.array_equal(ecef_vectors, expected)


def test_enu_frame_axes_point_east_north_up() -> None:
    frame = EnuFrame(13.4, 52.5)
    east = frame.from_geodetic(np.array([13.401]), np.array([52.5]), np.array([0.0]))[0]
    north = frame.from_geodetic(np.array([13.4]), np.array([52.501]), np.array([0.0]))[0]
    up = frame.from_geodetic(np.array([13.4]), np.array([52.5]), np.array([10.0]))[0]
    assert east[0] == pytest.approx(67.9, abs=0.2) and abs(east[1]) < 0.01
    assert north[1] == pytest.approx(111.3, abs=0.2) and abs(north[0]) < 1e-6
    assert np.allclose(up, [0, 0, 10], atol=1e-6)
    matrix = np.array(frame.transform_matrix()).reshape(4, 4).T
    assert np.allclose(matrix[:3, 3], frame.origin_ecef)


def _trimesh(polygon: Polygon | MultiPolygon, base: float, top: float) -> trimesh.Trimesh:
    mesh = extrude(polygon, base, top)
    enu = EnuFrame(polygon.centroid.x, polygon.centroid.y).from_geodetic(
        mesh.positions[:, 0], mesh.positions[:, 1], mesh.positions[:, 2])
    solid = trimesh.Trimesh(enu, mesh.triangles, process=False)
    solid.merge_vertices(merge_tex=True, merge_norm=True)
    return solid, mesh


def _deg(polygon_m: Polygon, lon: float = 13.4, lat: float = 52.5) -> Polygon:
    from shapely import affinity

    return affinity.affine_transform(polygon_m, [1 / (111320 * np.cos(np.radians(lat))), 0, 0, 1 / 110574, lon, lat])


@pytest.mark.parametrize(
    "footprint",
    [
        _deg(box(0, 0, 20, 10)),
        _deg(Polygon([(0, 0), (30, 0), (30, 30), (0, 30)], [[(10, 10), (20, 10), (20, 20), (10, 20)]])),
        _deg(Polygon([(0, 0), (20, 0), (20, 5), (5, 5), (5, 20), (0, 20)])),
        MultiPolygon([_deg(box(0, 0, 10, 10)), _deg(box(20, 0, 30, 10))]),
    ],
    ids=["box", "courtyard", "L-shape", "multipolygon"],
)
def test_extruded_solid_is_closed_with_outward_normals_and_the_right_volume(footprint: Polygon) -> None:
    solid, mesh = _trimesh(footprint, 5.0, 17.0)
    assert solid.is_watertight
    assert solid.is_winding_consistent
    assert solid.volume > 0  # positive volume: triangles wind outwards
    area_m2 = _area_m2(footprint)
    assert solid.volume == pytest.approx(area_m2 * 12.0, rel=0.01)
    # every triangle's geometric normal agrees with the normals stored on its vertices
    tri_normals = np.cross(*(np.diff(_corners(mesh, footprint), axis=1).transpose(1, 0, 2)))
    vertex_normals = mesh.normals[mesh.triangles[:, 0]]
    dots = np.einsum("ij,ij->i", tri_normals / np.linalg.norm(tri_normals, axis=1, keepdims=True), vertex_normals)
    assert (dots > 0.99).all()
    assert mesh.positions[:, 2].min() == 5.0 and mesh.positions[:, 2].max() == 17.0


def _corners(mesh, footprint) -> np.ndarray:  # type: ignore[no-untyped-def]
    enu = EnuFrame(footprint.centroid.x, footprint.centroid.y).from_geodetic(
        mesh.positions[:, 0], mesh.positions[:, 1], mesh.positions[:, 2])
    return enu[mesh.triangles]


def _area_m2(polygon: Polygon | MultiPolygon) -> float:
    from pyproj import Geod
    from shapely.geometry.polygon import orient

    parts = polygon.geoms if isinstance(polygon, MultiPolygon) else [polygon]
    return sum(Geod(ellps="WGS84").geometry_area_perimeter(orient(p))[0] for p in parts)


def test_extrusion_refuses_a_solid_without_height() -> None:
    with pytest.raises(ValueError, match="top > base"):
        extrude(_deg(box(0, 0, 1, 1)), 3.0, 3.0)
