"""Tilesets from features: one loose-quadtree partition, GLB contents, and an explicit or implicit description.

The whole tileset shares one east-north-up frame anchored at the centre of the data; the root `transform` maps
it to ECEF. Features are placed by `tiles.partition` (large and straddling features high, the rest refining in,
`refine: ADD`). Explicit tiles with children have a geometric error of a quarter of their horizontal diagonal,
which makes Cesium refine into a city block when it is a few kilometres away; tiles without children have 0.
Everything is keyed by cell `(level, x, y)`, so a tileset can be described again from its stored contents
(incremental re-tiling) without the features of untouched tiles.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.b3dm import B3DM_TYPE, build_b3dm
from tiles.encoding import DRACO_LEVEL, Compression
from tiles.geodesy import EnuFrame
from tiles.glb import build_glb
from tiles.model import BuiltTileset, ContentRef, Feature, TileBounds, TileEntry, content_ref
from tiles.partition import Cell, Square, partition, root_square

GLB_TYPE = "model/gltf-binary"
TILESET_TYPE = "application/json"
BOX_MARGIN = 0.01  # metres added per level so rounded parent boxes always contain their children
ERROR_PER_DIAGONAL = 0.25
Key = tuple[int, int, int]
CONTENT_THREADS = 4  # at most this many tiles are encoded at once
DIGEST_LENGTH = 12  # hex digits of SHA-256 in explicit content names


@dataclass(frozen=True)
class TilingOptions:
    """How a feature layer is cut into tiles."""

    max_features_per_tile: int = 400
    max_tile_bytes: int = 16 * 2**20  # estimated uncompressed geometry per tile (28 B a vertex, 12 B a triangle)
    max_depth: int = 12
    class_name: str = "feature"
    color: tuple[float, float, float, float] = (0.86, 0.86, 0.83, 1.0)
    compression: Compression = Compression.DRACO
    implicit: bool = False
    subtree_levels: int = 4
    b3dm: bool = False  # 3D Tiles 1.0 Batched 3D Model content for old clients (explicit tilesets only)
    draco_level: int = DRACO_LEVEL  # Draco compression level (0–10): lower encodes faster

    def __post_init__(self) -> None:
        if self.b3dm and self.implicit:
            raise ValueError("implicit tiling is 3D Tiles 1.1: it cannot carry 1.0 b3dm content")

    def to_dict(self) -> dict[str, Any]:
        return {"max_features_per_tile": self.max_features_per_tile, "max_tile_bytes": self.max_tile_bytes,
                "max_depth": self.max_depth,
                "class_name": self.class_name, "color": list(self.color), "compression": str(self.compression),
                "implicit": self.implicit, "subtree_levels": self.subtree_levels, "b3dm": self.b3dm,
                "draco_level": self.draco_level}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TilingOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "color": tuple(data["color"]), "compression": Compression(data["compression"])})


@dataclass(frozen=True)
class Placement:
    """Where a tileset sits: its ENU frame and the root square of its partition."""

    frame: EnuFrame
    square: Square

    def to_dict(self) -> dict[str, Any]:
        return {"frame": [self.frame.lon, self.frame.lat, self.frame.height],
                "square": [self.square.x0, self.square.y0, self.square.size]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Placement:
        return cls(EnuFrame(*data["frame"]), Square(*data["square"]))


@dataclass(frozen=True)
class Layout:
    """Features in tileset order with their ENU bounds, the placement and the partition."""

    features: list[Feature]
    placement: Placement
    lo: NDArray[np.float64]  # (N, 3) ENU minimum per feature
    hi: NDArray[np.float64]
    root: Cell
    local: bool = False  # positions and normals are already in the frame's ENU axes


def content_path(key: Key, b3dm: bool = False, digest: str = "") -> str:
    """`content/{level}/{x}/{y}.glb`; with a digest the name carries it (`…/{y}-{digest}.glb`), so that the
    file at a path never changes and clients may cache it for good."""
    level, x, y = key
    return f"content/{level}/{x}/{y}{'-' + digest if digest else ''}.{'b3dm' if b3dm else 'glb'}"


def content_key(path: str) -> Key:
    """The cell of a content path written by `content_path`."""
    level, x, y = path.removeprefix("content/").rsplit(".", 1)[0].split("/")
    return int(level), int(x), int(y.split("-")[0])


def dataset_frame(features: Sequence[Feature]) -> EnuFrame:
    """The ENU frame at the centre of the features' lon/lat extent, on the ellipsoid."""
    positions = np.concatenate([f.mesh.positions for f in features])
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    return EnuFrame(round(float(lo[0] + hi[0]) / 2, 9), round(float(lo[1] + hi[1]) / 2, 9), 0.0)


