"""Terrain: a DEM becomes quantized-mesh tiles within the mesh error, a `layer.json` Cesium reads, a height grid
answering /terrain/height, and bad DEMs are refused with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

from ingest_gis.footprints import FootprintOptions
from ingest_gis.records import IngestError
from ingest_gis.terrain import TerrainOptions, dem_from_array, read_dem, write_geotiff
from scenes.demo_terrain import demo_terrain, low_point
from tests.conftest import serving
from tests.helpers.data import shared_data
from tiles.terrain.pyramid import build_terrain
from tiles.terrain.quantized import QUANTIZED_MAX, decode_normals, read_tile
from tiles.terrain.scheme import mesh_error, tile_bounds
from twin.db import Database
from twin.ingest import ingest_footprints
from twin.settings import Settings
from twin.terrain.ingest import ingest_terrain
from twin.terrain.store import sample_heights
from twin.tilestore import FileTileStore

ACCEPT_CESIUM = "application/vnd.quantized-mesh;extensions=octvertexnormals,application/octet-stream;q=0.9,*/*;q=0.01"


def hills(cell: float = 10.0, size: int = 120) -> tuple[np.ndarray, tuple[float, ...]]:
    """A bumpy DEM in UTM 32N (rows north → south) with heights 90–130 m."""
    x0, y1 = 458_000.0, 5_438_800.0
    xs = x0 + (np.arange(size) + 0.5) * cell
    ys = y1 - (np.arange(size) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    z = 110 + 12 * np.sin((gx - x0) / 90) * np.cos((gy - y1) / 130) + 0.01 * (gx - x0)
    return z, (x0, cell, 0.0, y1, 0.0, -cell)


def mesh_heights_at(tile: object, bounds: tuple[float, ...], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Heights of a decoded tile's triangles at points, by barycentric interpolation on its own triangles."""
    decoded = tile  # a DecodedTile
    xy = decoded.lonlat(bounds)  # type: ignore[attr-defined]
    h = decoded.heights()  # type: ignore[attr-defined]
    tri = decoded.triangles  # type: ignore[attr-defined]
    a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    out = np.full(len(lon), np.nan)
    for i, (px, py) in enumerate(zip(lon, lat, strict=True)):
        l1 = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (py - a[:, 1])) / det
        l2 = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
        inside = np.flatnonzero((l1 >= -1e-9) & (l2 >= -1e-9) & (l1 + l2 <= 1 + 1e-9))
        if len(inside):
            t = inside[0]
            out[i] = (1 - l1[t] - l2[t]) * h[tri[t, 0]] + l1[t] * h[tri[t, 1]] + l2[t] * h[tri[t, 2]]
    return out


@pytest.fixture(scope="module")
def hills_layer() -> tuple[object, object]:
    z, gt = hills()
    dem = dem_from_array(z, gt, "EPSG:25832")  # type: ignore[arg-type]
    return dem, build_terrain(dem.sampler(), dem.coverage.bounds, 14, name="hills")


def test_tiles_decode_to_meshes_within_the_mesh_error_of_the_dem(hills_layer: tuple[object, object]) -> None:
    from tiles.terrain.mesh import sample_grid

    dem, layer = hills_layer
    west, south, east, north = dem.coverage.bounds  # type: ignore[attr-defined]
    rng = np.random.default_rng(3)
    checked = 0
    for entry in layer.entries[1:]:  # type: ignore[attr-defined]
        level, x, y = (int(p) for p in entry.path.removesuffix(".terrain").split("/"))
        if level < 12:
            continue
        bounds = tile_bounds(level, x, y)
        step = (bounds[2] - bounds[0]) / 64
        decoded = read_tile(entry.content)
        quantum = (decoded.max_height - decoded.min_height) / QUANTIZED_MAX
        grid_lon, grid_lat = (a.ravel() for a in sample_grid(bounds, 65))
        lon = np.concatenate([grid_lon, rng.uniform(bounds[0], bounds[2], 100)])
        lat = np.concatenate([grid_lat, rng.uniform(bounds[1], bounds[3], 100)])
        inside = (lon > west + 2 * step) & (lon < east - 2 * step) & (lat > south + 2 * step) & (lat < north - 2 * step)
        if not inside.any():
            continue
        expected = dem.sampler()(lon[inside], lat[inside])  # type: ignore[attr-defined]
        got = mesh_heights_at(decoded, bounds, lon[inside], lat[inside])
        on_samples = inside[: len(grid_lon)].sum()
        # at the tile's samples delatin's bound holds; between them (max zoom only) the DEM bends a little more
        assert np.abs(got - expected)[:on_samples].max() <= mesh_error(level) + quantum + 1e-3, entry.path
        if level == 14:
            assert np.abs(got - expected).max() <= mesh_error(level) + quantum + 0.25, entry.path
        checked += int(inside.sum())
    assert checked > 5000


