"""Plain data handed to the tile builder and returned by it: no I/O, no server concepts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

PropertyValue = str | float | int | None


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh placed on the Earth.

    `positions` are (lon°, lat°, ellipsoidal height m) rows, `normals` are unit vectors in each vertex's own
    east-north-up frame, `triangles` index rows wound counter-clockwise seen from outside; optional `colors` are
    RGBA bytes per vertex (for meshes of several materials, drawn in one primitive).
    """

    positions: NDArray[np.float64]
    normals: NDArray[np.float32]
    triangles: NDArray[np.uint32]
    colors: NDArray[np.uint8] | None = None

    def __post_init__(self) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            raise ValueError("mesh positions must be an (N, 3) array")
        if self.normals.shape != self.positions.shape:
            raise ValueError("mesh normals must match positions")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError("mesh triangles must be an (M, 3) array")
        if self.colors is not None and self.colors.shape != (len(self.positions), 4):
            raise ValueError("mesh colors must be an (N, 4) RGBA array")

    @property
    def vertex_count(self) -> int:
        return int(self.positions.shape[0])


@dataclass(frozen=True)
class Feature:
    """One twin object's geometry and the few properties people style and pick by."""

    id: str
    mesh: Mesh
    properties: dict[str, PropertyValue] = field(default_factory=dict)


@dataclass(frozen=True)
class TileBounds:
    """A tile's extent on the Earth: lon/lat corners of its box and its height range."""

    ring: tuple[tuple[float, float], ...]
    zmin: float
    zmax: float


@dataclass(frozen=True)
class TileEntry:
    """One file of a built tileset: `tileset.json` or a content file."""

    path: str
    content: bytes
    content_type: str
    level: int | None = None
    geometric_error: float | None = None
    bounds: TileBounds | None = None
    feature_ids: tuple[str, ...] = ()
    enu_box: tuple[float, ...] = ()  # content extent in the tileset frame: (min x, y, z, max x, y, z)


@dataclass(frozen=True)
class ContentRef:
    """What a tileset description needs of a content file: where it is, its extent, its SHA-256."""

    path: str
    enu_box: tuple[float, ...]
    digest: str


def content_ref(entry: TileEntry) -> ContentRef:
    return ContentRef(entry.path, entry.enu_box, hashlib.sha256(entry.content).hexdigest())


@dataclass(frozen=True)
class BuiltTileset:
    """Every entry of a tileset; `entries[0]` is the root `tileset.json`.

    `layout` records the placement and options, so that changes can later be tiled into the same tileset.
    """

    entries: list[TileEntry]
    layout: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> TileEntry:
        return self.entries[0]

    @property
    def content_count(self) -> int:
        """Entries that carry features (not `tileset.json` or implicit-tiling subtrees)."""
        return sum(1 for e in self.entries if e.feature_ids)
