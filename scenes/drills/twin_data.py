"""What a drill reads of the twin, gathered before the run by `twin.drills.inputs` so that the simulation itself is
a pure function of (plan, scheme, seed, twin data): the incident building's walkable floors, the units' routes,
the objects around the incident, a terrain grid and live values such as the wind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from scenes.drills.dispatch import UnitRoute


@dataclass(frozen=True)
class TwinObject:
    id: str
    kind: str
    name: str | None
    footprint: BaseGeometry  # lon/lat
    height: float  # metres above the ground


@dataclass(frozen=True)
class Terrain:
    """Ground heights on a regular grid in the drill's local metric frame (x east, y north, metres from the
    incident); `source` says where they came from (an ingested DEM, or the documented generated default)."""

    z: NDArray[np.float64]  # rows from south to north
    cell_m: float
    x0: float
    y0: float
    source: str


@dataclass(frozen=True)
class TwinData:
    floors: dict[str, Any] | None = None
    routes: tuple[UnitRoute, ...] = ()
    objects: tuple[TwinObject, ...] = ()
    terrain: Terrain | None = None
    inlets: tuple[tuple[str, float, float], ...] = ()  # (id, lon, lat): manholes and drains
    roads: tuple[tuple[str, BaseGeometry], ...] = ()  # (id, line lon/lat)
    live: dict[str, float] = field(default_factory=dict)  # e.g. {"wind_speed_m_s": 4.2}
