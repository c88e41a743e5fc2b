"""Terrain: a generated DEM of 10,000 × 10,000 cells (default) → Cesium quantized-mesh terrain tiles, against the
encoder alone, in one run.

The DEM: 10 m cells in ETRS89 / UTM 32N (a 100 km square), hills of several wavelengths (5 km down to 60 m,
amplitudes falling with them, fixed phases), written as a deflate GeoTIFF (untimed).

  (a) our path: `read_dem` of the GeoTIFF (rasterio) and `build_terrain` over its coverage down to the level its
      cells call for — per tile the 65 × 65 sample grid lon/lat → UTM and bilinear, pydelatin to the level's mesh
      error, u/v/h quantised in float64, the quantized-mesh writers with vertex normals — every tile in memory,
      what `citytwin ingest terrain` does before it stores;
  (b) the limit: the same tiles' height grids (sampled beforehand, untimed) given straight to pydelatin and to
      quantized-mesh-encoder's own `encode` with its vertex normals extension, on as many threads as (a) uses,
      and nothing else;
  (c) with `--store`: the whole `ingest terrain` from the same file into PostGIS (tiles and the height grid, one
      transaction), in an embedded cluster in a temporary folder (or `CITYTWIN_DATABASE_URL`).

Each row: seconds, DEM cells per second, tiles, bytes (and bytes per cell), and (a) ÷ (b). `--quick` (1,000 ×
1,000 cells) is the smoke run `tests/test_bench_terrain.py` makes.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import quantized_mesh_encoder
from numpy.typing import NDArray
from pydelatin import Delatin
from quantized_mesh_encoder.extensions import VertexNormalsExtension

from ingest_gis.terrain import Dem, TerrainOptions, read_dem, write_geotiff
from tiles.terrain.mesh import sample_grid
from tiles.terrain.pyramid import THREADS, build_terrain
from tiles.terrain.scheme import TILE_SAMPLES, max_zoom_for_cell, mesh_error, tile_bounds, tiles_covering

CRS = "EPSG:25832"
CELL_M = 10.0
ORIGIN = (400_000.0, 5_550_000.0)  # west, north (UTM metres)
WAVES = ((5000.0, 120.0), (1700.0, 45.0), (600.0, 16.0), (230.0, 6.0), (60.0, 1.5))  # wavelength m, amplitude m


@dataclass(frozen=True)
class Options:
    cells: int = 10_000
    store: bool = False


@dataclass(frozen=True)
class Row:
    name: str
    seconds: float
    tiles: int
    bytes: int
    limit: bool = False


@dataclass(frozen=True)
class Report:
    cells: int
    max_zoom: int
    rows: list[Row]


def generate_dem(cells: int, cell_m: float = CELL_M) -> tuple[NDArray[np.float32], tuple[float, ...]]:
    """Heights (rows north → south, float32) and the GDAL geotransform of the generated hills."""
    x0, y1 = ORIGIN
    xs = (np.arange(cells, dtype=np.float64) + 0.5) * cell_m
    heights = np.empty((cells, cells), dtype=np.float32)
    for start in range(0, cells, 500):  # rows in chunks: a float64 grid of 10,000² would take 800 MB at once
        ys = -(np.arange(start, min(start + 500, cells), dtype=np.float64) + 0.5) * cell_m
        gx, gy = np.meshgrid(xs, ys)
        z = np.full(gx.shape, 400.0)
        for k, (wavelength, amplitude) in enumerate(WAVES):
            angle = 0.7 * k + 0.3
            along = gx * math.cos(angle) + gy * math.sin(angle)
            across = -gx * math.sin(angle) + gy * math.cos(angle)
            z += amplitude * np.sin(2 * math.pi * along / wavelength + k) * np.cos(2 * math.pi * across /
                                                                                 (1.3 * wavelength))
        heights[start : start + len(ys)] = z
    return heights, (x0, cell_m, 0.0, y1, 0.0, -cell_m)


def tile_keys(dem: Dem, max_zoom: int) -> list[tuple[int, int, int]]:
    bounds = dem.coverage.bounds
    return [(level, x, y) for level in range(max_zoom + 1) for x, y in tiles_covering(level, bounds).tiles()]


def sampled_grids(dem: Dem, keys: list[tuple[int, int, int]], threads: int) -> NDArray[np.float32]:
    """Every tile's 65 × 65 heights as our path samples them (0 m outside the DEM), for the limit."""
    sample = dem.sampler()

    def one(key: tuple[int, int, int]) -> NDArray[np.float32]:
        lon, lat = sample_grid(tile_bounds(*key), TILE_SAMPLES)
        heights = np.asarray(sample(lon, lat), dtype=np.float64).reshape(lon.shape)
        return np.nan_to_num(heights, nan=0.0).astype(np.float32)

    out = np.empty((len(keys), TILE_SAMPLES, TILE_SAMPLES), dtype=np.float32)
    with ThreadPoolExecutor(threads) as pool:
        for i, grid in enumerate(pool.map(one, keys)):
            out[i] = grid
    return out


