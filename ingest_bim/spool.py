"""A temporary on-disk store of mesh parts grouped into buckets, so a model's meshes are never all in memory.

Ingest appends each batch of meshes (positions, normals and triangles as three blocks) as the geometry iterator
produces them, and notes where each part (one element in one surface colour) lies; the tiler then reads one
layer at a time back, through a memory map, as tile `Feature`s, each element's parts merged into one mesh with
vertex colours.
"""

from __future__ import annotations

import mmap
import tempfile
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from ingest_bim.meshing import MeshBatch, Rgba
from tiles.model import Feature, Mesh, PropertyValue

BucketKey = tuple[str, Rgba]  # (layer, colour)


class _Entry(NamedTuple):
    feature_id: str
    positions: int  # byte offsets of the part's three arrays
    normals: int
    triangles: int
    vertices: int
    triangle_count: int


class FeatureSpool:
    """Append batches; read a layer back as features. Close (or use as a context) to free the file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="citytwin-ifc-")  # noqa: SIM115 (lives as long as the spool)
        self._map: mmap.mmap | None = None
        self._buckets: dict[BucketKey, list[_Entry]] = defaultdict(list)
        self._properties: dict[str, dict[str, PropertyValue]] = {}
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
        blocks = [np.ascontiguousarray(batch.positions, dtype="<f8"), np.ascontiguousarray(batch.normals, "<f4"),
                  np.ascontiguousarray(batch.triangles, dtype="<u4")]
        base = self.bytes_written
        for block in blocks:
            self._file.write(block.tobytes())
        self.bytes_written += sum(b.nbytes for b in blocks)
        positions, normals, triangles = base, base + blocks[0].nbytes, base + blocks[0].nbytes + blocks[1].nbytes
        vertex_start, triangle_start = batch.vertex_start.tolist(), batch.triangle_start.tolist()
        for part, (shape, colour) in enumerate(zip(batch.part_shape.tolist(), batch.part_colour.tolist(),
                                                   strict=True)):
            v0, t0 = vertex_start[part], triangle_start[part]
            self._buckets[(layers[shape], batch.colours[colour])].append(_Entry(
                feature_ids[shape], positions + v0 * 24, normals + v0 * 12, triangles + t0 * 12,
                vertex_start[part + 1] - v0, triangle_start[part + 1] - t0))
        self._properties.update(zip(feature_ids, properties, strict=True))

    def feature_ids(self) -> set[str]:
        return set(self._properties)

    @property
    def layers(self) -> list[str]:
        return sorted({layer for layer, _ in self._buckets})

    def _data(self) -> mmap.mmap:
        if self._map is None:
            self._file.flush()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def layer_features(self, layer: str) -> list[Feature]:
        """The layer's features, all parts of an element merged into one mesh coloured per vertex."""
        data = self._data()
        grouped: dict[str, list[tuple[_Entry, np.ndarray]]] = defaultdict(list)
        buckets = [(rgba, entries) for (name, rgba), entries in sorted(self._buckets.items()) if name == layer]
        longest = max((e.vertices for _, entries in buckets for e in entries), default=0)
        for rgba, entries in buckets:
            # one long run of the colour; every part takes a slice of it
            colour = np.tile(np.round(np.array(rgba) * 255).astype(np.uint8), (longest, 1))
            for entry in entries:
                grouped[entry.feature_id].append((entry, colour))
        features = []
        for feature_id, parts in sorted(grouped.items()):
            if len(parts) == 1:
                (entry, colour), = parts
                mesh = Mesh(np.frombuffer(data, "<f8", entry.vertices * 3, entry.positions).reshape(-1, 3),
                            np.frombuffer(data, "<f4", entry.vertices * 3, entry.normals).reshape(-1, 3),
                            np.frombuffer(data, "<u4", entry.triangle_count * 3, entry.triangles).reshape(-1, 3),
                            colour[:entry.vertices])
            else:
                offsets = np.cumsum([0] + [e.vertices for e, _ in parts[:-1]])
                mesh = Mesh(
                    np.concatenate([np.frombuffer(data, "<f8", e.vertices * 3, e.positions) for e, _ in parts]
                                   ).reshape(-1, 3),
                    np.concatenate([np.frombuffer(data, "<f4", e.vertices * 3, e.normals) for e, _ in parts]
                                   ).reshape(-1, 3),
                    np.concatenate([np.frombuffer(data, "<u4", e.triangle_count * 3, e.triangles) + np.uint32(o)
                                    for (e, _), o in zip(parts, offsets, strict=True)]).reshape(-1, 3),
                    np.concatenate([c[:e.vertices] for e, c in parts]))
            features.append(Feature(feature_id, mesh, self._properties[feature_id]))
        return features
