"""An existing 3D Tiles tileset (1.0 or 1.1) as stored entries: every file it references, bytes unchanged.

Paths stay relative to the tileset's folder, so its URIs keep working. A tileset whose root is not on the Earth
(no transform or the identity, and a bounding volume far from the surface) can be placed with an origin: the root
`tileset.json` then gets an east-north-up → ECEF root transform at that longitude, latitude and height, the only
change made to any file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest_gis.records import IngestError, ProgressCallback, no_progress
from ingest_gis.tileset_walk import CONTENT, TileRecord, WalkedTileset, Walker, matrix
from tiles.geodesy import WGS84_A, WGS84_B, EnuFrame, ecef_to_geodetic
from tiles.model import BuiltTileset, TileBounds, TileEntry

CONTENT_TYPES = {".b3dm": "application/octet-stream", ".i3dm": "application/octet-stream",
                 ".pnts": "application/octet-stream", ".cmpt": "application/octet-stream",
                 ".subtree": "application/octet-stream", ".glb": "model/gltf-binary", ".gltf": "model/gltf+json",
                 ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".ktx2": "image/ktx2", ".webp": "image/webp"}
SURFACE_BELOW_M = 100_000.0  # a placed root volume's centre lies within this of the ellipsoid's surface
Extent = tuple[float, float, float, float]
ROOT = "tileset.json"


@dataclass(frozen=True)
class ImportedTileset(BuiltTileset):
    """A tileset read from files: its content count comes from the walk, not from feature ids."""

    content_files: int = 0

    @property
    def content_count(self) -> int:
        return self.content_files


@dataclass(frozen=True)
class TilesetImport:
    """What an import stores and reports."""

    tileset: ImportedTileset
    extent: Extent  # lon/lat degrees
    zmin: float
    zmax: float
    asset_version: str
    placed_by: str  # "tileset" or "origin"
    warnings: list[str] = field(default_factory=list)


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def locate(path: str | Path) -> tuple[Path, str]:
    """(folder, root file name) for a tileset folder or a path to its `tileset.json`."""
    given = Path(path)
    if given.is_dir():
        given = given / "tileset.json"
    if not given.is_file():
        raise IngestError(f"no tileset at {path}: expected a folder with tileset.json or a tileset JSON file")
    return given.parent.resolve(), given.name


def volume_corners(volume: dict[str, Any], transform: np.ndarray) -> np.ndarray:
    """ECEF corner points (8, 3) of a bounding volume under `transform` (regions ignore it)."""
    if "region" in volume:
        w, s, e, n, lo, hi = (float(v) for v in volume["region"])
        lon = np.degrees([w, e, w, e, w, e, w, e])
        lat = np.degrees([s, s, n, n, s, s, n, n])
        h = np.array([lo, lo, lo, lo, hi, hi, hi, hi])
        frame = EnuFrame(0.0, 0.0)
        return frame.origin_ecef + frame.from_geodetic(lon, lat, h) @ frame.rotation
    if "box" in volume:
        values = np.asarray(volume["box"], dtype=np.float64)
        centre, axes = values[:3], values[3:].reshape(3, 3)
        signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=np.float64)
        local = centre + signs @ axes
    elif "sphere" in volume:
        x, y, z, r = (float(v) for v in volume["sphere"])
        signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=np.float64)
        local = np.array([x, y, z]) + signs * r
    else:
        raise IngestError("a tile has no box, region or sphere bounding volume")
    return np.c_[local, np.ones(8)] @ transform.T[:, :3]


def on_earth(corners: np.ndarray) -> bool:
    """True when the centre of the corners lies near the ellipsoid's surface."""
    radius = float(np.linalg.norm(corners.mean(axis=0)))
    return WGS84_B - SURFACE_BELOW_M < radius < WGS84_A + SURFACE_BELOW_M


def tile_bounds(record: TileRecord) -> TileBounds:
    lon, lat, h = ecef_to_geodetic(volume_corners(record.volume, record.transform)).T
    w, e, s, n = float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())
    return TileBounds(((w, s), (e, s), (e, n), (w, n), (w, s)), float(h.min()), float(h.max()))


