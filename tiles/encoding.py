"""Vertex encodings for tile content: plain floats, `KHR_mesh_quantization`, or `KHR_draco_mesh_compression`.

Each encoder writes its buffers into a `BinaryBuffer` and returns the glTF pieces of one primitive: accessors,
primitive extensions, the node transform that undoes quantization, and the extensions it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import DracoPy
import numpy as np
from numpy.typing import NDArray

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
BYTE = 5120
UNSIGNED_BYTE = 5121
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
FLOAT = 5126
QUANTIZED_RANGE = 65535
DRACO_POSITION_BITS = 16
DRACO_NORMAL_BITS = 8
DRACO_LEVEL = 10  # the default compression level (0–10); a tileset may choose its own
# Draco attribute types (position, normal, color, generic) and the glTF semantics we give them.
DRACO_SEMANTICS = {0: "POSITION", 1: "NORMAL", 2: "COLOR_0", 4: "_FEATURE_ID_0"}


class Compression(StrEnum):
    """How vertex data is stored: all three are read by CesiumJS."""

    NONE = "none"
    QUANTIZED = "quantized"
    DRACO = "draco"


class BinaryBuffer:
    """Collects bufferViews into one 8-byte aligned binary chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.views: list[dict[str, int]] = []
        self.length = 0

    def add(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        view: dict[str, int] = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if stride is not None:
            view["byteStride"] = stride
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.parts.append(data)
        self.length += len(data)
        pad = (-self.length) % 8
        if pad:
            self.parts.append(b"\0" * pad)
            self.length += pad
        return len(self.views) - 1

    def bytes(self) -> bytes:
        return b"".join(self.parts)


@dataclass(frozen=True)
class Geometry:
    """One tile's batched triangles, y-up, relative to the tile centre."""

    positions: NDArray[np.float64]  # (N, 3)
    normals: NDArray[np.float32]  # (N, 3), unit length
    feature_ids: NDArray[np.float32]  # (N,)
    triangles: NDArray[np.uint32]  # (M, 3)
    colors: NDArray[np.uint8] | None = None  # (N, 4) RGBA per vertex, or one material colour for all


@dataclass
class EncodedPrimitive:
    """The glTF pieces one encoder produced; accessors are numbered from 0 in this order."""

    accessors: list[dict[str, Any]]
    attributes: dict[str, int]
    indices: int
    extensions: dict[str, Any] = field(default_factory=dict)
    scale: float | None = None
    offset: NDArray[np.float64] | None = None
    used: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)

    def rename_attribute(self, old: str, new: str) -> None:
        """Give a vertex attribute another semantic (in the primitive and in a Draco attribute map)."""
        self.attributes = {new if k == old else k: v for k, v in self.attributes.items()}
        draco = self.extensions.get("KHR_draco_mesh_compression")
        if draco:
            draco["attributes"] = {new if k == old else k: v for k, v in draco["attributes"].items()}


def _bounds(values: NDArray) -> tuple[list[float], list[float]]:
    return [float(v) for v in values.min(axis=0)], [float(v) for v in values.max(axis=0)]


def _index_accessor(geometry: Geometry, buffer: BinaryBuffer | None) -> dict[str, Any]:
    small = len(geometry.positions) <= 65535
    accessor: dict[str, Any] = {"componentType": UNSIGNED_SHORT if small else UNSIGNED_INT,
                                "count": int(geometry.triangles.size), "type": "SCALAR"}
    if buffer is not None:
        data = geometry.triangles.reshape(-1).astype("<u2" if small else "<u4")
        accessor["bufferView"] = buffer.add(data.tobytes(), ELEMENT_ARRAY_BUFFER)
    return accessor


def _with_colors(encoded: EncodedPrimitive, geometry: Geometry, buffer: BinaryBuffer | None) -> EncodedPrimitive:
    """Add COLOR_0 (normalized RGBA bytes) as the last vertex attribute when the geometry has vertex colours."""
    if geometry.colors is None:
        return encoded
    accessor: dict[str, Any] = {"componentType": UNSIGNED_BYTE, "normalized": True,
                                "count": encoded.accessors[0]["count"], "type": "VEC4"}
    if buffer is not None:
        accessor["bufferView"] = buffer.add(np.ascontiguousarray(geometry.colors, dtype=np.uint8).tobytes(),
                                            ARRAY_BUFFER)
    encoded.accessors.append(accessor)
    encoded.attributes["COLOR_0"] = len(encoded.accessors) - 1
    return encoded


