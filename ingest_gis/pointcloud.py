"""LAS/LAZ (1.2–1.4, COPC) point clouds → a placed 3D Tiles 1.0 `pnts` pyramid built by py3dtiles.

We read the file with laspy, turn every point into metres of one east-north-up frame at the cloud (through its
CRS, see `las_crs`), check that each lands on the Earth, and write a plain LAS 1.4 file of those ENU metres with
classification and colours. py3dtiles tiles that file as it is (no CRS, no reprojection); its root transform is
then put under the frame's ENU→ECEF transform, which places the whole pyramid on the globe exactly. py3dtiles'
`pnts` output is used because its 3D Tiles 1.1 point GLBs fail validation. The result is read back like any
imported tileset (`tileset_import`).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import laspy
import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from ingest_gis.las_crs import PointCrs, resolve_point_crs
from ingest_gis.pointcloud_tiler import TilerJob, run_tiler, time_limit
from ingest_gis.records import IngestError, ProgressCallback, no_progress
from ingest_gis.tileset_import import TilesetImport, import_tileset
from tiles.geodesy import EnuFrame
from tiles.model import TileBounds

CHUNK = 1_000_000
LAS_SCALE = 0.001  # millimetres in the intermediate LAS
MAX_ENU_M = 2_000_000.0  # int32 millimetres reach ±2,147 km
HEIGHT_RANGE_M = (-12_000.0, 100_000.0)


@dataclass(frozen=True)
class PointCloudOptions:
    name: str
    crs: str | None = None
    timeout_s: float | None = None  # default: `time_limit(point count)`
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)


@dataclass
class PreparedCloud:
    """The ENU LAS written for py3dtiles and what was learnt reading the input."""

    las: Path
    frame: EnuFrame
    crs: PointCrs
    points: int = 0
    has_rgb: bool = False
    max_colour: int = 0
    lonlat_min: NDArray[np.float64] = field(default_factory=lambda: np.full(3, np.inf))
    lonlat_max: NDArray[np.float64] = field(default_factory=lambda: np.full(3, -np.inf))
    class_counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(256, dtype=np.int64))

    @property
    def classes(self) -> dict[int, int]:
        return {int(c): int(self.class_counts[c]) for c in np.flatnonzero(self.class_counts)}


@dataclass(frozen=True)
class PointCloudResult:
    imported: TilesetImport
    points: int
    crs: PointCrs
    classes: dict[int, int]
    has_rgb: bool
    frame: EnuFrame
    extent: tuple[float, float, float, float]  # lon/lat bounds of the points
    zmin: float
    zmax: float
    warnings: list[str]
    seconds: dict[str, float] = field(default_factory=dict)  # read (and place), tile, import

    def summary(self) -> dict[str, Any]:
        return {"points": self.points, "georef": self.crs.summary(), "rgb": self.has_rgb,
                "classes": {str(k): v for k, v in sorted(self.classes.items())},
                "frame": [self.frame.lon, self.frame.lat, self.frame.height]}


def _open(path: Path) -> laspy.LasReader:
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    try:
        return laspy.open(path)
    except Exception as exc:  # laspy raises its own and OS errors for broken headers
        raise IngestError(f"{path.name} is not a readable LAS/LAZ file: {exc}") from exc


def _geodetic(transformer: Transformer, crs: PointCrs, x: NDArray[np.float64], y: NDArray[np.float64],
              z: NDArray[np.float64], name: str) -> tuple[NDArray[np.float64], ...]:
    lon, lat = transformer.transform(x, y)
    height = z * crs.z_to_metres
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    bad |= ~((height > HEIGHT_RANGE_M[0]) & (height < HEIGHT_RANGE_M[1]))
    if bad.any():
        i = int(np.argmax(bad))
        raise IngestError(
            f"{name}: point ({x[i]:.3f}, {y[i]:.3f}, {z[i]:.3f}) in {crs.label} is not on the Earth "
            f"(→ lon {lon[i]:.6f}, lat {lat[i]:.6f}, height {height[i]:.1f} m); check the CRS"
            + (" or give the right one with --crs" if crs.source == "header" else ""))
    return np.asarray(lon), np.asarray(lat), height


class _Placer:
    """Points → lon/lat/height (checked) and ENU metres, split over threads (pyproj and numpy release the GIL)."""

    def __init__(self, crs: PointCrs, name: str, pool: ThreadPoolExecutor, parts: int) -> None:
        self.crs, self.name, self.pool, self.parts = crs, name, pool, parts
        self.local = threading.local()

    def _transformer(self) -> Transformer:
        found = getattr(self.local, "transformer", None)
        if found is None:  # a Transformer must not be shared between threads
            found = self.local.transformer = Transformer.from_crs(self.crs.horizontal, "EPSG:4326", always_xy=True)
        return found

    def _split(self, *arrays: NDArray[np.float64]) -> list[tuple[NDArray[np.float64], ...]]:
        parts = min(self.parts, max(1, len(arrays[0]) // 50_000))  # small chunks are not worth a thread
        bounds = np.linspace(0, len(arrays[0]), parts + 1).astype(int)
        return [tuple(a[i:j] for a in arrays) for i, j in itertools.pairwise(bounds) if j > i]

    def geodetic(self, x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], ...]:
        parts = self.pool.map(lambda p: _geodetic(self._transformer(), self.crs, p[0], p[1], p[2], self.name),
                              self._split(x, y, z))
        lon, lat, h = zip(*parts, strict=True)
        return np.concatenate(lon), np.concatenate(lat), np.concatenate(h)

    def enu(self, frame: EnuFrame, lon: NDArray[np.float64], lat: NDArray[np.float64], h: NDArray[np.float64]
            ) -> NDArray[np.float64]:
        return np.concatenate(list(self.pool.map(lambda p: frame.from_geodetic(*p), self._split(lon, lat, h))))


def _header(has_rgb: bool) -> laspy.LasHeader:
    header = laspy.LasHeader(point_format=7 if has_rgb else 6, version="1.4")
    header.scales = np.array([LAS_SCALE] * 3)
    header.offsets = np.zeros(3)
    return header


def prepare_points(path: str | Path, options: PointCloudOptions, work_dir: Path,
                   on_progress: ProgressCallback = no_progress) -> PreparedCloud:
    """Read, place and check every point; write them as ENU metres to a plain LAS in `work_dir`."""
    path = Path(path)
    with _open(path) as reader:
        header = reader.header
        total = int(header.point_count)
        if total == 0:
            raise IngestError(f"{path.name} holds no points")
        crs = resolve_point_crs(header, options.crs)
        dimensions = set(header.point_format.dimension_names)
        prepared: PreparedCloud | None = None
        writer: laspy.LasWriter | None = None
        pool = ThreadPoolExecutor(options.jobs, thread_name_prefix="citytwin-points")
        placer = _Placer(crs, path.name, pool, options.jobs)
        try:
            for chunk in reader.chunk_iterator(CHUNK):
                lon, lat, h = placer.geodetic(np.asarray(chunk.x), np.asarray(chunk.y), np.asarray(chunk.z))
                if prepared is None:
                    frame = EnuFrame(float(np.median(lon)), float(np.median(lat)), 0.0)
                    prepared = PreparedCloud(work_dir / "points.las", frame, crs,
                                             has_rgb={"red", "green", "blue"} <= dimensions)
                    writer = laspy.open(prepared.las, mode="w", header=_header(prepared.has_rgb))
                assert writer is not None
                _write_chunk(writer, prepared, chunk, lon, lat, h, placer.enu(prepared.frame, lon, lat, h),
                             path.name)
                on_progress("read", prepared.points, total)
        except IngestError:
            raise
        except Exception as exc:  # truncated or corrupt point data
            raise IngestError(f"{path.name}: cannot read its points ({exc})") from exc
        finally:
            pool.shutdown()
            if writer is not None:
                writer.close()
    if prepared is None or prepared.points != total:
        raise IngestError(f"{path.name}: the header announces {total} points but "
                          f"{prepared.points if prepared else 0} could be read")
    return prepared


def _write_chunk(writer: laspy.LasWriter, prepared: PreparedCloud, chunk: Any, lon: NDArray[np.float64],
                 lat: NDArray[np.float64], h: NDArray[np.float64], enu: NDArray[np.float64], name: str) -> None:
    if np.abs(enu).max() > MAX_ENU_M:
        raise IngestError(f"{name} spans more than {MAX_ENU_M / 1000:,.0f} km; split it into smaller files")
    points = laspy.ScaleAwarePointRecord.zeros(len(enu), header=writer.header)
    points.X = np.round(enu[:, 0] / LAS_SCALE).astype(np.int32)
    points.Y = np.round(enu[:, 1] / LAS_SCALE).astype(np.int32)
    points.Z = np.round(enu[:, 2] / LAS_SCALE).astype(np.int32)
    classification = np.asarray(chunk.classification, dtype=np.uint8)
    points.classification = classification
    points.intensity = np.asarray(chunk.intensity)
    if prepared.has_rgb:
        for colour in ("red", "green", "blue"):
            values = np.asarray(chunk[colour])
            points[colour] = values
            prepared.max_colour = max(prepared.max_colour, int(values.max()))
    writer.write_points(points)
    prepared.class_counts += np.bincount(classification, minlength=256)
    prepared.lonlat_min = np.minimum(prepared.lonlat_min, [lon.min(), lat.min(), h.min()])
    prepared.lonlat_max = np.maximum(prepared.lonlat_max, [lon.max(), lat.max(), h.max()])
    prepared.points += len(enu)


def _place_output(out: Path, frame: EnuFrame) -> None:
    """Put py3dtiles' root transform under the frame's ENU→ECEF transform; drop its creation time stamp."""
    path = out / "tileset.json"
    document = json.loads(path.read_bytes())
    root = document["root"]
    enu = np.asarray(frame.transform_matrix()).reshape(4, 4).T
    below = np.asarray(root.get("transform", np.eye(4).T.reshape(-1).tolist())).reshape(4, 4).T
    root["transform"] = [float(v) for v in (enu @ below).T.reshape(-1)]
    extras = (document.get("asset") or {}).get("extras") or {}
    extras.pop("created_date", None)
    path.write_text(json.dumps(document, separators=(",", ":")))


def tile_point_cloud(path: str | Path, options: PointCloudOptions, work_dir: Path,
                     on_progress: ProgressCallback = no_progress) -> PointCloudResult:
    """A LAS/LAZ file → stored-ready `pnts` tileset placed on the globe (working files go in `work_dir`)."""
    start = time.perf_counter()
    prepared = prepare_points(path, options, work_dir, on_progress)
    seconds = {"read": time.perf_counter() - start}
    warnings: list[str] = []
    colour_scale = None
    if prepared.has_rgb and prepared.max_colour == 0:
        prepared.has_rgb = False
        warnings.append("every colour is black: the points are stored without colours")
    elif prepared.has_rgb and prepared.max_colour < 256:
        colour_scale = 256.0  # 8-bit values in LAS' 16-bit colour fields
        warnings.append("colours are 8-bit values in 16-bit fields; they were read as 8-bit")
    out = work_dir / "tiles"
    on_progress("tile", 0, 1)
    job = TilerJob(str(prepared.las.resolve()), str(out.resolve()), rgb=prepared.has_rgb, color_scale=colour_scale,
                   extra_fields=["classification"], jobs=options.jobs)
    start = time.perf_counter()
    run_tiler(job, options.timeout_s or time_limit(prepared.points))
    prepared.las.unlink()
    _place_output(out, prepared.frame)
    on_progress("tile", 1, 1)
    seconds["tile"] = time.perf_counter() - start
    start = time.perf_counter()
    imported = import_tileset(out, on_progress=on_progress)
    seconds["import"] = time.perf_counter() - start
    low, high = prepared.lonlat_min, prepared.lonlat_max
    ring = ((low[0], low[1]), (high[0], low[1]), (high[0], high[1]), (low[0], high[1]), (low[0], low[1]))
    entries = imported.tileset.entries
    entries[0] = replace(entries[0], bounds=TileBounds(tuple((float(x), float(y)) for x, y in ring), float(low[2]),
                                                       float(high[2])))
    return PointCloudResult(imported, prepared.points, prepared.crs, prepared.classes, prepared.has_rgb,
                            prepared.frame, (float(low[0]), float(low[1]), float(high[0]), float(high[1])),
                            float(low[2]), float(high[2]), warnings, seconds)
