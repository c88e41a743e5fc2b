"""A temporary on-disk store of element meshes by layer, so a model's meshes are never all in memory.

Ingest appends each batch of meshes as the geometry iterator produces them, each element's parts (one per surface
colour, in colour order) already merged into one mesh with vertex colours: positions and normals (both in ECEF,
converted while the iterator runs), triangles and RGBA bytes as four blocks, every element a contiguous slice of
each. The tiler then reads one layer at a time back, through a memory map, as tile `Feature`s in the tileset's
east-north-up frame (the centre of everything spooled: one matrix product per batch) whose triangles and
colours are views of the file.
"""

from __future__ import annotations

import mmap
import tempfile
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from ingest_bim.meshing import MeshBatch
from tiles.geodesy import EnuFrame, geodetic_to_ecef_with_vectors
from tiles.model import Feature, Mesh, PropertyValue


class _Block(NamedTuple):
    """One batch in the spool file: byte offsets of its four arrays and its vertex and triangle counts."""

    positions: int
    normals: int
    triangles: int
    colours: int
    vertices: int
    triangle_count: int


class _Entry(NamedTuple):
    """One element's mesh: rows `v0:v1` of its batch's vertex arrays and `t0:t1` of its triangles."""

    feature_id: str
    batch: int
    v0: int
    v1: int
    t0: int
    t1: int


