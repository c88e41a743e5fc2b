"""A building's tileset, composed from `tiles.tileset.build_tileset` layers through the tiles package's public API.

Hierarchy (all `refine: ADD`):

    root (no content; geometric error ≈ the building's diagonal)
    ├── structure  (slabs, walls, roofs, columns, beams, stairs, site …; shown as soon as the building is)
    ├── detail     (doors, windows, members, railings, furniture, fittings, MEP …; error diagonal / 8)
    └── spaces     (IfcSpace volumes, for picking and styling; error diagonal / 8)

Each layer holds one sub-tileset per surface colour, built by `build_tileset` with that colour, so a tile is one
draw call of one material and a storey is a handful of them. A sub-tileset's root keeps its own east-north-up
frame, re-expressed relative to the building's frame as a child `transform`; its content paths are prefixed
with the layer and bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from ingest_bim.spool import FeatureSpool
from tiles.geodesy import EnuFrame
from tiles.model import BuiltTileset, TileBounds, TileEntry
from tiles.tileset import TilingOptions, build_tileset

LAYERS = ("structure", "detail", "spaces")
LAYER_ERROR_FRACTION = {"structure": 1.0, "detail": 0.125, "spaces": 0.125}
STRUCTURE = frozenset({
    "IfcWall", "IfcWallStandardCase", "IfcWallElementedCase", "IfcSlab", "IfcSlabStandardCase",
    "IfcSlabElementedCase", "IfcRoof", "IfcColumn", "IfcColumnStandardCase", "IfcBeam", "IfcBeamStandardCase",
    "IfcCurtainWall", "IfcStair", "IfcStairFlight", "IfcRamp", "IfcRampFlight", "IfcFooting", "IfcPile",
    "IfcSite", "IfcCovering", "IfcPlate", "IfcPlateStandardCase", "IfcChimney", "IfcBearing", "IfcCourse",
    "IfcEarthworksFill", "IfcPavement", "IfcKerb",
})
MARGIN = 0.01


def layer_of(ifc_class: str) -> str:
    if ifc_class == "IfcSpace":
        return "spaces"
    return "structure" if ifc_class in STRUCTURE else "detail"


def _matrix(column_major: list[float]) -> np.ndarray:
    return np.array(column_major, dtype=np.float64).reshape(4, 4).T


def _box(lo: np.ndarray, hi: np.ndarray) -> list[float]:
    lo, hi = lo - MARGIN, hi + MARGIN
    c, h = (lo + hi) / 2, (hi - lo) / 2
    return [round(float(v), 3) for v in (*c, h[0], 0, 0, 0, h[1], 0, 0, 0, h[2])]


def _box_corners(box: list[float], transform: np.ndarray) -> np.ndarray:
    """The eight corners of an oriented box, through a 4×4 transform."""
    c, x, y, z = (np.array(box[i:i + 3]) for i in (0, 3, 6, 9))
    corners = np.array([c + sx * x + sy * y + sz * z for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    return (np.column_stack([corners, np.ones(8)]) @ transform.T)[:, :3]


def _prefix_uris(tile: dict[str, Any], prefix: str) -> None:
    if "content" in tile:
        tile["content"]["uri"] = prefix + tile["content"]["uri"]
    for child in tile.get("children", ()):
        _prefix_uris(child, prefix)


def building_frame(spool_extent: tuple[np.ndarray, np.ndarray]) -> EnuFrame:
    """The ENU frame at the centre of the building's lon/lat extent, on the ellipsoid."""
    lo, hi = spool_extent
    return EnuFrame(round(float(lo[0] + hi[0]) / 2, 9), round(float(lo[1] + hi[1]) / 2, 9), 0.0)


def build_building_tileset(spool: FeatureSpool, extent: tuple[np.ndarray, np.ndarray], *,
                           max_features_per_tile: int = 400,
                           on_progress: Callable[[int, int], None] | None = None) -> BuiltTileset:
    """Compose the building tileset from the spool's buckets (see the module docstring); deterministic bytes."""
    buckets = spool.buckets
    if not buckets:
        raise ValueError("a building tileset needs at least one drawn element")
    frame = building_frame(extent)
    to_building = np.linalg.inv(_matrix(frame.transform_matrix()))
    layers: dict[str, list[dict[str, Any]]] = {name: [] for name in LAYERS}
    layer_bounds: dict[str, list[np.ndarray]] = {name: [] for name in LAYERS}
    entries: list[TileEntry] = []
    counters = dict.fromkeys(LAYERS, 0)
    for done, (layer, rgba) in enumerate(buckets, start=1):
        built = build_tileset(spool.features((layer, rgba)),
                              TilingOptions(max_features_per_tile=max_features_per_tile, class_name="element",
                                            color=rgba))
        prefix = f"{layer}/{counters[layer]:03d}/"
        counters[layer] += 1
        sub = orjson.loads(built.root.content)["root"]
        transform = to_building @ _matrix(sub.pop("transform"))
        sub["transform"] = [round(float(v), 9) for v in transform.T.reshape(-1)]
        _prefix_uris(sub, prefix)
        layers[layer].append(sub)
        layer_bounds[layer].append(_box_corners(sub["boundingVolume"]["box"], transform))
        entries.extend(TileEntry(prefix + e.path, e.content, e.content_type, (e.level or 0) + 2,
                                 e.geometric_error, e.bounds, e.feature_ids) for e in built.entries[1:])
        if on_progress:
            on_progress(done, len(buckets))
    everything = np.concatenate([c for corners in layer_bounds.values() for c in corners])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    diagonal = float(np.linalg.norm(hi - lo))
    root_error = round(max(diagonal, 1.0), 3)
    children = []
    for layer in LAYERS:
        if not layers[layer]:
            continue
        corners = np.concatenate(layer_bounds[layer])
        children.append({"boundingVolume": {"box": _box(corners.min(axis=0), corners.max(axis=0))},
                         "geometricError": round(root_error * LAYER_ERROR_FRACTION[layer], 3), "refine": "ADD",
                         "children": layers[layer]})
    root = {"boundingVolume": {"box": _box(lo - MARGIN, hi + MARGIN)}, "geometricError": root_error,
            "refine": "ADD", "transform": [round(v, 6) for v in frame.transform_matrix()], "children": children}
    tileset = {"asset": {"version": "1.1", "generator": "CityTwin"}, "geometricError": round(root_error * 2, 3),
               "root": root}
    corners = np.array([[x, y, z] for z in (lo[2], hi[2]) for x, y in ((lo[0], lo[1]), (hi[0], lo[1]),
                                                                          (hi[0], hi[1]), (lo[0], hi[1]))])
    geo = frame.to_geodetic(corners)
    ring = tuple((round(float(lon), 9), round(float(lat), 9)) for lon, lat in geo[:4, :2])
    bounds = TileBounds((*ring, ring[0]), float(geo[:, 2].min()), float(geo[:, 2].max()))
    root_entry = TileEntry("tileset.json", orjson.dumps(tileset), "application/json", 0, root_error, bounds)
    return BuiltTileset([root_entry, *entries])
