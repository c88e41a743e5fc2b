"""Which cameras see a point: within the camera's range and inside its horizontal field of view around its
heading (degrees clockwise from north, geodesic azimuth on WGS84). Attributes `heading`, `fov` (degrees, default
`DEFAULT_FOV`) and `range_m` (default `DEFAULT_RANGE_M`); a camera without a heading (a dome) sees all around."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pyproj import Geod

DEFAULT_FOV = 60.0
DEFAULT_RANGE_M = 100.0
MAX_RANGE_M = 2000.0
EDGE_TOLERANCE_M, EDGE_TOLERANCE_DEG = 1e-6, 1e-7  # geodesic round trips, far below any camera's precision
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class View:
    heading: float | None
    fov: float
    range_m: float


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def view_of(attributes: dict[str, Any]) -> View:
    """A camera's view from its attributes; unusable values take the defaults."""
    heading = _number(attributes.get("heading"))
    fov = _number(attributes.get("fov"))
    range_m = _number(attributes.get("range_m"))
    return View(heading % 360 if heading is not None else None,
                fov if fov is not None and 0 < fov <= 360 else DEFAULT_FOV,
                min(range_m, MAX_RANGE_M) if range_m is not None and range_m > 0 else DEFAULT_RANGE_M)


def sight(camera: tuple[float, float], target: tuple[float, float]) -> tuple[float, float]:
    """(azimuth degrees clockwise from north, geodesic metres) from the camera to the target."""
    azimuth, _, metres = _GEOD.inv(camera[0], camera[1], target[0], target[1])
    return azimuth % 360, metres


def covers(camera: tuple[float, float], view: View, target: tuple[float, float]) -> bool:
    """Whether the target is in range and inside the field of view (both edges included)."""
    azimuth, metres = sight(camera, target)
    if metres > view.range_m + EDGE_TOLERANCE_M:
        return False
    if view.heading is None or view.fov >= 360 or metres == 0:
        return True
    off = (azimuth - view.heading + 540) % 360 - 180
    return abs(off) <= view.fov / 2 + EDGE_TOLERANCE_DEG
