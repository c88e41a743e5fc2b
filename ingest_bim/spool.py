"""A temporary on-disk store of mesh parts grouped into buckets, so a model's meshes are never all in memory.

Ingest appends each element's parts as the geometry iterator produces them; the tiler then reads one bucket
at a time back as tile `Feature`s (parts of one feature in one bucket are merged into one mesh).
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

    @property
    def buckets(self) -> list[BucketKey]:
        """Bucket keys in a stable order: by layer, then colour."""
        return sorted(self._buckets)

    def feature_ids(self) -> set[str]:
        return set(self._properties)

    def features(self, bucket: BucketKey) -> list[Feature]:
        """The bucket's features, each feature's parts merged into one mesh."""
        grouped: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
        for entry in self._buckets[bucket]:
            self._file.seek(entry.offset)
            data = self._file.read(entry.vertices * 36 + entry.triangles * 12)
            positions = np.frombuffer(data, "<f8", entry.vertices * 3, 0).reshape(-1, 3)
            normals = np.frombuffer(data, "<f4", entry.vertices * 3, entry.vertices * 24).reshape(-1, 3)
            triangles = np.frombuffer(data, "<u4", entry.triangles * 3, entry.vertices * 36).reshape(-1, 3)
            grouped[entry.feature_id].append((positions, normals, triangles))
        features = []
        for feature_id, parts in grouped.items():
            if len(parts) == 1:
                positions, normals, triangles = parts[0]
            else:
                offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
                positions = np.concatenate([p[0] for p in parts])
                normals = np.concatenate([p[1] for p in parts])
                triangles = np.concatenate([p[2] + np.uint32(o) for p, o in zip(parts, offsets, strict=True)])
            features.append(Feature(feature_id, Mesh(positions, normals, triangles), self._properties[feature_id]))
        return features
