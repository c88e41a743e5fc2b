"""GLB writer for batched feature meshes with `EXT_mesh_features` and `EXT_structural_metadata`.

Content is written y-up (x = east, y = up, z = −north) as 3D Tiles 1.1 expects of glTF; one primitive per
tile, a float feature-id attribute indexing one property table row per feature.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.encoding import DRACO_LEVEL, ENCODERS, BinaryBuffer, Compression, Geometry, encode_draco
from tiles.geodesy import EnuFrame
from tiles.model import Feature, PropertyValue

DEFAULT_COLOR = (0.86, 0.86, 0.83, 1.0)


@dataclass(frozen=True)
class GlbContent:
    """A GLB and the extent of its geometry in the tileset's ENU frame."""

    data: bytes
    enu_min: NDArray[np.float64]
    enu_max: NDArray[np.float64]


def _property_kind(values: Sequence[PropertyValue]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "number"
    return "string"


def _property_table(
    features: Sequence[Feature], buffer: BinaryBuffer
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, int | str]]]:
    keys = sorted({key for f in features for key in f.properties} | {"id"})
    class_properties: dict[str, dict[str, str]] = {}
    table: dict[str, dict[str, int | str]] = {}
    for key in keys:
        values = [f.id if key == "id" else f.properties.get(key) for f in features]
        if all(v is None for v in values):
            continue  # no data in this tile: leave the property out rather than write empty buffers
        if _property_kind(values) == "number":
            numbers = np.array([math.nan if v is None else float(v) for v in values], dtype="<f8")
            class_properties[key] = {"type": "SCALAR", "componentType": "FLOAT64"}
            table[key] = {"values": buffer.add(numbers.tobytes())}
        else:
            encoded = [b"" if v is None else str(v).encode("utf-8") for v in values]
            offsets = np.zeros(len(encoded) + 1, dtype="<u4")
            offsets[1:] = np.cumsum([len(e) for e in encoded])
            class_properties[key] = {"type": "STRING"}
            table[key] = {
                "values": buffer.add(b"".join(encoded)),
                "stringOffsets": buffer.add(offsets.tobytes()),
                "stringOffsetType": "UINT32",
            }
    return class_properties, table


def _vertex_colors(features: Sequence[Feature], color: tuple[float, float, float, float]) -> NDArray[np.uint8] | None:
    """RGBA bytes per vertex when any feature has vertex colours (the others get the tile colour), else None."""
    if all(f.mesh.colors is None for f in features):
        return None
    fill = np.round(np.array(color) * 255).astype(np.uint8)
    return np.concatenate([f.mesh.colors if f.mesh.colors is not None
                           else np.tile(fill, (f.mesh.vertex_count, 1)) for f in features])


