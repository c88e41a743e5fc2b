"""Explicit quadtree tilesets: features → `tileset.json` + GLB contents, deterministic bytes.

The whole tileset shares one east-north-up frame anchored at the centre of the data; the root `transform`
maps it to ECEF. Features are placed by the loose quadtree of `tiles.partition` (large and straddling features
high, the rest refining in, `refine: ADD`). A tile with children has a geometric error of a quarter of its
horizontal diagonal, which makes Cesium refine into a city block when it is a few kilometres away; tiles
without children have error 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.encoding import Compression
from tiles.geodesy import EnuFrame
from tiles.glb import build_glb
from tiles.model import BuiltTileset, Feature, TileBounds, TileEntry
from tiles.partition import Cell, Square, partition, root_square

GLB_TYPE = "model/gltf-binary"
TILESET_TYPE = "application/json"
BOX_MARGIN = 0.01  # metres added per level so rounded parent boxes always contain their children
ERROR_PER_DIAGONAL = 0.25


@dataclass(frozen=True)
class TilingOptions:
    """How a feature layer is cut into tiles."""

    max_features_per_tile: int = 400
    max_depth: int = 12
    class_name: str = "feature"
    color: tuple[float, float, float, float] = (0.86, 0.86, 0.83, 1.0)
    compression: Compression = Compression.DRACO


def dataset_frame(features: Sequence[Feature]) -> EnuFrame:
    """The ENU frame at the centre of the features' lon/lat extent, on the ellipsoid."""
    lo = np.min([f.mesh.positions.min(axis=0) for f in features], axis=0)
    hi = np.max([f.mesh.positions.max(axis=0) for f in features], axis=0)
    return EnuFrame(round(float(lo[0] + hi[0]) / 2, 9), round(float(lo[1] + hi[1]) / 2, 9), 0.0)


@dataclass(frozen=True)
class Layout:
    """Features in tileset order, their frame, ENU bounds and the partition shared by every writer."""

    features: list[Feature]
    frame: EnuFrame
    lo: NDArray[np.float64]  # (N, 3) ENU minimum per feature
    hi: NDArray[np.float64]
    square: Square
    root: Cell

    def content_path(self, cell: Cell) -> str:
        return f"content/{cell.level}/{cell.x}/{cell.y}.glb"


def plan(features: Sequence[Feature], options: TilingOptions) -> Layout:
    """Order features by id, anchor the frame and partition them; raises on empty input or duplicate ids."""
    if not features:
        raise ValueError("a tileset needs at least one feature")
    ordered = sorted(features, key=lambda f: f.id)
    if len({f.id for f in ordered}) != len(ordered):
        raise ValueError("feature ids must be unique within a tileset")
    frame = dataset_frame(ordered)
    counts = np.array([f.mesh.vertex_count for f in ordered])
    geodetic = np.concatenate([f.mesh.positions for f in ordered])
    enu = frame.from_geodetic(geodetic[:, 0], geodetic[:, 1], geodetic[:, 2])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo, hi = np.minimum.reduceat(enu, starts), np.maximum.reduceat(enu, starts)
    square = root_square(lo, hi)
    root = partition(lo, hi, square, budget=options.max_features_per_tile, max_level=options.max_depth)
    return Layout(ordered, frame, lo, hi, square, root)


def build_contents(layout: Layout, options: TilingOptions,
                   on_progress: Callable[[int, int], None] | None = None) -> dict[tuple[int, int, int], TileEntry]:
    """One GLB per cell that holds features, keyed by cell."""
    cells = [c for c in layout.root.walk() if len(c.members)]
    entries = {}
    for done, cell in enumerate(cells, start=1):
        members = [layout.features[i] for i in cell.members]
        glb = build_glb(members, layout.frame, class_name=options.class_name, color=options.color,
                        compression=options.compression)
        box_min, box_max = layout.lo[cell.members].min(axis=0), layout.hi[cell.members].max(axis=0)
        entries[cell.key] = TileEntry(layout.content_path(cell), glb.data, GLB_TYPE, cell.level, None,
                                      enu_bounds(layout.frame, box_min, box_max), tuple(f.id for f in members))
        if on_progress:
            on_progress(done, len(cells))
    return entries


def enu_bounds(frame: EnuFrame, box_min: NDArray[np.float64], box_max: NDArray[np.float64]) -> TileBounds:
    """An ENU box as a lon/lat ring and a height range, for the tile index in a database."""
    (x0, y0, z0), (x1, y1, z1) = box_min, box_max
    corners = np.array([[x, y, z] for z in (z0, z1) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])
    geo = frame.to_geodetic(corners)
    ring = tuple((round(float(lon), 9), round(float(lat), 9)) for lon, lat in geo[:4, :2])
    return TileBounds((*ring, ring[0]), float(geo[:, 2].min()), float(geo[:, 2].max()))


def box_json(box_min: NDArray[np.float64], box_max: NDArray[np.float64]) -> list[float]:
    center = (box_min + box_max) / 2
    half = (box_max - box_min) / 2
    return [round(float(v), 3) for v in (*center, half[0], 0, 0, 0, half[1], 0, 0, 0, half[2])]


def geometric_error(box_min: NDArray[np.float64], box_max: NDArray[np.float64]) -> float:
    return round(max(float(np.hypot(*(box_max[:2] - box_min[:2]))) * ERROR_PER_DIAGONAL, 1.0), 3)


def build_tileset(
    features: Sequence[Feature],
    options: TilingOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuiltTileset:
    """Cut `features` into an explicit quadtree of GLB tiles; the same input always gives the same bytes."""
    options = options or TilingOptions()
    layout = plan(features, options)
    contents = build_contents(layout, options, on_progress)

    def tile_json(cell: Cell) -> tuple[dict[str, object], NDArray[np.float64], NDArray[np.float64]]:
        children = [tile_json(child) for child in cell.children]
        boxes = [(b_min, b_max) for _, b_min, b_max in children]
        if len(cell.members):
            boxes.append((layout.lo[cell.members].min(axis=0), layout.hi[cell.members].max(axis=0)))
        margin = BOX_MARGIN * (1 + bool(children))
        box_min = np.min([b[0] for b in boxes], axis=0) - margin
        box_max = np.max([b[1] for b in boxes], axis=0) + margin
        tile: dict[str, object] = {"boundingVolume": {"box": box_json(box_min, box_max)},
                                   "geometricError": geometric_error(box_min, box_max) if children else 0.0,
                                   "refine": "ADD"}
        if cell.key in contents:
            tile["content"] = {"uri": contents[cell.key].path}
        if children:
            tile["children"] = [c for c, _, _ in children]
        return tile, box_min, box_max

    root_json, root_min, root_max = tile_json(layout.root)
    root_json["transform"] = [round(v, 6) for v in layout.frame.transform_matrix()]
    tileset = {
        "asset": {"version": "1.1", "generator": "CityTwin"},
        "geometricError": geometric_error(root_min, root_max) * 2,
        "root": root_json,
    }
    root_entry = TileEntry("tileset.json", orjson.dumps(tileset), TILESET_TYPE, 0,
                           float(root_json["geometricError"]),  # type: ignore[arg-type]
                           enu_bounds(layout.frame, root_min, root_max))
    return BuiltTileset([root_entry, *(contents[c.key] for c in layout.root.walk() if c.key in contents)])
