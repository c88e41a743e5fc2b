"""Quantized-mesh 1.0 tiles: written with `quantized-mesh-encoder`, read back by an independent reader.

The encoder's own `encode` casts lon/lat to float32 before quantising, which at a tile of a few hundred metres
moves vertices by several quantisation steps and loses the edge vertices Cesium hangs its skirts on. So the
header, vertex, index, edge and extension writers of the encoder are called here with u/v/h quantised in float64
and rounded (edges exactly 0 and 32767). Every tile carries the oct-encoded vertex normals extension.

`read_tile` parses the format as the specification describes it (header, zig-zag delta vertices, high-water-mark
indices, edge lists, extensions), with no code of the encoder; `without_extensions` cuts a tile before its
extensions, for clients that did not ask for them.

Tiles of levels 0 and 1 span 90° or more: no point can stand for them in horizon culling, and their horizon
occlusion point is NaN, which Cesium (like an undefined point) never culls.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from quantized_mesh_encoder.encode import (
    compute_header,
    encode_header,
    write_edge_indices,
    write_indices,
    write_vertices,
)
from quantized_mesh_encoder.extensions import ExtensionId, VertexNormalsExtension

from tiles.terrain.mesh import TileMesh

HEADER = struct.Struct("<3d2f4d3d")
QUANTIZED_MAX = 32767
NORMALS_EXTENSION = int(ExtensionId.VERTEX_NORMALS)


def quantize(positions: NDArray[np.float64], bounds: tuple[float, float, float, float]) -> NDArray[np.int16]:
    """u, v over the tile bounds and h over the tile's height range, each 0–32767, rounded."""
    west, south, east, north = bounds
    low, high = float(positions[:, 2].min()), float(positions[:, 2].max())
    u = (positions[:, 0] - west) / (east - west)
    v = (positions[:, 1] - south) / (north - south)
    h = (positions[:, 2] - low) / (high - low) if high > low else np.zeros(len(positions))
    scaled = np.rint(np.clip(np.column_stack([u, v, h]), 0.0, 1.0) * QUANTIZED_MAX)
    return scaled.astype(np.int16)


def encode_tile(mesh: TileMesh) -> bytes:
    """The quantized-mesh bytes of a tile mesh, with vertex normals."""
    positions = np.ascontiguousarray(mesh.positions, dtype=np.float64)
    triangles = np.ascontiguousarray(mesh.triangles, dtype=np.uint32)
    out = io.BytesIO()
    with np.errstate(divide="ignore", invalid="ignore"):  # tiles of 90° and more: no finite occlusion point
        encode_header(out, compute_header(positions, "naive"))
    uvh = quantize(positions, mesh.bounds)
    write_vertices(out, uvh, len(uvh))
    write_indices(out, triangles, len(uvh))
    write_edge_indices(out, uvh, len(uvh))
    out.write(VertexNormalsExtension(indices=triangles, positions=positions).encode())
    return out.getvalue()


@dataclass(frozen=True)
class DecodedTile:
    """A quantized-mesh tile as read: header values, quantised vertices, triangles, edges and extensions."""

    center: tuple[float, float, float]
    min_height: float
    max_height: float
    bounding_sphere: tuple[float, float, float, float]
    horizon_occlusion: tuple[float, float, float]
    u: NDArray[np.int64]
    v: NDArray[np.int64]
    h: NDArray[np.int64]
    triangles: NDArray[np.int64]
    edges: dict[str, NDArray[np.int64]]
    extensions: dict[int, bytes]
    base_length: int  # bytes before the first extension

    def heights(self) -> NDArray[np.float64]:
        return self.min_height + self.h / QUANTIZED_MAX * (self.max_height - self.min_height)

    def lonlat(self, bounds: tuple[float, float, float, float]) -> NDArray[np.float64]:
        west, south, east, north = bounds
        return np.column_stack([west + self.u / QUANTIZED_MAX * (east - west),
                                south + self.v / QUANTIZED_MAX * (north - south)])


def _zigzag_deltas(raw: NDArray[np.uint16]) -> NDArray[np.int64]:
    values = raw.astype(np.int64)
    return np.cumsum((values >> 1) ^ -(values & 1))


def _high_water_mark(codes: NDArray[np.int64]) -> NDArray[np.int64]:
    """Indices from high-water-mark codes: each code counts down from the highest index seen so far + 1."""
    highest = np.concatenate([[0], np.cumsum(codes == 0)[:-1]]).astype(np.int64)
    return highest - codes


def read_tile(data: bytes) -> DecodedTile:
    """Parse a quantized-mesh 1.0 tile; ValueError when the bytes are not one."""
    if len(data) < HEADER.size + 4:
        raise ValueError("too short for a quantized-mesh tile")
    values = HEADER.unpack_from(data, 0)
    offset = HEADER.size
    (count,) = struct.unpack_from("<I", data, offset)
    offset += 4
    if offset + 6 * count > len(data):
        raise ValueError("vertex data runs past the end")
    raw = np.frombuffer(data, dtype="<u2", count=3 * count, offset=offset).reshape(3, count)
    offset += 6 * count
    wide = count > 65536
    index_type, width = ("<u4", 4) if wide else ("<u2", 2)
    offset += (-offset) % width
    (triangle_count,) = struct.unpack_from("<I", data, offset)
    offset += 4
    codes = np.frombuffer(data, dtype=index_type, count=3 * triangle_count, offset=offset).astype(np.int64)
    offset += 3 * triangle_count * width
    edges: dict[str, NDArray[np.int64]] = {}
    for side in ("west", "south", "east", "north"):
        (n,) = struct.unpack_from("<I", data, offset)
        offset += 4
        edges[side] = np.frombuffer(data, dtype=index_type, count=n, offset=offset).astype(np.int64)
        offset += n * width
    base_length = offset
    extensions: dict[int, bytes] = {}
    while offset < len(data):
        ext_id, length = struct.unpack_from("<BI", data, offset)
        offset += 5
        if offset + length > len(data):
            raise ValueError("an extension runs past the end")
        extensions[ext_id] = data[offset : offset + length]
        offset += length
    return DecodedTile(tuple(values[0:3]), values[3], values[4], tuple(values[5:9]), tuple(values[9:12]),
                       _zigzag_deltas(raw[0]), _zigzag_deltas(raw[1]), _zigzag_deltas(raw[2]),
                       _high_water_mark(codes).reshape(-1, 3), edges, extensions, base_length)


def without_extensions(data: bytes) -> bytes:
    """The tile cut before its extensions (what a client asking for none gets)."""
    return data[: read_tile(data).base_length]


def decode_normals(extension: bytes) -> NDArray[np.float64]:
    """Unit vectors (ECEF) from the oct-encoded normals extension."""
    xy = np.frombuffer(extension, dtype=np.uint8).reshape(-1, 2).astype(np.float64) / 255.0 * 2.0 - 1.0
    z = 1.0 - np.abs(xy[:, 0]) - np.abs(xy[:, 1])
    x, y = xy[:, 0].copy(), xy[:, 1].copy()
    negative = z < 0
    x[negative] = (1.0 - np.abs(xy[negative, 1])) * np.sign(xy[negative, 0])
    y[negative] = (1.0 - np.abs(xy[negative, 0])) * np.sign(xy[negative, 1])
    normals = np.column_stack([x, y, z])
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)