def test_every_tile_has_skirt_edges_and_upward_oct_encoded_normals(hills_layer: tuple[object, object]) -> None:
    dem, layer = hills_layer
    west, south, east, north = dem.coverage.bounds  # type: ignore[attr-defined]
    for entry in layer.entries[1:]:  # type: ignore[attr-defined]
        decoded = read_tile(entry.content)
        assert all(len(edge) >= 2 for edge in decoded.edges.values()), entry.path
        assert (decoded.u[decoded.edges["west"]] == 0).all() and (decoded.v[decoded.edges["north"]] == 32767).all()
        normals = decode_normals(decoded.extensions[1])
        assert len(normals) == len(decoded.u)
        level, x, y = (int(p) for p in entry.path.removesuffix(".terrain").split("/"))
        if level >= 10:  # on the hills (not at the step down to 0 m around them) the normals point up
            bounds = tile_bounds(level, x, y)
            lonlat = decoded.lonlat(bounds)
            margin = 2 * (bounds[2] - bounds[0]) / 64
            on_hills = (lonlat[:, 0] > west + margin) & (lonlat[:, 0] < east - margin) & \
                (lonlat[:, 1] > south + margin) & (lonlat[:, 1] < north - margin)
            lon, lat = np.radians(lonlat[on_hills, 0]), np.radians(lonlat[on_hills, 1])
            up = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
            assert (np.sum(normals[on_hills] * up, axis=1) > 0.95).all(), entry.path


def test_layer_json_is_what_cesium_terrain_provider_reads(hills_layer: tuple[object, object]) -> None:
    _, layer = hills_layer
    document = orjson.loads(layer.entries[0].content)  # type: ignore[attr-defined]
    assert document["format"] == "quantized-mesh-1.0" and document["scheme"] == "tms"
    assert document["projection"] == "EPSG:4326" and document["extensions"] == ["octvertexnormals"]
    assert document["tiles"] == ["{z}/{x}/{y}.terrain?v={version}"] and document["maxzoom"] == 14
    assert document["available"][0] == [{"startX": 0, "startY": 0, "endX": 1, "endY": 0}]
    listed = {(z, x, y) for z, ranges in enumerate(document["available"]) for r in ranges
              for x in range(r["startX"], r["endX"] + 1) for y in range(r["startY"], r["endY"] + 1)}
    present = {tuple(int(p) for p in e.path.removesuffix(".terrain").split("/"))
               for e in layer.entries[1:]}  # type: ignore[attr-defined]
    assert listed == present


