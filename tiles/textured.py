"""Textured meshes (photogrammetry) as GLB content and a REPLACE-refinement tileset that keeps the input's LODs.

Each tile's content is one GLB: a primitive per textured part with POSITION and TEXCOORD_0, the part's image
embedded as JPEG or PNG, a sampler and an unlit material (`KHR_materials_unlit`: the light is in the photos).
Positions are the tileset's ENU metres relative to the tile centre, y-up, with the centre as node translation.
The tileset repeats the input's pyramid: one tile per LOD node, boxes in the ENU frame that hold the content and
the children, geometric errors decreasing with depth and `refine: REPLACE`; the root `transform` maps ENU→ECEF.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.encoding import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, FLOAT, UNSIGNED_INT, UNSIGNED_SHORT, BinaryBuffer
from tiles.geodesy import EnuFrame
from tiles.glb import GlbContent, pack_glb
from tiles.model import BuiltTileset, TileEntry
from tiles.tileset import BOX_MARGIN, GLB_TYPE, TILESET_TYPE, box_json, enu_bounds

UNLIT = "KHR_materials_unlit"
MIME_TYPES = ("image/jpeg", "image/png")
LINEAR = 9729
LINEAR_MIPMAP_LINEAR = 9987
CLAMP_TO_EDGE = 33071
UNTEXTURED_COLOR = (0.8, 0.8, 0.8, 1.0)
DIGEST_LENGTH = 12


@dataclass(frozen=True)
class Texture:
    """Encoded image bytes as glTF embeds them: JPEG or PNG, top row first."""

    data: bytes
    mime_type: str
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.mime_type not in MIME_TYPES:
            raise ValueError(f"a glTF image is JPEG or PNG, not {self.mime_type!r}")


@dataclass(frozen=True)
class TexturedPart:
    """Triangles sharing one texture: ENU positions (m, tileset frame), glTF UVs (v down) and CCW triangles."""

    positions: NDArray[np.float64]  # (N, 3)
    uvs: NDArray[np.float32] | None  # (N, 2), None when untextured
    triangles: NDArray[np.uint32]  # (M, 3)
    texture: Texture | None = None

    def __post_init__(self) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise ValueError("part positions must be an (N, 3) array")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3 or not len(self.triangles):
            raise ValueError("part triangles must be a non-empty (M, 3) array")
        if int(self.triangles.max()) >= len(self.positions):
            raise ValueError("a triangle indexes a vertex the part does not have")
        if self.texture is not None and (self.uvs is None or self.uvs.shape != (len(self.positions), 2)):
            raise ValueError("a textured part needs one (u, v) per vertex")


def _material(texture_index: int | None) -> dict[str, Any]:
    if texture_index is None:
        return {"pbrMetallicRoughness": {"baseColorFactor": list(UNTEXTURED_COLOR), "metallicFactor": 0.0,
                                         "roughnessFactor": 1.0}, "doubleSided": True}
    return {"pbrMetallicRoughness": {"baseColorTexture": {"index": texture_index}, "metallicFactor": 0.0,
                                     "roughnessFactor": 1.0},
            "doubleSided": True, "extensions": {UNLIT: {}}}


def build_textured_glb(parts: Sequence[TexturedPart]) -> GlbContent:
    """One GLB for a tile's parts; photogrammetry surfaces are open, so materials are double-sided."""
    if not parts:
        raise ValueError("a tile needs at least one part")
    lo = np.min([p.positions.min(axis=0) for p in parts], axis=0)
    hi = np.max([p.positions.max(axis=0) for p in parts], axis=0)
    center = np.round((lo + hi) / 2.0, 3)
    buffer = BinaryBuffer()
    accessors: list[dict[str, Any]] = []
    primitives: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    textures: list[dict[str, int]] = []
    materials: list[dict[str, Any]] = []
    material_of: dict[bytes | None, int] = {}  # one material per distinct image
    for part in parts:
        local = part.positions - center
        positions = np.column_stack([local[:, 0], local[:, 2], -local[:, 1]]).astype("<f4")
        attributes = {"POSITION": len(accessors)}
        accessors.append({"bufferView": buffer.add(positions.tobytes(), ARRAY_BUFFER), "componentType": FLOAT,
                          "count": len(positions), "type": "VEC3",
                          "min": [float(v) for v in positions.min(axis=0)],
                          "max": [float(v) for v in positions.max(axis=0)]})
        key = None
        if part.texture is not None and part.uvs is not None:
            attributes["TEXCOORD_0"] = len(accessors)
            accessors.append({"bufferView": buffer.add(part.uvs.astype("<f4").tobytes(), ARRAY_BUFFER),
                              "componentType": FLOAT, "count": len(positions), "type": "VEC2"})
            key = hashlib.sha256(part.texture.data).digest()
        if key not in material_of:
            texture_index = None
            if part.texture is not None:
                images.append({"bufferView": buffer.add(part.texture.data), "mimeType": part.texture.mime_type})
                textures.append({"sampler": 0, "source": len(images) - 1})
                texture_index = len(textures) - 1
            material_of[key] = len(materials)
            materials.append(_material(texture_index))
        small = len(positions) <= 65535
        indices = part.triangles.reshape(-1).astype("<u2" if small else "<u4")
        primitives.append({"attributes": attributes, "indices": len(accessors), "material": material_of[key],
                           "mode": 4})
        accessors.append({"bufferView": buffer.add(indices.tobytes(), ELEMENT_ARRAY_BUFFER),
                          "componentType": UNSIGNED_SHORT if small else UNSIGNED_INT, "count": int(indices.size),
                          "type": "SCALAR"})
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "CityTwin"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "translation": [float(center[0]), float(center[2]), float(-center[1])]}],
        "meshes": [{"primitives": primitives}],
        "materials": materials,
        "accessors": accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": buffer.length}],
    }
    if images:
        gltf.update(images=images, textures=textures, extensionsUsed=[UNLIT],
                    samplers=[{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR, "wrapS": CLAMP_TO_EDGE,
                               "wrapT": CLAMP_TO_EDGE}])
    return GlbContent(pack_glb(gltf, buffer.bytes()), lo, hi)


