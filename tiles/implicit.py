"""Implicit tiling (3D Tiles 1.1 `implicitTiling`, QUADTREE): the same partition and contents as the explicit
form, described by URI templates and binary subtree files with tile, content and child-subtree availability.

Tile (level, x, y) is the cell x-th from the west and y-th from the south of the root box at that level; the
root box spans the partition's square and the height range of all content, so every feature lies inside the
cell that holds it. Availability bitstreams are in Morton order (x in the even bits), least significant bit
first, one level after another.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import orjson

from tiles.model import BuiltTileset, ContentRef, Feature, TileEntry
from tiles.tileset import (
    BOX_MARGIN,
    ERROR_PER_DIAGONAL,
    TILESET_TYPE,
    Key,
    Placement,
    TilingOptions,
    box_json,
    build_tileset,
    enu_bounds,
    with_ancestors,
)

SUBTREE_TYPE = "application/octet-stream"
CONTENT_TEMPLATE = "content/{level}/{x}/{y}.glb"
SUBTREE_TEMPLATE = "subtrees/{level}/{x}/{y}.subtree"
SUBTREE_MAGIC = b"subt"


def morton(x: int, y: int) -> int:
    """Interleave the bits of x (even positions) and y (odd positions)."""
    code = 0
    for bit in range(32):
        code |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return code


def _bitstream(bits: Sequence[bool]) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8), bitorder="little").tobytes()


def encode_subtree(tile_bits: Sequence[bool], content_bits: Sequence[bool], child_bits: Sequence[bool]) -> bytes:
    """A binary `.subtree`: constant availability where all bits agree, bitstreams otherwise."""
    binary = b""
    views: list[dict[str, int]] = []

    def availability(bits: Sequence[bool]) -> dict[str, int]:
        nonlocal binary
        count = int(sum(bits))
        if count in (0, len(bits)):
            return {"constant": int(count > 0)}
        data = _bitstream(bits)
        views.append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(data)})
        binary += data + b"\0" * ((-len(data)) % 8)
        return {"bitstream": len(views) - 1, "availableCount": count}

    document: dict[str, Any] = {
        "tileAvailability": availability(tile_bits),
        "contentAvailability": [availability(content_bits)],
        "childSubtreeAvailability": availability(child_bits),
    }
    if views:
        document = {"buffers": [{"byteLength": len(binary)}], "bufferViews": views, **document}
    json_chunk = orjson.dumps(document)
    json_chunk += b" " * ((-len(json_chunk)) % 8)
    return SUBTREE_MAGIC + struct.pack("<IQQ", 1, len(json_chunk), len(binary)) + json_chunk + binary


def decode_subtree(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a `.subtree` file into its JSON document and binary chunk."""
    if data[:4] != SUBTREE_MAGIC:
        raise ValueError("not a 3D Tiles subtree")
    version, json_length, binary_length = struct.unpack_from("<IQQ", data, 4)
    if version != 1:
        raise ValueError(f"unsupported subtree version {version}")
    return orjson.loads(data[24 : 24 + json_length]), data[24 + json_length : 24 + json_length + binary_length]


def availability_bits(spec: dict[str, Any], binary: bytes, views: list[dict[str, int]], count: int) -> list[bool]:
    """Expand one availability object of a decoded subtree into `count` booleans."""
    if "constant" in spec:
        return [bool(spec["constant"])] * count
    view = views[spec["bitstream"]]
    raw = np.frombuffer(binary, np.uint8, view["byteLength"], view.get("byteOffset", 0))
    return [bool(b) for b in np.unpackbits(raw, bitorder="little")[:count]]


def _level_bits(keys: Iterable[tuple[int, int, int]], root: tuple[int, int, int], levels: int) -> list[bool]:
    level0, x0, y0 = root
    offsets = [(4**r - 1) // 3 for r in range(levels + 1)]
    bits = [False] * offsets[levels]
    for level, x, y in keys:
        r = level - level0
        if 0 <= r < levels and x >> r == x0 and y >> r == y0:
            bits[offsets[r] + morton(x - (x0 << r), y - (y0 << r))] = True
    return bits


def _child_bits(keys: set[tuple[int, int, int]], root: tuple[int, int, int], levels: int) -> list[bool]:
    level0, x0, y0 = root
    bits = [False] * 4**levels
    for level, x, y in keys:
        if level == level0 + levels and x >> levels == x0 and y >> levels == y0:
            bits[morton(x - (x0 << levels), y - (y0 << levels))] = True
    return bits


def build_implicit_tileset(
    features: Sequence[Feature],
    options: TilingOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuiltTileset:
    """Cut `features` into an implicitly tiled quadtree: `tileset.json`, subtrees and GLB contents."""
    return build_tileset(features, replace(options or TilingOptions(), implicit=True), on_progress)


def implicit_documents(placement: Placement, contents: Mapping[Key, ContentRef],
                       subtree_levels: int) -> list[TileEntry]:
    """`tileset.json` with `implicitTiling` and the subtrees describing the given contents."""
    available = with_ancestors(contents.keys())
    available_levels = max(level for level, _, _ in available) + 1
    levels = max(1, min(subtree_levels, available_levels))
    subtrees = []
    for key in sorted(k for k in available if k[0] % levels == 0):
        data = encode_subtree(_level_bits(available, key, levels), _level_bits(contents, key, levels),
                              _child_bits(available, key, levels))
        subtrees.append(TileEntry(SUBTREE_TEMPLATE.format(level=key[0], x=key[1], y=key[2]), data, SUBTREE_TYPE,
                                  key[0]))
    square = placement.square
    boxes = np.array([entry.enu_box for entry in contents.values()])
    box_min = np.array([square.x0, square.y0, boxes[:, 2].min() - BOX_MARGIN])
    box_max = np.array([square.x0 + square.size, square.y0 + square.size, boxes[:, 5].max() + BOX_MARGIN])
    root_error = round(float(square.size * np.sqrt(2) * ERROR_PER_DIAGONAL), 3)
    tileset = {
        "asset": {"version": "1.1", "generator": "CityTwin"},
        "geometricError": root_error * 2,
        "root": {
            "transform": [round(v, 6) for v in placement.frame.transform_matrix()],
            "boundingVolume": {"box": box_json(box_min, box_max)},
            "geometricError": root_error,
            "refine": "ADD",
            "content": {"uri": CONTENT_TEMPLATE},
            "implicitTiling": {
                "subdivisionScheme": "QUADTREE",
                "subtreeLevels": levels,
                "availableLevels": available_levels,
                "subtrees": {"uri": SUBTREE_TEMPLATE},
            },
        },
    }
    root_entry = TileEntry("tileset.json", orjson.dumps(tileset), TILESET_TYPE, 0, root_error,
                           enu_bounds(placement.frame, box_min, box_max))
    return [root_entry, *subtrees]
