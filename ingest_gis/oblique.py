"""Oblique photography (Smart3D / ContextCapture / DJI layout) → a textured LOD pyramid placed on the globe.

The input folder holds `metadata.xml` (`<SRS>`: an EPSG code, a WKT or `ENU:lat,lon`; `<SRSOrigin>x,y,z`) and
`Data/Tile_±xxx_±yyy/Tile_±xxx_±yyy.osgb` root files whose PagedLODs name finer files, or the same folders with
OBJ files (`Tile_…_L{level}_{path}.obj`, the path's prefix naming the parent). Every LOD node becomes one tile:
its geometry moved into the tileset's ENU frame (ENU sets: the frame at `lat,lon`; CRS sets: SRS origin + vertex
offsets reprojected with pyproj, heights taken as ellipsoidal) and written as a textured GLB; its geometric error
comes from the PagedLOD range (pixel size on screen, or distance) or, for OBJ, from its texel size.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from ingest_gis.osg_reader import IDENTITY, LodUnit, Matrix, MeshPart, SceneReader, read_scenes
from ingest_gis.records import IngestError, ProgressCallback, no_progress
from tiles.geodesy import EnuFrame
from tiles.glb import GlbContent
from tiles.textured import TexturedPart, TexturedTile, build_textured_glb

MAX_SSE = 16.0  # Cesium's default maximum screen-space error, in pixels
NOMINAL_K = 1080 / (2 * math.tan(math.radians(30)))  # pixels per radian-ish of a 1080-px, 60° screen
FILES_PER_RUN = 16  # files read by one osgconv process at most…
BYTES_PER_RUN = 16 << 20  # …and input bytes (images come back as base64 pixels, several times larger)
READERS = 2  # osgconv processes at a time
_ENU = re.compile(r"^ENU:\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*$")
_OBJ_NAME = re.compile(r"^(?P<tile>.+?)(?:_L(?P<level>\d+)_(?P<path>[0-9A-Za-z]+))?$")


@dataclass(frozen=True)
class Georef:
    """Where the input frame sits: the SRS as written, its origin, the tileset's ENU frame and a projection."""

    srs: str
    origin: tuple[float, float, float]
    frame: EnuFrame
    transformer: Transformer | None = None  # None for ENU sets: offsets are already ENU metres

    def to_enu(self, local: NDArray[np.float64]) -> NDArray[np.float64]:
        """Input-frame vertex offsets (m) → metres in the tileset's ENU frame."""
        points = local + np.asarray(self.origin)
        if self.transformer is None:
            return points
        lon, lat, h = self.transformer.transform(points[:, 0], points[:, 1], points[:, 2])
        if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat)) and np.all(np.isfinite(h))):
            raise IngestError(f"vertices do not project from {self.srs} to WGS84: is <SRSOrigin> in that SRS?")
        return self.frame.from_geodetic(np.asarray(lon), np.asarray(lat), np.asarray(h))

    def summary(self) -> dict[str, Any]:
        return {"srs": self.srs, "origin": list(self.origin),
                "frame": [self.frame.lon, self.frame.lat, self.frame.height]}


def _numbers(text: str, what: str, count: tuple[int, ...]) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError as exc:
        raise IngestError(f"metadata.xml: {what} {text!r} is not a list of numbers") from exc
    if len(values) not in count or not all(math.isfinite(v) for v in values):
        raise IngestError(f"metadata.xml: {what} {text!r} needs {' or '.join(map(str, count))} numbers")
    return values