def encoder_alone(grid: NDArray[np.float32], key: tuple[int, int, int]) -> int:
    """pydelatin and quantized-mesh-encoder on one tile's heights; the tile's byte count."""
    level = key[0]
    west, south, east, north = tile_bounds(*key)
    tin = Delatin(grid, max_error=mesh_error(level))
    vertices, triangles = tin.vertices, tin.triangles.astype(np.uint32)
    last = TILE_SAMPLES - 1
    positions = np.column_stack([west + vertices[:, 0] / last * (east - west),
                                 south + vertices[:, 1] / last * (north - south), vertices[:, 2]])
    out = io.BytesIO()
    with np.errstate(divide="ignore", invalid="ignore"):  # level 0–1 tiles have no finite occlusion point
        quantized_mesh_encoder.encode(out, positions, triangles, bounds=(west, south, east, north),
                                      extensions=[VertexNormalsExtension(indices=triangles, positions=positions)])
    return out.getbuffer().nbytes


def measure_limit(grids: NDArray[np.float32], keys: list[tuple[int, int, int]], threads: int) -> Row:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        sizes = list(pool.map(encoder_alone, grids, keys))
    return Row("(b) pydelatin + quantized-mesh-encoder alone", time.perf_counter() - start, len(keys), sum(sizes),
               limit=True)


def measure_ours(path: Path) -> tuple[Row, Dem, int]:
    start = time.perf_counter()
    dem = read_dem(path, TerrainOptions("bench"))
    max_zoom = max_zoom_for_cell(dem.cell_m)
    layer = build_terrain(dem.sampler(), dem.coverage.bounds, max_zoom, name="bench")
    seconds = time.perf_counter() - start
    tiles = [e for e in layer.entries if e.path.endswith(".terrain")]
    return Row("(a) our read_dem + build_terrain", seconds, len(tiles), sum(len(e.content) for e in tiles)), dem, \
        max_zoom


def measure_store(path: Path, folder: Path) -> Row:
    from twin.db import open_database
    from twin.settings import Settings
    from twin.terrain.ingest import ingest_terrain

    database = open_database(Settings(data_dir=folder / "data"))
    try:
        start = time.perf_counter()
        summary = ingest_terrain(database.engine, path, TerrainOptions("bench"))
        seconds = time.perf_counter() - start
    finally:
        database.close()
    return Row("(c) ingest terrain into PostGIS", seconds, summary["tiles"], summary["bytes"])


def run(options: Options) -> Report:
    threads = max(1, min(THREADS, os.cpu_count() or 1))  # as build_terrain's pool
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-terrain-") as tmp:
        start = time.perf_counter()
        heights, geotransform = generate_dem(options.cells)
        path = write_geotiff(Path(tmp) / "dem.tif", heights, geotransform, CRS)  # type: ignore[arg-type]
        del heights
        print(f"DEM: {options.cells:,} × {options.cells:,} cells of {CELL_M:g} m ({CRS}), GeoTIFF "
              f"{path.stat().st_size / 1e6:.0f} MB, generated in {time.perf_counter() - start:.1f} s")
        ours, dem, max_zoom = measure_ours(path)
        keys = tile_keys(dem, max_zoom)
        start = time.perf_counter()
        grids = sampled_grids(dem, keys, threads)
        print(f"the limit's inputs: {len(keys):,} tile grids sampled in {time.perf_counter() - start:.1f} s "
              "(untimed)")
        del dem
        rows = [ours, measure_limit(grids, keys, threads)]
        del grids
        if options.store:
            rows.append(measure_store(path, Path(tmp)))
    return Report(options.cells**2, max_zoom, rows)


def print_report(report: Report) -> None:
    limit = next(r for r in report.rows if r.limit)
    print(f"terrain tiles of levels 0–{report.max_zoom} from {report.cells:,} cells")
    print(f"{'':<48}{'seconds':>9}{'cells/s':>13}{'tiles':>9}{'MB':>9}{'B/cell':>8}{'÷ (b)':>8}")
    for row in report.rows:
        print(f"{row.name:<48}{row.seconds:>9.2f}{report.cells / row.seconds:>13,.0f}{row.tiles:>9,}"
              f"{row.bytes / 1e6:>9.1f}{row.bytes / report.cells:>8.3f}{row.seconds / limit.seconds:>7.2f}×")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=10_000, help="cells along each side (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 × 1,000 cells: the smoke run")
    parser.add_argument("--store", action="store_true", help="also time the whole ingest into PostGIS")
    args = parser.parse_args(argv)
    print_report(run(Options(cells=1_000 if args.quick else args.cells, store=args.store)))
