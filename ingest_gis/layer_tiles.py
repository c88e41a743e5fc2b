"""A city model's tileset: one quadtree per layer (roof, wall, ground, vegetation …), each in its own colour.

A tile is one primitive of one material, so surfaces of different colours go to different tiles: features are
grouped by their `surface` property and each layer is cut by the tiles package into its own quadtree. All layers
share one east-north-up frame and one root square, so their cells line up; their roots hang under a common root
without content (`refine: ADD`), and their content paths are prefixed with the layer (`roof/content/…`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from tiles.model import BuiltTileset, Feature, TileEntry, content_ref
from tiles.partition import partition, root_square
from tiles.tileset import (
    BOX_MARGIN,
    TILESET_TYPE,
    Layout,
    Placement,
    TilingOptions,
    box_json,
    build_contents,
    dataset_frame,
    enu_bounds,
    explicit_document,
    feature_bounds,
    geometric_error,
    ordered_features,
)

LAYER_COLORS: dict[str, tuple[float, float, float, float]] = {
    "roof": (0.78, 0.36, 0.27, 1.0),
    "wall": (0.93, 0.91, 0.86, 1.0),
    "ground": (0.42, 0.40, 0.38, 1.0),
    "vegetation": (0.42, 0.66, 0.33, 1.0),
    "water": (0.32, 0.55, 0.85, 1.0),
    "transport": (0.62, 0.62, 0.64, 1.0),
    "terrain": (0.84, 0.80, 0.64, 1.0),
    "other": (0.74, 0.72, 0.78, 1.0),
}


def build_layer_tileset(features: Sequence[Feature], options: TilingOptions,
                        on_progress: Callable[[int, int], None] | None = None) -> BuiltTileset:
    """Cut features into one quadtree per `surface` layer under a common root; the same input gives the same
    bytes. Explicit tiling only."""
    if options.implicit or options.b3dm:
        raise ValueError("layered tilesets are explicit 3D Tiles 1.1")
    if not features:
        raise ValueError("a tileset needs at least one feature")
    frame = dataset_frame(features)
    layers: dict[str, list[Feature]] = {}
    for feature in features:
        layers.setdefault(str(feature.properties.get("surface", "other")), []).append(feature)
    names = [n for n in LAYER_COLORS if n in layers] + sorted(set(layers) - set(LAYER_COLORS))
    ordered = {n: ordered_features(layers[n]) for n in names}
    bounds = {n: feature_bounds(ordered[n], frame) for n in names}
    square = root_square(np.concatenate([lo for lo, _ in bounds.values()]),
                         np.concatenate([hi for _, hi in bounds.values()]))
    total = sum(len(v) for v in layers.values())
    done = 0
    children: list[dict[str, Any]] = []
    entries: list[TileEntry] = []
    root_min, root_max = np.full(3, np.inf), np.full(3, -np.inf)
    for name in names:
        lo, hi = bounds[name]
        layout = Layout(ordered[name], Placement(frame, square), lo, hi,
                        partition(lo, hi, square, budget=options.max_features_per_tile, max_level=options.max_depth))
        layer_options = dataclasses.replace(options, color=LAYER_COLORS.get(name, LAYER_COLORS["other"]))
        contents = build_contents(layout, layer_options)
        description = orjson.loads(explicit_document(frame, {k: content_ref(e) for k, e in contents.items()})
                                   .content)
        sub = description["root"]
        del sub["transform"]  # the common root carries the frame
        _prefix(sub, f"{name}/")
        children.append(sub)
        box = np.asarray(sub["boundingVolume"]["box"], dtype=np.float64)
        half = np.array([box[3], box[7], box[11]])
        root_min, root_max = np.minimum(root_min, box[:3] - half), np.maximum(root_max, box[:3] + half)
        entries.extend(dataclasses.replace(e, path=f"{name}/{e.path}", level=(e.level or 0) + 1)
                       for _, e in sorted(contents.items()))
        done += len(layers[name])
        if on_progress:
            on_progress(done, total)
    root_min, root_max = root_min - BOX_MARGIN, root_max + BOX_MARGIN
    # the root draws nothing, so leaving it unrefined loses the whole model: its error is the model's size
    diagonal = round(float(np.hypot(*(root_max[:2] - root_min[:2]))), 3)
    error = max(diagonal, geometric_error(root_min, root_max), *(float(c["geometricError"]) for c in children))
    root = {"boundingVolume": {"box": box_json(root_min, root_max)}, "geometricError": error, "refine": "ADD",
            "transform": [round(v, 6) for v in frame.transform_matrix()], "children": children}
    document = {"asset": {"version": "1.1", "generator": "CityTwin"}, "geometricError": error * 2, "root": root}
    root_entry = TileEntry("tileset.json", orjson.dumps(document), TILESET_TYPE, 0, error,
                           enu_bounds(frame, root_min, root_max))
    return BuiltTileset([root_entry, *entries], {"layers": names})


def _prefix(tile: dict[str, object], prefix: str) -> None:
    content = tile.get("content")
    if isinstance(content, dict):
        content["uri"] = prefix + content["uri"]
    for child in tile.get("children", ()):  # type: ignore[attr-defined]
        _prefix(child, prefix)