def read_metadata(folder: Path) -> Georef:
    """Parse `metadata.xml` into a placement; every way it can be wrong is an IngestError."""
    path = folder / "metadata.xml"
    if not path.is_file():
        raise IngestError(f"{folder.name}: no metadata.xml — an oblique photography set (Smart3D/ContextCapture/"
                          "DJI layout) has one beside its Data folder, naming its SRS and origin")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise IngestError(f"metadata.xml is not well-formed XML: {exc}") from exc
    srs = (root.findtext(".//SRS") or "").strip()
    if not srs:
        raise IngestError("metadata.xml has no <SRS>: give an EPSG code, a WKT or ENU:lat,lon")
    x, y, *z = _numbers((root.findtext(".//SRSOrigin") or "0,0,0").strip(), "<SRSOrigin>", (2, 3))
    origin = (x, y, z[0] if z else 0.0)
    enu = _ENU.match(srs)
    if enu:
        lat, lon = float(enu.group(1)), float(enu.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise IngestError(f"metadata.xml: {srs!r} is not ENU:latitude,longitude in degrees")
        return Georef(srs, origin, EnuFrame(lon, lat, 0.0))
    if srs.upper().startswith("ENU"):
        raise IngestError(f"metadata.xml: {srs!r} is not ENU:latitude,longitude")
    try:
        crs = CRS.from_user_input(srs)
    except CRSError as exc:
        raise IngestError(f"metadata.xml: unknown SRS {srs!r} ({exc})") from exc
    if crs.is_geographic:
        raise IngestError(f"metadata.xml: SRS {srs!r} is geographic; vertex offsets must be metres "
                          "(a projected CRS, EPSG:4978 or ENU:lat,lon)")
    transformer = Transformer.from_crs(crs, CRS.from_epsg(4979), always_xy=True)
    lon, lat, _ = transformer.transform(x, y, origin[2])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise IngestError(f"metadata.xml: <SRSOrigin> {origin} is not a place in {srs}")
    return Georef(srs, origin, EnuFrame(round(lon, 9), round(lat, 9), 0.0), transformer)


@dataclass
class ObliqueResult:
    """The pyramid (top-level tiles in the tileset frame), where it is, and what happened on the way."""

    roots: list[TexturedTile]
    georef: Georef
    source_format: str
    files: int
    warnings: list[str] = field(default_factory=list)

    def tiles_per_level(self) -> list[int]:
        counts: dict[int, int] = {}
        for root in self.roots:
            for depth, tile in root.walk():
                if tile.content is not None:
                    counts[depth] = counts.get(depth, 0) + 1
        return [counts.get(d, 0) for d in range(max(counts, default=-1) + 1)]


def find_tiles(folder: Path) -> tuple[str, list[Path]]:
    """The input format and each tile folder's root file (`Data/Tile_x/Tile_x.osgb` or `.obj`)."""
    data = folder / "Data"
    if not data.is_dir():
        raise IngestError(f"{folder.name}: no Data folder beside metadata.xml (expected Data/Tile_±xxx_±yyy/…)")
    folders = sorted(p for p in data.iterdir() if p.is_dir())
    for suffix in (".osgb", ".obj"):
        roots = [f / f"{f.name}{suffix}" for f in folders if (f / f"{f.name}{suffix}").is_file()]
        if roots:
            return suffix[1:], roots
    raise IngestError(f"{folder.name}/Data holds no tile folders with a root file "
                      "(Data/Tile_±xxx_±yyy/Tile_±xxx_±yyy.osgb or .obj)")


def batches(paths: Sequence[Path]) -> list[list[Path]]:
    """Consecutive runs of files for one osgconv process each, bounded in count and in bytes."""
    runs: list[list[Path]] = []
    size = 0
    for path in paths:
        length = path.stat().st_size
        if not runs or len(runs[-1]) >= FILES_PER_RUN or (size + length > BYTES_PER_RUN and runs[-1]):
            runs.append([])
            size = 0
        runs[-1].append(path)
        size += length
    return runs


def texel_size(parts: Sequence[MeshPart]) -> float | None:
    """Metres per texel over the textured parts: √(surface area / texture area in texels)."""
    surface = texels = 0.0
    for part in parts:
        if part.texture is None or part.uvs is None:
            continue
        p = part.positions[part.triangles]
        t = part.uvs.astype(np.float64)[part.triangles]
        surface += float(np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1).sum()) / 2
        a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        uv = np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum() / 2
        texels += float(uv) * part.texture.width * part.texture.height
    return math.sqrt(surface / texels) if surface > 0 and texels > 0 else None