@dataclass
class TexturedTile:
    """A node of the pyramid: its content (or none), its own geometric error, and its finer children."""

    content: GlbContent | None
    geometric_error: float
    children: list[TexturedTile] = field(default_factory=list)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TexturedTile]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class TexturedTileset(BuiltTileset):
    """A built tileset whose contents carry textures rather than twin-object features."""

    @property
    def content_count(self) -> int:
        return sum(1 for e in self.entries if e.content_type == GLB_TYPE)


def content_path(depth: int, number: int, data: bytes) -> str:
    """`content/{depth}/{number}-{sha256[:12]}.glb`: a path never changes its bytes."""
    return f"content/{depth}/{number}-{hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH]}.glb"


def build_replace_tileset(roots: Sequence[TexturedTile], frame: EnuFrame,
                          layout: dict[str, Any] | None = None) -> TexturedTileset:
    """`tileset.json` plus one GLB per tile with content, under an empty root that holds `roots`.

    A tile's box holds its content and its children's boxes. A child's geometric error stays below its parent's
    (halved where the input says otherwise: REPLACE needs parents coarser than children); leaves get 0.
    """
    if not roots:
        raise ValueError("a tileset needs at least one tile")
    entries: list[TileEntry] = []

    def describe(tile: TexturedTile, depth: int, parent: float) -> tuple[dict[str, Any], NDArray, NDArray]:
        error = tile.geometric_error if tile.geometric_error < parent else parent / 2
        error = error if tile.children else 0.0
        node: dict[str, Any] = {}
        boxes = []
        if tile.content is not None:
            data = tile.content.data
            boxes.append((tile.content.enu_min, tile.content.enu_max))
            path = content_path(depth, len(entries), data)
            entries.append(TileEntry(path, data, GLB_TYPE, depth, error,
                                     enu_bounds(frame, tile.content.enu_min, tile.content.enu_max), (),
                                     (*map(float, tile.content.enu_min), *map(float, tile.content.enu_max))))
            node["content"] = {"uri": path}
        below = [describe(child, depth + 1, error) for child in tile.children]
        boxes += [(b_min, b_max) for _, b_min, b_max in below]
        if not boxes:
            raise ValueError("a tile without content needs children")
        margin = BOX_MARGIN * (1 + bool(below))
        box_min = np.min([b[0] for b in boxes], axis=0) - margin
        box_max = np.max([b[1] for b in boxes], axis=0) + margin
        node = {"boundingVolume": {"box": box_json(box_min, box_max)}, "geometricError": round(error, 3),
                "refine": "REPLACE", **node}
        if below:
            node["children"] = [b[0] for b in below]
        return node, box_min, box_max

    top = max(tile.geometric_error for tile in roots)
    root_nodes = [describe(tile, 1, math.inf) for tile in roots]
    root_min = np.min([r[1] for r in root_nodes], axis=0) - BOX_MARGIN
    root_max = np.max([r[2] for r in root_nodes], axis=0) + BOX_MARGIN
    diagonal = float(np.linalg.norm(root_max - root_min))
    root_error = round(max(2.0 * top, diagonal, 1.0), 3)
    root = {"boundingVolume": {"box": box_json(root_min, root_max)}, "geometricError": root_error,
            "refine": "REPLACE", "children": [r[0] for r in root_nodes],
            "transform": [round(v, 6) for v in frame.transform_matrix()]}
    document = {"asset": {"version": "1.1", "generator": "CityTwin"}, "geometricError": root_error, "root": root}
    description = TileEntry("tileset.json", orjson.dumps(document), TILESET_TYPE, 0, root_error,
                            enu_bounds(frame, root_min, root_max))
    return TexturedTileset([description, *entries],
                           {"frame": [frame.lon, frame.lat, frame.height], "refine": "REPLACE", **(layout or {})})