def encode_plain(geometry: Geometry, buffer: BinaryBuffer) -> EncodedPrimitive:
    positions = geometry.positions.astype("<f4")
    lo, hi = _bounds(positions)
    accessors = [
        {"bufferView": buffer.add(positions.tobytes(), ARRAY_BUFFER), "componentType": FLOAT,
         "count": len(positions), "type": "VEC3", "min": lo, "max": hi},
        {"bufferView": buffer.add(geometry.normals.astype("<f4").tobytes(), ARRAY_BUFFER), "componentType": FLOAT,
         "count": len(positions), "type": "VEC3"},
        {"bufferView": buffer.add(geometry.feature_ids.astype("<f4").tobytes(), ARRAY_BUFFER),
         "componentType": FLOAT, "count": len(positions), "type": "SCALAR"},
        _index_accessor(geometry, buffer),
    ]
    return _with_colors(EncodedPrimitive(accessors, {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2}, 3),
                        geometry, buffer)


def encode_quantized(geometry: Geometry, buffer: BinaryBuffer) -> EncodedPrimitive:
    """16-bit positions (uniform scale keeps normals right) and 8-bit normals, per `KHR_mesh_quantization`."""
    count = len(geometry.positions)
    offset = geometry.positions.min(axis=0)
    extent = float(np.ptp(geometry.positions, axis=0).max()) or 1.0
    scale = extent / QUANTIZED_RANGE
    quantized = np.zeros((count, 4), dtype="<u2")  # padded to an 8-byte stride
    quantized[:, :3] = np.rint((geometry.positions - offset) / scale)
    normals = np.zeros((count, 4), dtype="<i1")
    normals[:, :3] = np.rint(np.clip(geometry.normals, -1, 1) * 127)
    lo, hi = _bounds(quantized[:, :3])
    accessors = [
        {"bufferView": buffer.add(quantized.tobytes(), ARRAY_BUFFER, stride=8), "componentType": UNSIGNED_SHORT,
         "count": count, "type": "VEC3", "min": lo, "max": hi},
        {"bufferView": buffer.add(normals.tobytes(), ARRAY_BUFFER, stride=4), "componentType": BYTE,
         "normalized": True, "count": count, "type": "VEC3"},
        {"bufferView": buffer.add(geometry.feature_ids.astype("<f4").tobytes(), ARRAY_BUFFER),
         "componentType": FLOAT, "count": count, "type": "SCALAR"},
        _index_accessor(geometry, buffer),
    ]
    encoded = EncodedPrimitive(accessors, {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2}, 3, scale=scale,
                               offset=offset, used=["KHR_mesh_quantization"], required=["KHR_mesh_quantization"])
    return _with_colors(encoded, geometry, buffer)


def encode_draco(geometry: Geometry, buffer: BinaryBuffer, level: int = DRACO_LEVEL) -> EncodedPrimitive:
    """Draco edgebreaker with 16-bit positions, 8-bit normals and exact feature ids, at compression `level`."""
    data = DracoPy.encode(
        geometry.positions, geometry.triangles, quantization_bits=DRACO_POSITION_BITS,
        compression_level=level, normals=geometry.normals.astype(np.float64),
        normal_quantization_bits=DRACO_NORMAL_BITS,
        generic_attributes={0: geometry.feature_ids.reshape(-1, 1)}, colors=geometry.colors,
    )
    decoded = DracoPy.decode(data)  # the decoder's vertex count is what the accessors must declare
    ids = {DRACO_SEMANTICS[a["attribute_type"]]: a["unique_id"] for a in decoded.attributes}
    count = len(decoded.points)
    lo, hi = _bounds(decoded.points)
    accessors = [
        {"componentType": FLOAT, "count": count, "type": "VEC3", "min": lo, "max": hi},
        {"componentType": FLOAT, "count": count, "type": "VEC3"},
        {"componentType": FLOAT, "count": count, "type": "SCALAR"},
        {**_index_accessor(geometry, None), "count": int(len(decoded.faces) * 3),
         "componentType": UNSIGNED_SHORT if count <= 65535 else UNSIGNED_INT},
    ]
    extension = {"bufferView": buffer.add(data), "attributes": ids}
    encoded = EncodedPrimitive(accessors, {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2}, 3,
                               extensions={"KHR_draco_mesh_compression": extension},
                               used=["KHR_draco_mesh_compression"], required=["KHR_draco_mesh_compression"])
    return _with_colors(encoded, geometry, None)


ENCODERS = {Compression.NONE: encode_plain, Compression.QUANTIZED: encode_quantized,
            Compression.DRACO: encode_draco}
