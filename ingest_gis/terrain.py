"""A DEM (GeoTIFF, or any single-band raster GDAL reads through rasterio) → heights on its own grid, where it lies
on the Earth, and a sampler from lon/lat for terrain tiles and ground heights.

- CRS: the file's, or `--crs` (which overrides it with a warning); a file with neither is refused. Any CRS pyproj
  knows works (UTM, US-feet state planes, geographic); points go lon/lat → the DEM's CRS with pyproj, always_xy.
- Heights are taken as metres above the ellipsoid, as every height in the twin (no geoid model is applied).
- Nodata (the declared value, NaN, or a mask): stored as NaN, so height queries answer from the cells that have
  data and a point among nodata cells only has none. For meshes the holes are filled with GDAL's inverse-distance
  fill (`rasterio.fill.fillnodata`, which smooths what it fills), so the terrain has no pits or cliffs at holes.
- Refused as not a DEM: rasters of several bands (imagery), palette or RGB images, rasters without any data,
  heights beyond what the Earth has (below −12,000 m or above 9,000 m), rotated grids (warp them north-up first)
  and rasters that do not lie on the Earth in their CRS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import Polygon

from ingest_gis.records import IngestError
from tiles.terrain.grid import GridFrame, array_lookup, bilinear

LOWEST_M, HIGHEST_M = -12_000.0, 9_000.0


@dataclass(frozen=True)
class TerrainOptions:
    name: str
    crs: str | None = None
    max_zoom: int | None = None


@dataclass
class Dem:
    """Heights (float32, NaN without data) on their grid, in their CRS."""

    heights: NDArray[np.float32]
    frame: GridFrame
    crs: CRS
    coverage: Polygon  # the grid's outline in lon/lat
    cell_m: float  # the smaller cell side, in metres on the ground
    nodata_cells: int
    warnings: list[str] = field(default_factory=list)

    @property
    def source_crs(self) -> str:
        return self.crs.to_string()

    def to_grid(self) -> Transformer:
        return Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)

    def sampler(self, filled: bool = True) -> DemSampler:
        return DemSampler(self.filled() if filled else self.heights, self.frame, self.to_grid())

    def filled(self) -> NDArray[np.float32]:
        """The heights with nodata holes filled (GDAL's inverse-distance fill), for meshes."""
        if not self.nodata_cells:
            return self.heights
        from rasterio.fill import fillnodata

        valid = np.isfinite(self.heights)
        out = fillnodata(np.where(valid, self.heights, 0).astype(np.float32), mask=valid.astype(np.uint8),
                         max_search_distance=float(max(self.heights.shape)), smoothing_iterations=0)
        return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class DemSampler:
    """Bilinear heights at lon/lat points; NaN outside the grid."""

    heights: NDArray[np.float32]
    frame: GridFrame
    transformer: Transformer

    def __call__(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if lon.size == 1:  # pyproj's point path would take a 1-element array as a scalar
            x, y = self.transformer.transform(lon.ravel().tolist(), lat.ravel().tolist())
            return bilinear(self.frame, array_lookup(self.heights), np.asarray(x), np.asarray(y)).reshape(lon.shape)
        x, y = self.transformer.transform(lon, lat)
        return bilinear(self.frame, array_lookup(self.heights), np.asarray(x), np.asarray(y))


def _crs(file_crs: object, option: str | None, warnings: list[str], name: str) -> CRS:
    if option:
        try:
            crs = CRS.from_user_input(int(option) if option.isdigit() else option)
        except CRSError as exc:
            raise IngestError(f"--crs {option!r} is not a CRS pyproj knows: {exc}") from exc
        if file_crs is not None and CRS.from_user_input(file_crs) != crs:
            warnings.append(f"--crs {crs.to_string()} overrides the file's own CRS")
        return crs
    if file_crs is None:
        raise IngestError(f"{name} has no CRS (no GeoTIFF CRS keys or .prj): pass --crs, e.g. --crs EPSG:25832")
    return CRS.from_user_input(file_crs)


def _outline(frame: GridFrame, crs: CRS, name: str) -> Polygon:
    """The grid's outer edge in lon/lat (edges densified so curved projections stay close)."""
    x0, y0, x1, y1 = frame.extent()
    t = np.linspace(0.0, 1.0, 33)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(33, x1), x1 - (x1 - x0) * t, np.full(33, x0)])
    ys = np.concatenate([np.full(33, y0), y0 + (y1 - y0) * t, np.full(33, y1), y1 - (y1 - y0) * t])
    with np.errstate(all="ignore"):
        lon, lat = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True).transform(xs, ys)
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all() and (np.abs(lon) <= 180).all()
            and (np.abs(lat) <= 90).all()):
        raise IngestError(f"{name} does not lie on the Earth in {crs.to_string()} (extent {x0:.1f},{y0:.1f} – "
                          f"{x1:.1f},{y1:.1f}): its CRS is wrong; pass the right one with --crs")
    outline = Polygon(np.column_stack([lon, lat]))
    return outline if outline.is_valid else shapely.make_valid(outline).envelope