def feature_bounds(features: Sequence[Feature], frame: EnuFrame, local: bool = False) -> tuple[NDArray, NDArray]:
    """Each feature's ENU bounding box: (lo, hi), both (N, 3); `local`: positions are ENU in `frame` already."""
    counts = np.array([f.mesh.vertex_count for f in features])
    positions = np.concatenate([f.mesh.positions for f in features])
    enu = positions if local else frame.from_geodetic(positions[:, 0], positions[:, 1], positions[:, 2])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.minimum.reduceat(enu, starts), np.maximum.reduceat(enu, starts)


def ordered_features(features: Sequence[Feature]) -> list[Feature]:
    """Features sorted by id; raises on empty input or duplicate ids."""
    if not features:
        raise ValueError("a tileset needs at least one feature")
    ordered = sorted(features, key=lambda f: f.id)
    if len({f.id for f in ordered}) != len(ordered):
        raise ValueError("feature ids must be unique within a tileset")
    return ordered


def plan(features: Sequence[Feature], options: TilingOptions, frame: EnuFrame | None = None, *,
         local: bool = False) -> Layout:
    """Order features by id, anchor the frame (unless given) and partition them. With `local` the features'
    positions and normals are already in `frame`'s ENU axes."""
    if local and frame is None:
        raise ValueError("features in a local frame need that frame")
    ordered = ordered_features(features)
    frame = frame or dataset_frame(ordered)
    lo, hi = feature_bounds(ordered, frame, local)
    square = root_square(lo, hi)
    sizes = np.array([f.mesh.vertex_count * 28 + len(f.mesh.triangles) * 12 for f in ordered], dtype=np.int64)
    root = partition(lo, hi, square, budget=options.max_features_per_tile, max_level=options.max_depth,
                     sizes=sizes, max_bytes=options.max_tile_bytes)
    return Layout(ordered, Placement(frame, square), lo, hi, root, local)


def build_content(key: Key, features: Sequence[Feature], lo: NDArray, hi: NDArray, frame: EnuFrame,
                  options: TilingOptions, local: bool = False) -> TileEntry:
    """The GLB of one cell; `lo`/`hi` are the features' ENU bounds."""
    glb = build_glb(features, frame, class_name=options.class_name, color=options.color,
                    compression=options.compression, batch_ids=options.b3dm, draco_level=options.draco_level,
                    local=local)
    data, kind = (build_b3dm(glb.data, features), B3DM_TYPE) if options.b3dm else (glb.data, GLB_TYPE)
    box_min, box_max = lo.min(axis=0), hi.max(axis=0)
    digest = "" if options.implicit else hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH]
    return TileEntry(content_path(key, options.b3dm, digest), data, kind, key[0], None,
                     enu_bounds(frame, box_min, box_max), tuple(f.id for f in features),
                     (*map(float, box_min), *map(float, box_max)))


def build_contents(layout: Layout, options: TilingOptions,
                   on_progress: Callable[[int, int], None] | None = None) -> dict[Key, TileEntry]:
    """One GLB per cell that holds features, keyed by cell; cells are encoded on a few threads (the Draco and
    numpy work releases the GIL), the result is the same as one after another."""
    return build_all_contents([layout], options, on_progress)[0]


def build_all_contents(layouts: Sequence[Layout], options: TilingOptions,
                       on_progress: Callable[[int, int], None] | None = None) -> list[dict[Key, TileEntry]]:
    """`build_contents` of several layouts with one pool of threads, so none waits for another layout's last
    tile; one dict of entries per layout."""
    cells = [(n, c) for n, layout in enumerate(layouts) for c in layout.root.walk() if len(c.members)]

    def build(item: tuple[int, Cell]) -> TileEntry:
        layout, cell = layouts[item[0]], item[1]
        members = [layout.features[i] for i in cell.members]
        return build_content(cell.key, members, layout.lo[cell.members], layout.hi[cell.members],
                             layout.placement.frame, options, layout.local)

    entries: list[dict[Key, TileEntry]] = [{} for _ in layouts]
    with ThreadPoolExecutor(max(1, min(CONTENT_THREADS, os.cpu_count() or 1, len(cells)))) as pool:
        for done, ((n, cell), entry) in enumerate(zip(cells, pool.map(build, cells), strict=True), start=1):
            entries[n][cell.key] = entry
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