@pytest.fixture
def hills_tif(tmp_path: Path) -> Path:
    z, gt = hills()
    z[40:44, 50:53] = -9999.0  # a hole of nodata
    return write_geotiff(tmp_path / "hills.tif", z, gt, "EPSG:25832", nodata=-9999.0)  # type: ignore[arg-type]


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[httpx.Client]:
    with serving(settings, Database(engine)) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def test_an_ingested_dem_is_served_as_terrain_with_etags_and_its_heights(engine: Engine, hills_tif: Path,
                                                                          served: httpx.Client) -> None:
    summary = ingest_terrain(engine, hills_tif, TerrainOptions("hills"))
    assert summary["nodata_cells"] == 12 and summary["max_zoom"] == 15 and summary["tiles"] > 20
    assert "terrain" not in {t["kind"] for t in served.get("/tilesets").json()}
    listed = served.get("/terrain").json()
    assert [t["id"] for t in listed] == ["hills"] and listed[0]["layer_url"] == "/tilesets/hills/layer.json"

    layer = served.get("/tilesets/hills/layer.json")
    assert layer.status_code == 200 and layer.headers["cache-control"].endswith("must-revalidate")
    with engine.connect() as conn:
        path = conn.execute(text("SELECT path FROM tiles WHERE tileset_id = 'hills' AND level = 15 "
                                 "ORDER BY size_bytes DESC LIMIT 1")).scalar_one()
    full = served.get(f"/tilesets/hills/{path}?v=1", headers={"Accept": ACCEPT_CESIUM})
    assert full.status_code == 200 and full.headers["content-type"] == "application/vnd.quantized-mesh"
    assert 1 in read_tile(full.content).extensions and "Accept" in full.headers["vary"]
    again = served.get(f"/tilesets/hills/{path}", headers={"Accept": ACCEPT_CESIUM,
                                                           "If-None-Match": full.headers["etag"]})
    assert again.status_code == 304
    plain = served.get(f"/tilesets/hills/{path}", headers={"Accept": "application/vnd.quantized-mesh"})
    assert plain.status_code == 200 and not read_tile(plain.content).extensions
    assert plain.headers["etag"] != full.headers["etag"]
    assert plain.content == full.content[: len(plain.content)]

    dem = read_dem(hills_tif, TerrainOptions("x"))
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform([458_105.0, 458_555.0, 458_777.0], [5_438_695.0, 5_438_305.0, 5_438_001.0])
    expected = dem.sampler(filled=False)(np.asarray(lon), np.asarray(lat))
    one = served.get("/terrain/height", params={"lon": lon[0], "lat": lat[0]}).json()
    assert one["terrain"] == "hills" and one["height"] == pytest.approx(expected[0], abs=1e-3)
    # (458105, 5438695) is the centre of cell (row 10, col 10): its own value exactly
    assert one["height"] == pytest.approx(float(hills()[0][10, 10]), abs=1e-3)
    many = served.post("/terrain/heights", json={"points": [[lon[1], lat[1]], [lon[2], lat[2]], [0.0, 0.0]]}).json()
    assert many["heights"][:2] == pytest.approx(list(expected[1:]), abs=1e-3) and many["heights"][2] is None

    assert served.get("/terrain/height", params={"lon": 0, "lat": 0}).status_code == 404
    assert served.get("/terrain/height", params={"lon": 200, "lat": 0}).status_code == 422
    assert served.get("/terrain/height", params={"lon": "nan", "lat": 0}).status_code == 422
    assert served.get("/terrain/height", params={"lon": 8, "lat": 49, "terrain": "nope"}).status_code == 404
    assert served.post("/terrain/heights", json={"points": []}).status_code == 422
    assert served.post("/terrain/heights", json={"points": [[1, 95]]}).status_code == 422


def test_a_hole_of_nodata_answers_from_its_edges_and_its_middle_has_no_height(engine: Engine, hills_tif: Path) -> None:
    ingest_terrain(engine, hills_tif, TerrainOptions("hills", max_zoom=12))
    to_lonlat = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    middle = to_lonlat.transform(458_000 + 51.5 * 10, 5_438_800 - 41.5 * 10)  # between four nodata centres
    heights, _ = sample_heights(engine, [middle[0]], [middle[1]])
    assert np.isnan(heights[0])


def test_footprints_on_the_ground_stand_on_the_terrain_at_their_lowest_corner(engine: Engine, tmp_path: Path) -> None:
    terrain = demo_terrain(cell_m=4.0)
    tif = write_geotiff(tmp_path / "demo.tif", terrain.heights, terrain.geotransform, terrain.crs)
    ingest_terrain(engine, tif, TerrainOptions("ground", max_zoom=15))
    lon, lat = low_point()
    d = 0.0002
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    layer = {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "b1", "properties": {"height": 10},
                                                        "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    path = tmp_path / "b.geojson"
    path.write_bytes(orjson.dumps(layer))
    ingest_footprints(engine, path, FootprintOptions("houses"), ground="terrain")
    with engine.connect() as conn:
        zmin, zmax = conn.execute(text("SELECT zmin, zmax FROM twin_objects WHERE id = 'houses.b1'")).one()
    corners, _ = sample_heights(engine, [p[0] for p in ring], [p[1] for p in ring])
    assert zmin == pytest.approx(corners.min(), abs=1e-6) and zmax - zmin == pytest.approx(10)
    assert -3.6 < zmin < -2.0  # in the basin


def test_ground_terrain_without_a_terrain_is_refused(engine: Engine) -> None:
    with pytest.raises(IngestError, match="ingest terrain"):
        ingest_footprints(engine, shared_data("gis/osm_nyc_ridgewood_buildings.geojson"), FootprintOptions("nyc"),
                          ground="terrain")


def test_terrain_tiles_go_to_the_file_store_with_the_index_in_postgis(engine: Engine, hills_tif: Path,
                                                                      tmp_path: Path) -> None:
    store = FileTileStore(tmp_path / "tiles")
    ingest_terrain(engine, hills_tif, TerrainOptions("hills", max_zoom=11), store=store)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT storage_key FROM tiles WHERE tileset_id = 'hills'")).scalars().all()
    assert keys and all(k and (tmp_path / "tiles" / k).is_file() for k in keys)


def _nothing_stored(engine: Engine) -> None:
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("datasets", "tiles", "terrain_grids", "terrain_blocks")]
    assert counts == [0, 0, 0, 0]