def _radius(parts: Sequence[MeshPart]) -> float:
    points = np.concatenate([p.positions for p in parts]) if parts else np.zeros((1, 3))
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0))) / 2


def unit_error(unit: LodUnit, parts: Sequence[MeshPart]) -> float:
    """Metres of error if this node is drawn instead of its children, so that Cesium refines where OSG would.

    OSG refines a PIXEL_SIZE_ON_SCREEN node when its bounding sphere is `pixel_size` pixels across, i.e. at the
    distance where 2r spans that many pixels; an error of 16·2r/pixel_size reaches 16 px at the same distance.
    Distance ranges use a 1080-pixel, 60° screen; without ranges, a texel on screen may grow to one pixel.
    """
    if unit.pixel_size and unit.pixel_size > 0:
        return MAX_SSE * 2 * (unit.radius or _radius(parts)) / unit.pixel_size
    if unit.distance and unit.distance > 0 and math.isfinite(unit.distance):
        return MAX_SSE * unit.distance / NOMINAL_K
    texel = texel_size(parts)
    return MAX_SSE * texel if texel else _radius(parts) / 2


def _extent(tile: TexturedTile) -> NDArray[np.float64] | None:
    boxes = [np.concatenate([t.content.enu_min, t.content.enu_max]) for _, t in tile.walk() if t.content]
    return np.array([*np.min(boxes, axis=0)[:3], *np.max(boxes, axis=0)[3:]]) if boxes else None


def fill_errors(tile: TexturedTile) -> float:
    """Give inner tiles whose input says nothing usable (no inline geometry, no ranges) an error that refines:
    twice their children's, or a quarter of what they span when the children are leaves."""
    below = [fill_errors(child) for child in tile.children]
    if below and not (math.isfinite(tile.geometric_error) and tile.geometric_error > 0):
        extent = _extent(tile)
        span = float(np.linalg.norm(extent[3:5] - extent[:2])) if extent is not None else 1.0
        tile.geometric_error = max(2 * max(below), span / 4, 0.01)
    return tile.geometric_error