def with_ancestors(keys: Iterable[Key]) -> set[Key]:
    """The keys and every cell above them up to the root."""
    found: set[Key] = set()
    for level, x, y in keys:
        while (level, x, y) not in found:
            found.add((level, x, y))
            if level == 0:
                break
            level, x, y = level - 1, x // 2, y // 2
    return found


def explicit_tree(contents: Mapping[Key, ContentRef]) -> tuple[dict[str, Any], NDArray[np.float64],
                                                                 NDArray[np.float64]]:
    """The tile tree over contents keyed by cell, and its box; inner cells without content become empty tiles."""
    tree = with_ancestors(contents.keys())
    children: dict[Key, list[Key]] = {}
    for key in sorted(tree):
        if key[0]:
            children.setdefault((key[0] - 1, key[1] // 2, key[2] // 2), []).append(key)

    def tile(key: Key) -> tuple[dict[str, Any], NDArray[np.float64], NDArray[np.float64]]:
        below = [tile(child) for child in children.get(key, [])]
        boxes = [(b_min, b_max) for _, b_min, b_max in below]
        if key in contents:
            box = np.array(contents[key].enu_box)
            boxes.append((box[:3], box[3:]))
        margin = BOX_MARGIN * (1 + bool(below))
        box_min = np.min([b[0] for b in boxes], axis=0) - margin
        box_max = np.max([b[1] for b in boxes], axis=0) + margin
        node: dict[str, Any] = {"boundingVolume": {"box": box_json(box_min, box_max)},
                                "geometricError": geometric_error(box_min, box_max) if below else 0.0,
                                "refine": "ADD"}
        if key in contents:
            node["content"] = {"uri": contents[key].path}
        if below:
            node["children"] = [b[0] for b in below]
        return node, box_min, box_max

    return tile((0, 0, 0))


def tileset_entry(frame: EnuFrame, root: dict[str, Any], root_min: NDArray[np.float64],
                  root_max: NDArray[np.float64], version: str = "1.1") -> TileEntry:
    """`tileset.json` for a root tile in `frame` (the root gets the ENU→ECEF transform)."""
    root["transform"] = [round(v, 6) for v in frame.transform_matrix()]
    document = {"asset": {"version": version, "generator": "CityTwin"},
                "geometricError": max(geometric_error(root_min, root_max), float(root["geometricError"])) * 2,
                "root": root}
    return TileEntry("tileset.json", orjson.dumps(document), TILESET_TYPE, 0, float(root["geometricError"]),
                     enu_bounds(frame, root_min, root_max))


def explicit_document(frame: EnuFrame, contents: Mapping[Key, ContentRef], version: str = "1.1") -> TileEntry:
    """`tileset.json` for contents keyed by cell."""
    root, root_min, root_max = explicit_tree(contents)
    return tileset_entry(frame, root, root_min, root_max, version)


def describe(placement: Placement, contents: Mapping[Key, ContentRef], options: TilingOptions) -> list[TileEntry]:
    """The description entries of a tileset: `tileset.json`, plus subtrees when implicit."""
    if options.implicit:
        from tiles.implicit import implicit_documents

        return implicit_documents(placement, contents, options.subtree_levels)
    return [explicit_document(placement.frame, contents, "1.0" if options.b3dm else "1.1")]


def build_tileset(
    features: Sequence[Feature],
    options: TilingOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuiltTileset:
    """Cut `features` into GLB tiles described explicitly or implicitly; the same input gives the same bytes."""
    options = options or TilingOptions()
    layout = plan(features, options)
    contents = build_contents(layout, options, on_progress)
    entries = describe(layout.placement, {k: content_ref(e) for k, e in contents.items()}, options)
    return BuiltTileset([*entries, *(contents[k] for k in sorted(contents))],
                        {"placement": layout.placement.to_dict(), "options": options.to_dict()})
