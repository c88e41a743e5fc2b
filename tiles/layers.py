"""Layered tilesets: several feature layers in one frame, each shown from its own distance (`refine: ADD`).

A building is the typical case: structure (slabs, walls, roofs) appears with the building, details (doors,
furniture, fittings) and spaces refine in when the camera comes closer. Each layer is partitioned and written
like any feature tileset (`tiles.tileset`), its content under `<layer>/`, below a layer tile whose geometric error
is a fraction of the whole extent's diagonal; errors inside a layer never exceed the layer's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiles.geodesy import EnuFrame
from tiles.model import BuiltTileset, Feature, TileEntry, content_ref
from tiles.tileset import (
    BOX_MARGIN,
    TilingOptions,
    box_json,
    build_all_contents,
    dataset_frame,
    explicit_tree,
    plan,
    tileset_entry,
)


@dataclass(frozen=True)
class Layer:
    """Features shown together, from `error_fraction` × the extent's diagonal on."""

    name: str
    features: Sequence[Feature]
    error_fraction: float = 1.0


def _cap_errors(node: dict[str, Any], cap: float) -> None:
    node["geometricError"] = min(float(node["geometricError"]), cap)
    for child in node.get("children", ()):
        _cap_errors(child, float(node["geometricError"]))


def build_layered_tileset(layers: Sequence[Layer], options: TilingOptions | None = None,
                          on_progress: Callable[[int, int], None] | None = None,
                          frame: EnuFrame | None = None) -> BuiltTileset:
    """One explicit tileset of several layers sharing an ENU frame; the same input gives the same bytes.

    With `frame` the features' positions and normals are already in its ENU axes (the caller converted them).
    """
    options = options or TilingOptions()
    if options.implicit or options.b3dm:
        raise ValueError("layered tilesets are explicit 3D Tiles 1.1")
    present = [layer for layer in layers if layer.features]
    if not present:
        raise ValueError("a layered tileset needs at least one feature")
    if len({layer.name for layer in present}) != len(present):
        raise ValueError("layer names must be unique")
    local = frame is not None
    frame = frame or dataset_frame([f for layer in present for f in layer.features])
    trees: list[tuple[Layer, dict[str, Any], np.ndarray, np.ndarray]] = []
    entries: list[TileEntry] = []
    layouts = [plan(layer.features, options, frame, local=local) for layer in present]
    for layer, built in zip(present, build_all_contents(layouts, options, on_progress), strict=True):
        contents = {key: replace(entry, path=f"{layer.name}/{entry.path}", level=(entry.level or 0) + 2)
                    for key, entry in built.items()}
        tree, lo, hi = explicit_tree({key: content_ref(entry) for key, entry in contents.items()})
        trees.append((layer, tree, lo, hi))
        entries.extend(contents[key] for key in sorted(contents))
    lo = np.min([t[2] for t in trees], axis=0) - BOX_MARGIN
    hi = np.max([t[3] for t in trees], axis=0) + BOX_MARGIN
    diagonal = round(max(float(np.linalg.norm(hi - lo)), 1.0), 3)
    children = []
    for layer, tree, layer_lo, layer_hi in trees:
        error = round(diagonal * layer.error_fraction, 3)
        _cap_errors(tree, error)
        children.append({"boundingVolume": {"box": box_json(layer_lo - BOX_MARGIN, layer_hi + BOX_MARGIN)},
                         "geometricError": error, "refine": "ADD", "children": [tree]})
    root = {"boundingVolume": {"box": box_json(lo, hi)}, "geometricError": diagonal, "refine": "ADD",
            "children": children}
    described = {"placement": {"frame": [frame.lon, frame.lat, frame.height]}, "options": options.to_dict(),
                 "layers": {layer.name: layer.error_fraction for layer in present}}
    return BuiltTileset([tileset_entry(frame, root, lo, hi), *entries], described)
