"""What every ingest hands to the twin: object records, tile features and what went wrong along the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the error and callback types load without shapely or numpy
    from shapely.geometry.base import BaseGeometry

    from tiles.model import Feature

ProgressCallback = Callable[[str, int, int], None]
"""`on_progress(stage, done, total)`."""


class IngestError(ValueError):
    """Input that cannot become a dataset; the message tells the user what to fix."""


@dataclass(frozen=True)
class ObjectRecord:
    """A twin object as ingest sees it: geometry in EPSG:4326 lon/lat, heights in metres."""

    id: str
    kind: str
    name: str | None
    footprint: BaseGeometry
    zmin: float
    zmax: float
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None


@dataclass
class IngestResult:
    """Objects, their tile features, the source CRS and warnings of one ingested input."""

    objects: list[ObjectRecord]
    features: list[Feature]
    source_crs: str
    warnings: list[str] = field(default_factory=list)
    tile_class: str = "feature"


def no_progress(stage: str, done: int, total: int) -> None:
    """A progress callback that ignores progress."""
