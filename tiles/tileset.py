"""Quadtree tileset builder: features → `tileset.json` + GLB contents, deterministic bytes.

The whole tileset shares one east-north-up frame anchored at the centre of the data; the root `transform`
maps it to ECEF. Content sits in the leaves of a quadtree split by feature count, so a city streams block by
block; each inner tile's geometric error is a quarter of its horizontal diagonal, which makes Cesium refine
to a block when it is a few kilometres away, and leaves (the buildings themselves) have error 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.encoding import Compression
from tiles.geodesy import EnuFrame
from tiles.glb import build_glb
from tiles.model import BuiltTileset, Feature, TileBounds, TileEntry

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


@dataclass
class _Node:
    level: int
    x: int
    y: int
    members: NDArray[np.int64]
    box_min: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    box_max: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    children: list[_Node] = field(default_factory=list)
    content_path: str | None = None

    @property
    def diagonal_xy(self) -> float:
        return float(np.hypot(*(self.box_max[:2] - self.box_min[:2])))


def dataset_frame(features: Sequence[Feature]) -> EnuFrame:
    """The ENU frame at the centre of the features' lon/lat extent, on the ellipsoid."""
    lo = np.min([f.mesh.positions.min(axis=0) for f in features], axis=0)
    hi = np.max([f.mesh.positions.max(axis=0) for f in features], axis=0)
    return EnuFrame(round(float(lo[0] + hi[0]) / 2, 9), round(float(lo[1] + hi[1]) / 2, 9), 0.0)


def _split(node: _Node, centers: NDArray[np.float64], lo: NDArray[np.float64], size: float,
           options: TilingOptions) -> None:
    if len(node.members) <= options.max_features_per_tile or node.level >= options.max_depth:
        return
    half = size / 2
    pts = centers[node.members]
    east = pts[:, 0] >= lo[0] + half
    north = pts[:, 1] >= lo[1] + half
    for dy in (0, 1):
        for dx in (0, 1):
            mask = (east == bool(dx)) & (north == bool(dy))
            if not mask.any():
                continue
            child = _Node(node.level + 1, node.x * 2 + dx, node.y * 2 + dy, node.members[mask])
            _split(child, centers, lo + np.array([dx * half, dy * half]), half, options)
            node.children.append(child)


def _box(node: _Node) -> list[float]:
    center = (node.box_min + node.box_max) / 2
    half = (node.box_max - node.box_min) / 2
    return [round(float(v), 3) for v in (*center, half[0], 0, 0, 0, half[1], 0, 0, 0, half[2])]


def _bounds(frame: EnuFrame, node: _Node) -> TileBounds:
    (x0, y0, z0), (x1, y1, z1) = node.box_min, node.box_max
    corners = np.array([[x, y, z] for z in (z0, z1) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))])
    geo = frame.to_geodetic(corners)
    ring = tuple((round(float(lon), 9), round(float(lat), 9)) for lon, lat in geo[:4, :2])
    return TileBounds((*ring, ring[0]), float(geo[:, 2].min()), float(geo[:, 2].max()))


def build_tileset(
    features: Sequence[Feature],
    options: TilingOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuiltTileset:
    """Cut `features` into a quadtree of GLB tiles; the same input always gives the same bytes."""
    options = options or TilingOptions()
    if not features:
        raise ValueError("a tileset needs at least one feature")
    ordered = sorted(features, key=lambda f: f.id)
    if len({f.id for f in ordered}) != len(ordered):
        raise ValueError("feature ids must be unique within a tileset")
    frame = dataset_frame(ordered)
    centroids = np.array([f.mesh.positions.mean(axis=0) for f in ordered])
    centers = frame.from_geodetic(centroids[:, 0], centroids[:, 1], centroids[:, 2])[:, :2]
    lo = centers.min(axis=0)
    size = float(max(np.ptp(centers, axis=0).max(), 1.0)) * (1 + 1e-9)
    root = _Node(0, 0, 0, np.arange(len(ordered)))
    _split(root, centers, lo, size, options)

    leaves = _leaves(root)
    entries: list[TileEntry] = []
    for done, leaf in enumerate(leaves, start=1):
        members = [ordered[i] for i in leaf.members]
        glb = build_glb(members, frame, class_name=options.class_name, color=options.color,
                        compression=options.compression)
        leaf.box_min, leaf.box_max = glb.enu_min - BOX_MARGIN, glb.enu_max + BOX_MARGIN
        leaf.content_path = f"content/{leaf.level}-{leaf.x}-{leaf.y}.glb"
        entries.append(
            TileEntry(leaf.content_path, glb.data, GLB_TYPE, leaf.level, 0.0, _bounds(frame, leaf),
                      tuple(f.id for f in members))
        )
        if on_progress:
            on_progress(done, len(leaves))
    _fit_boxes(root)
    root_json = _tile_json(root)
    root_error = float(root_json["geometricError"])  # type: ignore[arg-type]
    root_json["transform"] = [round(v, 6) for v in frame.transform_matrix()]
    tileset = {
        "asset": {"version": "1.1", "generator": "CityTwin"},
        "geometricError": round(max(root.diagonal_xy * ERROR_PER_DIAGONAL, 1.0) * 2, 3),
        "root": root_json,
    }
    root_entry = TileEntry(
        "tileset.json", orjson.dumps(tileset), TILESET_TYPE, 0, root_error,
        _bounds(frame, root)
    )
    return BuiltTileset([root_entry, *entries])


def _leaves(node: _Node) -> list[_Node]:
    if not node.children:
        return [node]
    return [leaf for child in node.children for leaf in _leaves(child)]


def _fit_boxes(node: _Node) -> None:
    if not node.children:
        return
    for child in node.children:
        _fit_boxes(child)
    node.box_min = np.min([c.box_min for c in node.children], axis=0) - BOX_MARGIN
    node.box_max = np.max([c.box_max for c in node.children], axis=0) + BOX_MARGIN


def _tile_json(node: _Node) -> dict[str, object]:
    error = 0.0 if not node.children else round(max(node.diagonal_xy * ERROR_PER_DIAGONAL, 1.0), 3)
    tile: dict[str, object] = {"boundingVolume": {"box": _box(node)}, "geometricError": error, "refine": "ADD"}
    if node.content_path:
        tile["content"] = {"uri": node.content_path}
    if node.children:
        tile["children"] = [_tile_json(child) for child in node.children]
    return tile