class _Pyramid:
    """Reads files level by level (a few osgconv runs at a time) and links their units into tiles."""

    def __init__(self, folder: Path, georef: Georef, on_progress: ProgressCallback, total: int) -> None:
        self.folder, self.georef, self.on_progress, self.total = folder, georef, on_progress, total
        self.reader = SceneReader()
        self.files = 0
        self.missing: list[Path] = []

    def content(self, parts: Sequence[MeshPart]) -> GlbContent | None:
        placed = [TexturedPart(self.georef.to_enu(p.positions), p.uvs, p.triangles, p.texture) for p in parts]
        return build_textured_glb(placed) if placed else None

    def tile(self, unit: LodUnit, has_children: bool) -> TexturedTile:
        error = unit_error(unit, unit.parts) if has_children else 0.0
        tile = TexturedTile(self.content(unit.parts), error)
        tile.children = [self.tile(n, bool(n.child_files or n.nested)) for n in unit.nested]
        return tile

    def read(self, paths: Sequence[Path], obj: bool) -> Iterator[tuple[Path, Any]]:
        """Each file with its scene, in order; a few osgconv processes work ahead."""
        runs = batches(paths)
        with ThreadPoolExecutor(READERS) as pool:
            results = [pool.submit(read_scenes, batch, obj=obj, root=self.folder) for batch in runs]
            try:
                for batch, result in zip(runs, results, strict=True):
                    yield from zip(batch, result.result(), strict=True)
            finally:
                for result in results:
                    result.cancel()

    def done_file(self) -> None:
        self.files += 1
        self.on_progress("read", self.files, max(self.total, self.files))

    def osgb(self, roots: Sequence[Path]) -> list[TexturedTile]:
        top: list[TexturedTile] = []
        pending: list[tuple[Path, Matrix, TexturedTile | None]] = [(r, IDENTITY, None) for r in roots]
        seen: set[Path] = set(roots)
        while pending:
            following: list[tuple[Path, Matrix, TexturedTile | None]] = []
            scenes = self.read([p for p, _, _ in pending], obj=False)
            for (path, scene), (_, matrix, parent) in zip(scenes, pending, strict=True):
                for unit in self.reader.units(scene, path, matrix):
                    present: list[tuple[Path, Matrix]] = []
                    for f, m in unit.child_files:
                        if f.is_file() and f not in seen and all(f != p for p, _ in present):
                            present.append((f, m))
                    self.missing += [f for f, _ in unit.child_files if not f.is_file()]
                    tile = self.tile(unit, bool(present or unit.nested))
                    if tile.content is None and not tile.children and not present:
                        continue
                    (parent.children if parent is not None else top).append(tile)
                    seen.update(f for f, _ in present)
                    following += [(f, m, tile) for f, m in present]
                self.done_file()
            pending = following
        return top

    def obj(self, roots: Sequence[Path]) -> list[TexturedTile]:
        """OBJ folders: `Tile_x.obj` is the root, `Tile_x_L{n}_{path}.obj` hang under the longest path prefix."""
        top: list[TexturedTile] = []
        for root in roots:
            named: dict[tuple[int, str], Path] = {(-1, ""): root}
            for path in sorted(root.parent.glob("*.obj")):
                match = _OBJ_NAME.match(path.stem)
                if path == root:
                    continue
                if match is None or match["tile"] != root.stem or match["level"] is None:
                    self.reader.warnings.append(f"{path.name}: not named {root.stem}_L<level>_<path>.obj; left out")
                    continue
                named[(int(match["level"]), match["path"])] = path
            order = sorted(named)
            parent_of = {key: max((k for k in order if k[0] < key[0] and key[1].startswith(k[1])),
                                  key=lambda k: (len(k[1]), k[0])) for key in order if key[0] >= 0}
            has_children = set(parent_of.values())
            tiles: dict[tuple[int, str], TexturedTile] = {}
            for key, (path, scene) in zip(order, self.read([named[k] for k in order], obj=True), strict=True):
                units = self.reader.units(scene, path)
                parts = [p for u in units for p in u.parts]
                tiles[key] = TexturedTile(self.content(parts), unit_error(LodUnit(path.name), parts)
                                          if key in has_children else 0.0)
                self.done_file()
            for key in order:
                (tiles[parent_of[key]].children if key in parent_of else top).append(tiles[key])
        return top


def read_oblique(path: str | Path, on_progress: ProgressCallback = no_progress) -> ObliqueResult:
    """Read an oblique photography set (folder, or its metadata.xml) into a textured LOD pyramid."""
    folder = Path(path)
    if folder.is_file() and folder.name == "metadata.xml":
        folder = folder.parent
    if not folder.is_dir():
        raise IngestError(f"{folder}: not a folder (an oblique set is a folder with metadata.xml and Data/)")
    georef = read_metadata(folder)
    source_format, roots = find_tiles(folder)
    total = sum(1 for _ in (folder / "Data").rglob(f"*.{source_format}"))
    pyramid = _Pyramid(folder, georef, on_progress, total)
    top = pyramid.osgb(roots) if source_format == "osgb" else pyramid.obj(roots)
    if not top:
        raise IngestError(f"{folder.name}: the tile files hold no triangles")
    for root in top:
        fill_errors(root)
    warnings = list(dict.fromkeys(pyramid.reader.warnings))
    if pyramid.missing:
        warnings.append(f"{len(pyramid.missing)} files named by PagedLODs are missing "
                        f"(e.g. {pyramid.missing[0].name}); their parents stay the finest level there")
    if pyramid.files < total:
        warnings.append(f"{total - pyramid.files} .{source_format} files under Data are not part of any pyramid")
    return ObliqueResult(top, georef, source_format, pyramid.files, warnings)
