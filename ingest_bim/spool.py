"""A temporary on-disk store of mesh parts grouped into buckets, so a model's meshes are never all in memory.

Ingest appends each element's parts (one per surface colour) as the geometry iterator produces them; the tiler
then reads one layer at a time back as tile `Feature`s, each element's parts merged into one mesh with vertex
colours.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ingest_bim.geometry import Part, Rgba
from tiles.model import Feature, Mesh, PropertyValue

BucketKey = tuple[str, Rgba]  # (layer, colour)


@dataclass(frozen=True)
class _Entry:
    feature_id: str
    offset: int
    vertices: int
    triangles: int


class FeatureSpool:
    """Append parts by bucket; read a bucket back as features. Close (or use as a context) to free the file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="citytwin-ifc-")  # noqa: SIM115 (lives as long as the spool)
        self._end = 0
        self._buckets: dict[BucketKey, list[_Entry]] = defaultdict(list)
        self._properties: dict[str, dict[str, PropertyValue]] = {}
        self.bytes_written = 0

    def __enter__(self) -> FeatureSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def add(self, layer: str, feature_id: str, properties: dict[str, PropertyValue], part: Part) -> None:
        positions = np.ascontiguousarray(part.positions, dtype="<f8")
        normals = np.ascontiguousarray(part.normals, dtype="<f4")
        triangles = np.ascontiguousarray(part.triangles, dtype="<u4")
        self._file.seek(self._end)
        for array in (positions, normals, triangles):
            self._file.write(array.tobytes())
        entry = _Entry(feature_id, self._end, len(positions), len(triangles))
        size = positions.nbytes + normals.nbytes + triangles.nbytes
        self._end += size
        self.bytes_written += size
        self._buckets[(layer, part.rgba)].append(entry)
        self._properties[feature_id] = properties

    def feature_ids(self) -> set[str]:
        return set(self._properties)

    @property
    def layers(self) -> list[str]:
        return sorted({layer for layer, _ in self._buckets})

    def _read(self, entry: _Entry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._file.seek(entry.offset)
        data = self._file.read(entry.vertices * 36 + entry.triangles * 12)
        positions = np.frombuffer(data, "<f8", entry.vertices * 3, 0).reshape(-1, 3)
        normals = np.frombuffer(data, "<f4", entry.vertices * 3, entry.vertices * 24).reshape(-1, 3)
        triangles = np.frombuffer(data, "<u4", entry.triangles * 3, entry.vertices * 36).reshape(-1, 3)
        return positions, normals, triangles

    def layer_features(self, layer: str) -> list[Feature]:
        """The layer's features, all parts of an element merged into one mesh coloured per vertex."""
        grouped: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
        for (bucket_layer, rgba), entries in sorted(self._buckets.items()):
            if bucket_layer != layer:
                continue
            colour = np.round(np.array(rgba) * 255).astype(np.uint8)
            for entry in entries:
                positions, normals, triangles = self._read(entry)
                grouped[entry.feature_id].append(
                    (positions, normals, triangles, np.tile(colour, (len(positions), 1))))
        features = []
        for feature_id, parts in sorted(grouped.items()):
            offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
            mesh = Mesh(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                        np.concatenate([p[2] + np.uint32(o) for p, o in zip(parts, offsets, strict=True)]),
                        np.concatenate([p[3] for p in parts]))
            features.append(Feature(feature_id, mesh, self._properties[feature_id]))
        return features