def _merged_by_shape(batch: MeshBatch) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The batch's arrays rearranged so that each shape's parts (in colour order) form one mesh coloured per
    vertex: (positions, normals, triangles indexed within the shape, RGBA bytes), and per shape the start of
    its vertices and triangles (one more than there are shapes)."""
    vertex_start, triangle_start = batch.vertex_start, batch.triangle_start
    rank = np.argsort(np.argsort(np.array(batch.colours, dtype=np.float64).view("f8,f8,f8,f8").ravel()))
    order = np.lexsort((rank[batch.part_colour], batch.part_shape))  # a shape's parts, by colour
    vertex_count = np.diff(vertex_start)[order]
    triangle_count = np.diff(triangle_start)[order]
    new_vertex_start = np.concatenate([[0], np.cumsum(vertex_count)])
    new_triangle_start = np.concatenate([[0], np.cumsum(triangle_count)])
    vertex_index = np.repeat(vertex_start[:-1][order] - new_vertex_start[:-1], vertex_count) + np.arange(
        new_vertex_start[-1])
    triangle_index = np.repeat(triangle_start[:-1][order] - new_triangle_start[:-1], triangle_count) + np.arange(
        new_triangle_start[-1])
    shapes = batch.part_shape[order]
    shape_vertex_start = np.searchsorted(shapes, np.arange(len(batch.shapes) + 1))
    shape_first_vertex = new_vertex_start[shape_vertex_start[:-1]]
    part_offset = new_vertex_start[:-1] - shape_first_vertex[shapes]  # part's first vertex within its shape
    triangles = batch.triangles[triangle_index] + np.repeat(part_offset, triangle_count).astype(np.uint32)[:, None]
    rgba = np.round(np.array(batch.colours, dtype=np.float64) * 255).astype(np.uint8)
    colours = np.repeat(rgba[batch.part_colour[order]], vertex_count, axis=0)
    positions, normals = batch.positions[vertex_index], batch.normals[vertex_index]
    lon, lat = positions[:, 0], positions[:, 1]
    xyz, vectors = geodetic_to_ecef_with_vectors(lon, lat, positions[:, 2], normals)
    arrays = [np.ascontiguousarray(xyz, dtype="<f8"), np.ascontiguousarray(vectors, dtype="<f8"),
              np.ascontiguousarray(triangles, dtype="<u4"), np.ascontiguousarray(colours)]
    return arrays, new_vertex_start[shape_vertex_start], new_triangle_start[shape_vertex_start]


class FeatureSpool:
    """Append batches; read a layer back as features. Close (or use as a context) to free the file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="citytwin-ifc-")  # noqa: SIM115 (lives as long as the spool)
        self._map: mmap.mmap | None = None
        self._layers: dict[str, list[_Entry]] = defaultdict(list)
        self._blocks: list[_Block] = []
        self._properties: dict[str, dict[str, PropertyValue]] = {}
        self._lo = np.full(2, np.inf)  # lon/lat extent of every vertex spooled
        self._hi = np.full(2, -np.inf)
        self.bytes_written = 0

    def __enter__(self) -> FeatureSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._map = None  # meshes read from it keep the map alive as long as they live
        self._file.close()

    def add_batch(self, batch: MeshBatch, feature_ids: list[str], layers: list[str],
                  properties: list[dict[str, PropertyValue]]) -> None:
        """Append a batch; shape `i` of the batch is the feature `feature_ids[i]` in layer `layers[i]`."""
        blocks, vertex_start, triangle_start = _merged_by_shape(batch)
        if len(batch.positions):
            self._lo = np.minimum(self._lo, batch.positions[:, :2].min(axis=0))
            self._hi = np.maximum(self._hi, batch.positions[:, :2].max(axis=0))
        base = self.bytes_written
        offsets = []
        for block in blocks:
            self._file.write(block.tobytes())
            offsets.append(base)
            base += block.nbytes
        self.bytes_written = base
        batch_number = len(self._blocks)
        positions, normals, triangles, colours = offsets
        self._blocks.append(_Block(positions, normals, triangles, colours, len(blocks[0]), len(blocks[2])))
        for shape, (v0, v1, t0, t1) in enumerate(zip(vertex_start[:-1].tolist(), vertex_start[1:].tolist(),
                                                     triangle_start[:-1].tolist(), triangle_start[1:].tolist(),
                                                     strict=True)):
            self._layers[layers[shape]].append(_Entry(feature_ids[shape], batch_number, v0, v1, t0, t1))
        self._properties.update(zip(feature_ids, properties, strict=True))

    def feature_ids(self) -> set[str]:
        return set(self._properties)

    @property
    def layers(self) -> list[str]:
        return sorted(layer for layer, entries in self._layers.items() if entries)

    @property
    def frame(self) -> EnuFrame:
        """The tileset's ENU frame: the centre of the lon/lat extent of every vertex, on the ellipsoid."""
        if not np.isfinite(self._lo).all():
            raise ValueError("the spool holds no vertex")
        lo, hi = self._lo, self._hi
        return EnuFrame(round(float(lo[0] + hi[0]) / 2, 9), round(float(lo[1] + hi[1]) / 2, 9), 0.0)

    def _data(self) -> mmap.mmap:
        if self._map is None:
            self._file.flush()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def _arrays(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A batch's positions and normals in `frame`, triangles and colours as views of the file."""
        data, block, frame = self._data(), self._blocks[batch], self.frame
        return (frame.from_ecef(np.frombuffer(data, "<f8", block.vertices * 3, block.positions).reshape(-1, 3)),
                frame.vectors_from_ecef(np.frombuffer(data, "<f8", block.vertices * 3, block.normals).reshape(-1, 3)),
                np.frombuffer(data, "<u4", block.triangle_count * 3, block.triangles).reshape(-1, 3),
                np.frombuffer(data, np.uint8, block.vertices * 4, block.colours).reshape(-1, 4))

    def layer_features(self, layer: str) -> list[Feature]:
        """The layer's features by id, each element one mesh coloured per vertex, positions and normals in the
        spool's `frame`."""
        arrays: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        features: list[Feature] = []
        for e in sorted(self._layers.get(layer, ()), key=lambda e: e.feature_id):
            if e.batch not in arrays:
                arrays[e.batch] = self._arrays(e.batch)
            positions, normals, triangles, colours = arrays[e.batch]
            mesh = Mesh(positions[e.v0:e.v1], normals[e.v0:e.v1], triangles[e.t0:e.t1], colours[e.v0:e.v1])
            if features and features[-1].id == e.feature_id:  # an element met twice: one mesh of both
                mesh = _joined(features.pop().mesh, mesh)
            features.append(Feature(e.feature_id, mesh, self._properties[e.feature_id]))
        return features


def _joined(a: Mesh, b: Mesh) -> Mesh:
    assert a.colors is not None and b.colors is not None
    return Mesh(np.concatenate([a.positions, b.positions]), np.concatenate([a.normals, b.normals]),
                np.concatenate([a.triangles, b.triangles + np.uint32(len(a.positions))]),
                np.concatenate([a.colors, b.colors]))
