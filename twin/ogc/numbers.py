"""Numbers from clients checked at the edge: each is finite, normal (not subnormal) and within its range, or the
request is refused with a `QueryError` (HTTP 400) saying which of these it is not.

PostgreSQL raises on float underflow and overflow (`5e-324 / 111320` is an error, not 0), so a subnormal or an
absurdly large value that reached SQL would answer 500; here it answers 400 with the reason.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from twin.ogc.errors import QueryError

MAX_HEIGHT = 100_000.0
"""Metres above (or below) the ellipsoid a height may have: beyond 100 km nothing of a city stands."""
MAX_PROJECTED = 20_037_508.342789244
"""Largest projected coordinate (metres) taken: half the equator, the edge of Web Mercator's square."""
SMALLEST_NORMAL = sys.float_info.min
Bounds = tuple[float, float, float, float]
LON_LAT: Bounds = (-180.0, -90.0, 180.0, 90.0)


def checked(name: str, value: float, low: float = -math.inf, high: float = math.inf, unit: str = "") -> float:
    """`value` when finite, normal and in [low, high]; else a QueryError naming `name` and the reason."""
    bounded = math.isfinite(low) or math.isfinite(high)
    span = f"from {_show(low)} to {_show(high)}{f' {unit}' if unit else ''}" if bounded else "that is finite"
    if math.isnan(value):
        raise QueryError(f"{name} is NaN (not a number); it must be a number {span}")
    if math.isinf(value):
        raise QueryError(f"{name}={value} is infinite; it must be a number {span}")
    if value != 0 and abs(value) < SMALLEST_NORMAL:
        raise QueryError(f"{name}={value!r} is subnormal (closer to 0 than {SMALLEST_NORMAL:.3g}, too small to "
                         f"compute with); give 0 or a normal number {span}")
    if value < low:
        reason = "is negative" if low == 0 else "is too small"
        raise QueryError(f"{name}={value!r} {reason}; it must be {span}")
    if value > high:
        reason = "is absurdly large" if value > 1e3 * max(abs(high), 1.0) else "is too large"
        raise QueryError(f"{name}={value!r} {reason}; it must be {span}")
    return value


def check_lon_lat(lon: float, lat: float, prefix: str = "") -> None:
    """A longitude in [-180, 180] and a latitude in [-90, 90] degrees (named `{prefix}lon`, `{prefix}lat`)."""
    checked(f"{prefix}lon", lon, -180, 180, "degrees")
    checked(f"{prefix}lat", lat, -90, 90, "degrees")


def check_height(name: str, value: float) -> float:
    return checked(name, value, -MAX_HEIGHT, MAX_HEIGHT, "metres")


def check_coordinates(name: str, points: Iterable[Sequence[float]] | NDArray[np.float64],
                      bounds: Bounds = LON_LAT) -> None:
    """Every point's x/y within `bounds` (lon/lat degrees when they are `LON_LAT`, else projected metres); a third
    value is a height."""
    axes, unit = (("lon", "lat"), "degrees") if bounds == LON_LAT else (("x", "y"), "metres")
    if not isinstance(points, np.ndarray):
        listed = list(points)
        if len({len(p) for p in listed}) > 1:  # ragged (2 and 3 numbers): one point at a time
            for point in listed:
                check_coordinates(name, np.asarray([point], dtype=np.float64), bounds)
            return
        points = np.asarray(listed, dtype=np.float64)
    array = points.astype(np.float64, copy=False)
    if array.ndim != 2 or _all_fine(array, bounds):
        return
    for point in array:
        checked(f"{name} {axes[0]}", float(point[0]), bounds[0], bounds[2], unit)
        checked(f"{name} {axes[1]}", float(point[1]), bounds[1], bounds[3], unit)
        if len(point) > 2:
            check_height(f"{name} height", float(point[2]))


def _all_fine(xyz: NDArray[np.float64], bounds: Bounds) -> bool:
    """Whether every coordinate passes (one vectorised test; the loop then only runs to name an offender)."""
    low = np.array([bounds[0], bounds[1], -MAX_HEIGHT][: xyz.shape[1]])
    high = np.array([bounds[2], bounds[3], MAX_HEIGHT][: xyz.shape[1]])
    normal = (xyz == 0) | (np.abs(xyz) >= SMALLEST_NORMAL)
    return bool(np.all(np.isfinite(xyz) & normal & (xyz >= low) & (xyz <= high)))


def _show(bound: float) -> str:
    return f"{bound:g}" if abs(bound) < 1e6 else f"{bound:.0f}"