def test_bad_dems_are_refused_with_the_reason_and_nothing_is_stored(engine: Engine, tmp_path: Path) -> None:
    import rasterio
    from affine import Affine

    z, gt = hills()
    no_crs = tmp_path / "no-crs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=120, height=120, count=1, dtype="float32",
                       transform=Affine.from_gdal(*gt)) as out:
        out.write(z.astype(np.float32), 1)
    rgb = tmp_path / "photo.tif"
    with rasterio.open(rgb, "w", driver="GTiff", width=120, height=120, count=3, dtype="uint8", crs="EPSG:25832",
                       transform=Affine.from_gdal(*gt)) as out:
        out.write(np.zeros((3, 120, 120), np.uint8))
    not_heights = write_geotiff(tmp_path / "counts.tif", z * 1000, gt, "EPSG:25832")  # type: ignore[arg-type]
    wrong_crs = write_geotiff(tmp_path / "wrong.tif", z, gt, "EPSG:4326")  # type: ignore[arg-type]
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(write_geotiff(tmp_path / "ok.tif", z, gt, "EPSG:25832").read_bytes()[:900])  # type: ignore[arg-type]
    cases = {no_crs: "has no CRS", rgb: "3 bands", not_heights: "is not a DEM", wrong_crs: "does not lie on the Earth",
             corrupt: "cannot read", tmp_path / "missing.tif": "no such file"}
    for path, reason in cases.items():
        with pytest.raises(IngestError, match=reason):
            ingest_terrain(engine, path, TerrainOptions("bad"))
    _nothing_stored(engine)
    summary = ingest_terrain(engine, no_crs, TerrainOptions("fixed", max_zoom=10, crs="EPSG:25832"))
    assert summary["source_crs"] == "EPSG:25832"


@pytest.mark.parametrize(("relative", "crs", "bbox"), [
    ("terrain/srtm_bigtujunga30m_utm11.tif", "EPSG:32611", (-118.3457, 34.2314, -117.9531, 34.4090)),
    ("networks/ky4_elevation.tif", "EPSG:3547", (-85.6815, 37.9993, -85.4958, 38.1000)),
])
def test_real_dems_land_where_they_are_and_answer_their_own_cells(engine: Engine, relative: str, crs: str,
                                                                 bbox: tuple[float, ...]) -> None:
    import rasterio

    path = shared_data(relative)
    summary = ingest_terrain(engine, path, TerrainOptions("real"))
    assert summary["source_crs"] == crs and summary["max_zoom"] == 14
    with engine.connect() as conn:
        extent = conn.execute(text("SELECT ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent) "
                                   "FROM datasets WHERE id = 'real'")).one()
    assert extent == pytest.approx(bbox, abs=2e-3)
    with rasterio.open(path) as source:
        band = source.read(1)
        rows, cols = np.array([5, 200, 390]), np.array([7, 300, 560])
        xs, ys = rasterio.transform.xy(source.transform, rows, cols)
        lon, lat = Transformer.from_crs(source.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    heights, answered = sample_heights(engine, lon, lat)
    assert heights == pytest.approx(band[rows, cols].astype(float), abs=1e-3) and set(answered) == {"real"}