def _place(document: dict[str, Any], origin: tuple[float, float, float] | None, root_name: str
           ) -> tuple[dict[str, Any] | None, str]:
    """The root document with an origin transform when one is asked for (None: unchanged) and how it is placed."""
    root = document["root"]
    corners = volume_corners(root.get("boundingVolume", {}), matrix(root.get("transform")))
    placed = on_earth(corners) or "region" in root.get("boundingVolume", {})
    if origin is None:
        if not placed:
            distance = float(np.linalg.norm(corners.mean(axis=0)))
            raise IngestError(f"{root_name} is not placed on the Earth (its root volume is centred {distance:,.0f} m "
                              "from the Earth's centre); give --origin LON,LAT,H")
        return None, "tileset"
    if placed:
        raise IngestError(f"{root_name} is already georeferenced; --origin only places tilesets that are not")
    lon, lat, height = origin
    if not (-180 <= lon <= 180 and -90 <= lat <= 90 and -12_000 < height < 100_000):
        raise IngestError(f"--origin {lon},{lat},{height} is not a place on the Earth (LON,LAT,H in degrees and m)")
    enu = np.asarray(EnuFrame(lon, lat, height).transform_matrix()).reshape(4, 4).T
    placed_root = dict(root, transform=[float(v) for v in (enu @ matrix(root.get("transform"))).T.reshape(-1)])
    return dict(document, root=placed_root), "origin"


def _entries(walked: WalkedTileset, root_name: str, root_bytes: bytes) -> list[TileEntry]:
    """The root description (always stored as `tileset.json`) first, then every other file."""
    if root_name != ROOT and ROOT in walked.files:
        raise IngestError(f"{root_name} is the root, but the tileset also references a different {ROOT}")
    by_path = {}
    for record in walked.tiles:
        bounds = tile_bounds(record)
        for path in record.content_paths:
            by_path[path] = (record, bounds)
    entries = [TileEntry(ROOT, root_bytes, "application/json")]
    for path, role in walked.files.items():
        if path == root_name:
            continue
        found = by_path.get(path) if role == CONTENT else None
        if found is None:
            entries.append(TileEntry(path, walked.read(path), content_type(path)))
        else:
            record, bounds = found
            entries.append(TileEntry(path, walked.read(path), content_type(path), level=record.level,
                                     geometric_error=record.geometric_error, bounds=bounds))
    return entries


def import_tileset(path: str | Path, *, origin: tuple[float, float, float] | None = None,
                   on_progress: ProgressCallback = no_progress) -> TilesetImport:
    """Walk a tileset folder and turn every referenced file into an entry, placing the root when asked."""
    folder, root_name = locate(path)
    raw = (folder / root_name).read_bytes()
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{root_name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("root"), dict):
        raise IngestError(f"{root_name} is not a 3D Tiles tileset (no root tile)")
    version = str((document.get("asset") or {}).get("version", ""))
    if not version:
        raise IngestError(f"{root_name} has no asset.version")
    placed_document, placed_by = _place(document, origin, root_name)
    if placed_document is not None:
        document = placed_document
        raw = json.dumps(document, separators=(",", ":")).encode()
    on_progress("files", 0, 1)
    walked = Walker(folder, root_name, document).walk()
    content_files = sum(1 for role in walked.files.values() if role == CONTENT)
    if not content_files:
        raise IngestError(f"{root_name} references no tile content")
    root = document["root"]
    bounds = tile_bounds(TileRecord((), 0, 0.0, root.get("boundingVolume", {}), matrix(root.get("transform"))))
    if not (np.isfinite(np.asarray(bounds.ring)).all() and np.isfinite([bounds.zmin, bounds.zmax]).all()):
        raise IngestError(f"{root_name}: the root volume is not a place on the Earth")
    entries = _entries(walked, root_name, raw)
    entries[0] = replace(entries[0], level=0, geometric_error=float(document.get("geometricError", 0.0)),
                         bounds=bounds)
    on_progress("files", 1, 1)
    (west, south), (east, north) = bounds.ring[0], bounds.ring[2]
    layout = {"source": "import", "asset_version": version, "placed_by": placed_by,
              **({"origin": list(origin)} if origin else {})}
    return TilesetImport(ImportedTileset(entries, layout, content_files), (west, south, east, north), bounds.zmin,
                         bounds.zmax, version, placed_by)
