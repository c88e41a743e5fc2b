"""The DEM grid in PostGIS and heights read from it.

A terrain dataset keeps its DEM as it came, in its own CRS: one `terrain_grids` row (geotransform, size, CRS WKT,
height range, lon/lat coverage) and the heights in blocks of 256 × 256 cells (`terrain_blocks`, zlib-compressed
little-endian float32, NaN without data). A height query transforms its points into the DEM's CRS, reads only
the blocks holding their four neighbouring cells (decoded blocks are kept in a small per-process cache keyed by
the grid's creation time, so a re-ingested terrain is never answered from old blocks) and interpolates
bilinearly (`tiles.terrain.grid.bilinear`). Several terrains: each point is answered by the newest terrain
whose grid holds data there.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from sqlalchemy import Connection, Engine, text

from ingest_gis.terrain import Dem
from tiles.terrain.grid import GridFrame, bilinear

BLOCK = 256
CACHED_BLOCKS = 64  # ≈ 16 MiB of decoded blocks per process


@dataclass(frozen=True)
class StoredGrid:
    dataset_id: str
    frame: GridFrame
    crs_wkt: str
    block: int
    created_at: datetime


def write_grid(conn: Connection, dataset_id: str, dem: Dem) -> None:
    """Store the DEM's grid and its blocks in the caller's transaction."""
    heights = dem.heights
    valid = heights[np.isfinite(heights)]
    conn.execute(text(
        "INSERT INTO terrain_grids (dataset_id, crs_wkt, geotransform, width, height, block_size, zmin, zmax, "
        "coverage) VALUES (:d, :wkt, :gt, :w, :h, :b, :zmin, :zmax, ST_GeomFromText(:coverage, 4326))"),
        {"d": dataset_id, "wkt": dem.crs.to_wkt(), "gt": list(dem.frame.geotransform), "w": dem.frame.cols,
         "h": dem.frame.rows, "b": BLOCK, "zmin": float(valid.min()), "zmax": float(valid.max()),
         "coverage": shapely.to_wkt(dem.coverage)})
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(
            "COPY terrain_blocks (dataset_id, block_row, block_col, rows, cols, heights) FROM STDIN") as copy:
        for r in range(0, dem.frame.rows, BLOCK):
            for c in range(0, dem.frame.cols, BLOCK):
                part = np.ascontiguousarray(heights[r : r + BLOCK, c : c + BLOCK], dtype="<f4")
                copy.write_row((dataset_id, r // BLOCK, c // BLOCK, part.shape[0], part.shape[1],
                                zlib.compress(part.tobytes(), 6)))


class _BlockCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.blocks: OrderedDict[tuple[str, datetime, int, int], NDArray[np.float32]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, datetime, int, int]) -> NDArray[np.float32] | None:
        with self.lock:
            found = self.blocks.get(key)
            if found is not None:
                self.blocks.move_to_end(key)
            return found

    def put(self, key: tuple[str, datetime, int, int], value: NDArray[np.float32]) -> None:
        with self.lock:
            self.blocks[key] = value
            while len(self.blocks) > self.size:
                self.blocks.popitem(last=False)


_CACHE = _BlockCache(CACHED_BLOCKS)


def grids(conn: Connection, dataset: str | None = None) -> list[StoredGrid]:
    """The stored grids, newest first (only `dataset`'s when given)."""
    rows = conn.execute(text(
        "SELECT dataset_id, crs_wkt, geotransform, width, height, block_size, created_at FROM terrain_grids "
        "WHERE CAST(:d AS text) IS NULL OR dataset_id = :d ORDER BY created_at DESC, dataset_id"),
        {"d": dataset}).all()
    return [StoredGrid(r.dataset_id, GridFrame(tuple(r.geotransform), r.height, r.width), r.crs_wkt, r.block_size,
                       r.created_at) for r in rows]


def _sample_grid(conn: Connection, grid: StoredGrid, lon: NDArray[np.float64], lat: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
    to_grid = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(grid.crs_wkt), always_xy=True)
    with np.errstate(all="ignore"):  # one point as lists: pyproj's point path would take a 1-element array
        x, y = to_grid.transform(lon.tolist(), lat.tolist()) if lon.size == 1 else to_grid.transform(lon, lat)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    row, col = grid.frame.cell_position(x, y)
    near = np.isfinite(row) & np.isfinite(col) & (row >= -1) & (row <= grid.frame.rows) & (col >= -1) & \
        (col <= grid.frame.cols)
    if not near.any():
        return np.full(lon.shape, np.nan)
    r = np.clip(np.floor(row[near]).astype(np.int64), 0, grid.frame.rows - 1)
    c = np.clip(np.floor(col[near]).astype(np.int64), 0, grid.frame.cols - 1)
    wanted = {(int(a), int(b)) for rr, cc in ((r, c), (r + 1, c + 1), (r, c + 1), (r + 1, c))
              for a, b in zip(np.minimum(rr, grid.frame.rows - 1) // grid.block,
                              np.minimum(cc, grid.frame.cols - 1) // grid.block, strict=True)}
    blocks = _blocks(conn, grid, sorted(wanted))

    def lookup(rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        out = np.full(rows.shape, np.nan)
        keys = (rows // grid.block) * 1_000_003 + cols // grid.block
        for key in np.unique(keys):
            mask = keys == key
            block = blocks.get((int(key) // 1_000_003, int(key) % 1_000_003))
            if block is not None:
                out[mask] = block[rows[mask] % grid.block, cols[mask] % grid.block]
        return out

    return bilinear(grid.frame, lookup, x, y)


def _blocks(conn: Connection, grid: StoredGrid, keys: Sequence[tuple[int, int]]
            ) -> dict[tuple[int, int], NDArray[np.float32]]:
    found: dict[tuple[int, int], NDArray[np.float32]] = {}
    missing = []
    for key in keys:
        block = _CACHE.get((grid.dataset_id, grid.created_at, *key))
        if block is None:
            missing.append(key)
        else:
            found[key] = block
    if missing:
        rows = conn.execute(text(
            "SELECT b.block_row, b.block_col, b.rows, b.cols, b.heights FROM terrain_blocks b "
            "JOIN unnest(CAST(:r AS int[]), CAST(:c AS int[])) AS k(r, c) ON b.block_row = k.r AND b.block_col = k.c "
            "WHERE b.dataset_id = :d"),
            {"d": grid.dataset_id, "r": [k[0] for k in missing], "c": [k[1] for k in missing]}).all()
        for row in rows:
            block = np.frombuffer(zlib.decompress(row.heights), dtype="<f4").reshape(row.rows, row.cols)
            found[(row.block_row, row.block_col)] = block
            _CACHE.put((grid.dataset_id, grid.created_at, row.block_row, row.block_col), block)
    return found


def sample_heights(target: Engine | Connection, lon: Sequence[float] | NDArray[np.float64],
                   lat: Sequence[float] | NDArray[np.float64], dataset: str | None = None
                   ) -> tuple[NDArray[np.float64], list[str | None]]:
    """Heights at lon/lat points and the terrain that answered each (None and NaN where none has data)."""
    lon_a, lat_a = np.asarray(lon, dtype=np.float64).ravel(), np.asarray(lat, dtype=np.float64).ravel()
    heights = np.full(lon_a.shape, np.nan)
    answered: list[str | None] = [None] * len(lon_a)
    if isinstance(target, Engine):
        with target.connect() as conn:
            return sample_heights(conn, lon_a, lat_a, dataset)
    for grid in grids(target, dataset):
        todo = np.flatnonzero(np.isnan(heights))
        if not len(todo):
            break
        values = _sample_grid(target, grid, lon_a[todo], lat_a[todo])
        for i in todo[np.isfinite(values)]:
            answered[int(i)] = grid.dataset_id
        heights[todo] = values
    return heights, answered