def build_glb(
    features: Sequence[Feature],
    frame: EnuFrame,
    *,
    class_name: str = "feature",
    color: tuple[float, float, float, float] = DEFAULT_COLOR,
    compression: Compression = Compression.DRACO,
    batch_ids: bool = False,
    draco_level: int = DRACO_LEVEL,
    local: bool = False,
) -> GlbContent:
    """Batch `features` into one GLB whose vertices are in `frame`'s ENU axes, y-up.

    With `local` the features' positions and normals are already in `frame`'s ENU axes (not geodetic).

    With `batch_ids` the GLB is for 3D Tiles 1.0 b3dm: a `_BATCHID` attribute instead of the 1.1 extensions
    (the properties then go to the b3dm batch table).
    """
    if not features:
        raise ValueError("a tile needs at least one feature")
    counts = np.array([f.mesh.vertex_count for f in features])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    positions = np.concatenate([f.mesh.positions for f in features])
    normals = np.concatenate([f.mesh.normals for f in features])
    if local:
        enu, n_enu = positions, normals.astype(np.float64, copy=False)
    else:
        lon, lat, h = positions[:, 0], positions[:, 1], positions[:, 2]
        enu, n_enu = frame.from_geodetic(lon, lat, h), frame.normals_from_local(lon, lat, normals)
    enu_min, enu_max = enu.min(axis=0), enu.max(axis=0)
    center = np.round((enu_min + enu_max) / 2.0, 3)
    centred = enu - center
    n_yup = np.column_stack([n_enu[:, 0], n_enu[:, 2], -n_enu[:, 1]])
    n_yup /= np.linalg.norm(n_yup, axis=1, keepdims=True)
    geometry = Geometry(
        positions=np.column_stack([centred[:, 0], centred[:, 2], -centred[:, 1]]),
        normals=n_yup.astype(np.float32),
        feature_ids=np.repeat(np.arange(len(features), dtype=np.float32), counts),
        triangles=np.concatenate([f.mesh.triangles.astype(np.int64) + start
                                  for f, start in zip(features, starts, strict=True)]).astype(np.uint32),
        colors=_vertex_colors(features, color),
    )
    buffer = BinaryBuffer()
    kind = Compression(compression)
    encoded = (encode_draco(geometry, buffer, draco_level) if kind is Compression.DRACO
               else ENCODERS[kind](geometry, buffer))
    if batch_ids:
        encoded.rename_attribute("_FEATURE_ID_0", "_BATCHID")
    else:
        class_properties, table = _property_table(features, buffer)

    node: dict[str, Any] = {"mesh": 0, "translation": [float(center[0]), float(center[2]), float(-center[1])]}
    if encoded.scale is not None and encoded.offset is not None:
        node["translation"] = [round(float(c + o), 6) for c, o in zip(node["translation"], encoded.offset,
                                                                       strict=True)]
        node["scale"] = [encoded.scale] * 3
    primitive: dict[str, Any] = {
        "attributes": encoded.attributes,
        "indices": encoded.indices,
        "material": 0,
        "mode": 4,
        "extensions": dict(encoded.extensions),
    }
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "CityTwin"},
        "extensionsUsed": list(encoded.used),
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [node],
        "meshes": [{"primitives": [primitive]}],
        "materials": [
            {
                "pbrMetallicRoughness": {
                    "baseColorFactor": [1.0, 1.0, 1.0, 1.0] if geometry.colors is not None else list(color),
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
                "doubleSided": False,
            }
        ],
        "accessors": encoded.accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": buffer.length}],
    }
    if not batch_ids:
        primitive["extensions"]["EXT_mesh_features"] = {
            "featureIds": [{"featureCount": len(features), "attribute": 0, "propertyTable": 0}]
        }
        gltf["extensionsUsed"] = ["EXT_mesh_features", "EXT_structural_metadata", *encoded.used]
        gltf["extensions"] = {"EXT_structural_metadata": {
            "schema": {"id": "citytwin", "classes": {class_name: {"properties": class_properties}}},
            "propertyTables": [{"class": class_name, "count": len(features), "properties": table}],
        }}
    if not primitive["extensions"]:
        del primitive["extensions"]
    if not gltf["extensionsUsed"]:
        del gltf["extensionsUsed"]
    if encoded.required:
        gltf["extensionsRequired"] = encoded.required
    return GlbContent(pack_glb(gltf, buffer.bytes()), enu_min, enu_max)


def pack_glb(gltf: dict[str, object], binary: bytes) -> bytes:
    """Pack a glTF JSON document and its binary chunk into GLB bytes (deterministic)."""
    json_chunk = orjson.dumps(gltf)
    json_chunk += b" " * ((-len(json_chunk)) % 4)
    binary += b"\0" * ((-len(binary)) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(json_chunk), b"JSON"),
            json_chunk,
            struct.pack("<I4s", len(binary), b"BIN\0"),
            binary,
        ]
    )


def unpack_glb(data: bytes) -> tuple[dict[str, object], bytes]:
    """Split GLB bytes into the glTF JSON document and the binary chunk."""
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2 or total != len(data):
        raise ValueError("not a glTF 2.0 binary")
    json_length, _ = struct.unpack_from("<I4s", data, 12)
    gltf = orjson.loads(data[20 : 20 + json_length])
    offset = 20 + json_length
    binary = b""
    if offset < len(data):
        bin_length, _ = struct.unpack_from("<I4s", data, offset)
        binary = data[offset + 8 : offset + 8 + bin_length]
    return gltf, binary