def _cell_metres(frame: GridFrame, crs: CRS) -> float:
    """The smaller cell side on the ground, measured at the grid's centre."""
    x0, y0, x1, y1 = frame.extent()
    _, dx, _, _, _, dy = frame.geotransform
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    to_lonlat = Transformer.from_crs(crs, CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_lonlat.transform([cx, cx + abs(dx), cx], [cy, cy, cy + abs(dy)])
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    sides = [geod.inv(lon[0], lat[0], lon[i], lat[i])[2] for i in (1, 2)]
    return float(min(sides))


def read_dem(path: str | Path, options: TerrainOptions) -> Dem:
    """Open and check a DEM; raise `IngestError` with the reason when it cannot be a terrain."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import RasterioError

    path = Path(path)
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    warnings: list[str] = []
    try:
        with rasterio.open(path) as source:
            if source.count != 1:
                raise IngestError(f"{path.name} has {source.count} bands: a DEM has one band of heights "
                                  "(this looks like imagery)")
            if source.colorinterp[0] in (ColorInterp.palette, ColorInterp.red):
                raise IngestError(f"{path.name} is a {source.colorinterp[0].name} image, not a DEM of heights")
            if np.dtype(source.dtypes[0]).kind not in "iuf":
                raise IngestError(f"{path.name} holds {source.dtypes[0]} values, not heights")
            crs = _crs(source.crs, options.crs, warnings, path.name)
            t = source.transform
            try:
                frame = GridFrame((t.c, t.a, t.b, t.f, t.d, t.e), source.height, source.width)
            except ValueError as exc:
                raise IngestError(f"{path.name}: {exc}") from exc
            if source.width < 2 or source.height < 2:
                raise IngestError(f"{path.name} has {source.width} × {source.height} cells: a DEM needs at least 2 × 2")
            band = source.read(1, masked=True)
    except RasterioError as exc:
        raise IngestError(f"cannot read {path.name} as a raster (GeoTIFF): {exc}") from exc
    heights = np.ma.filled(band.astype(np.float32), np.nan)
    heights[~np.isfinite(heights)] = np.nan
    valid = np.isfinite(heights)
    if not valid.any():
        raise IngestError(f"{path.name} has no heights: every cell is nodata")
    low, high = float(heights[valid].min()), float(heights[valid].max())
    if low < LOWEST_M or high > HIGHEST_M:
        raise IngestError(f"{path.name} is not a DEM: its values run from {low:g} to {high:g}, beyond any height on "
                          "the Earth in metres (a wrong nodata value, or a raster of something else)")
    coverage = _outline(frame, crs, path.name)
    nodata = int((~valid).sum())
    if nodata:
        warnings.append(f"{nodata} of {heights.size} cells have no data: height queries there answer from the "
                        "cells around them, meshes fill them")
    if math.isclose(low, high):
        warnings.append(f"{path.name} is flat (every height {low:g} m)")
    return Dem(heights, frame, crs, coverage, _cell_metres(frame, crs), nodata, warnings)


def dem_from_array(heights: NDArray[np.floating], geotransform: tuple[float, float, float, float, float, float],
                   crs: str, name: str = "grid") -> Dem:
    """A DEM from heights held in memory (NaN without data), checked like a file."""
    grid = np.asarray(heights, dtype=np.float32)
    frame = GridFrame(geotransform, grid.shape[0], grid.shape[1])
    crs_value = CRS.from_user_input(crs)
    valid = np.isfinite(grid)
    return Dem(grid, frame, crs_value, _outline(frame, crs_value, name), _cell_metres(frame, crs_value),
               int((~valid).sum()))


def write_geotiff(path: str | Path, heights: NDArray[np.floating],
                  geotransform: tuple[float, float, float, float, float, float], crs: str,
                  nodata: float | None = None) -> Path:
    """Heights (rows north → south) as a single-band float32 GeoTIFF, deflate-compressed."""
    import rasterio
    from affine import Affine

    path = Path(path)
    grid = np.asarray(heights, dtype=np.float32)
    transform = Affine.from_gdal(*geotransform)
    with rasterio.open(path, "w", driver="GTiff", width=grid.shape[1], height=grid.shape[0], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata, compress="deflate") as out:
        out.write(grid, 1)
    return path
