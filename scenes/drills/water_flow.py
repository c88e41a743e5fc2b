"""Urban water-logging: rain on a terrain grid routed by the local-inertial shallow-water scheme of Bates, Horritt
and Fewtrell (2010), "A simple inertial formulation of the shallow water equations for efficient two-dimensional
flood inundation modelling" (J. Hydrology 387), as in LISFLOOD-FP:

q ← (q − g h_f Δt ∂η/∂x) / (1 + g Δt n² |q| / h_f^(7/3)),   h_f = max(η_i, η_j) − max(z_i, z_j),

fluxes q (m²/s) on cell faces, η = z + h the water surface, Manning's n, and the time step
Δt = α Δx / √(g h_max) with α = 0.7 (their stability condition), at most 10 s. Depths change by the flux
divergence plus rain, minus what inlets (manholes, drains) take up to their capacity. A cell's outgoing fluxes are
scaled down when they would take more water than it holds, so no depth turns negative and no water is made or
lost: rain in = water on the ground + drained + flowed out. Boundaries are closed (a basin) or open (water leaves
at critical depth, q = h √(g h)).

With no DEM, `valley` makes the documented default ground: a valley running north–south (sides rising 1 %), the
floor falling 0.2 % to the south, and a 1.5 m hollow at the centre where water gathers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from scenes.drills.errors import PlanError

G = 9.81
ALPHA = 0.7
MAX_STEP_S = 10.0
DRY_M = 1e-4
DEPTH_LEVELS = (0.15, 0.3, 0.5)


def grid_axis(extent_m: float, cell_m: float) -> NDArray[np.float64]:
    """Cell centres (metres from the incident) along either axis of a square grid of `extent_m` centred on it."""
    n = max(3, round(extent_m / cell_m))
    return (np.arange(n, dtype=np.float64) + 0.5) * cell_m - n * cell_m / 2


def valley(extent_m: float, cell_m: float) -> NDArray[np.float64]:
    """The default ground (rows south → north), centred on the incident."""
    axis = grid_axis(extent_m, cell_m)
    x, y = np.meshgrid(axis, axis)
    return 0.01 * np.abs(x) + 0.002 * y - 1.5 * np.exp(-(x**2 + y**2) / (2 * 80.0**2)) + 10.0


class WaterFlow:
    def __init__(self, z: NDArray[np.float64], cell_m: float, rain: Sequence[tuple[float, float]], *,
                 manning: float = 0.035, inlets: Sequence[tuple[int, int, float]] = (), closed: bool = True) -> None:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or min(z.shape) < 2:
            raise PlanError("the terrain is a 2-D grid of at least 2 × 2 cells", "rain")
        if not (cell_m > 0 and manning > 0):
            raise PlanError("cell size and Manning's n must be above 0", "rain")
        if not rain or any(r < 0 for _, r in rain) or [t for t, _ in rain] != sorted(t for t, _ in rain):
            raise PlanError("rain is steps of (second, mm/h ≥ 0) in increasing time", "rain.hyetograph")
        nodata = ~np.isfinite(z)
        if nodata.all():
            raise PlanError("the terrain has no heights", "rain")
        self.z = np.where(nodata, np.nanmax(np.where(nodata, np.nan, z)) + 100.0, z)  # holes: high walls
        self.cell, self.manning, self.closed = cell_m, manning, closed
        self.rain = [(float(t), float(r) / 1000.0 / 3600.0) for t, r in rain]  # m/s
        self.inlets = [(int(i), int(j), float(c)) for i, j, c in inlets]
        for i, j, c in self.inlets:
            if not (0 <= i < z.shape[0] and 0 <= j < z.shape[1]) or c < 0:
                raise PlanError("an inlet lies off the grid or has a negative capacity", "rain")
        self.h = np.zeros_like(self.z)
        self.qx = np.zeros((z.shape[0], z.shape[1] + 1))
        self.qy = np.zeros((z.shape[0] + 1, z.shape[1]))
        self.t = 0.0
        self.rain_in = self.drained = self.outflow = 0.0  # Python floats: the books go into JSON reports
        self.max_depth = np.zeros_like(self.z)

    def set_rain(self, mm_h: float, at_s: float) -> None:
        self.rain = [(t, r) for t, r in self.rain if t < at_s] + [(at_s, mm_h / 1000.0 / 3600.0)]

    def rate(self, t: float) -> float:
        current = 0.0
        for since, value in self.rain:
            if since <= t:
                current = value
        return current

    def _faces(self, q: NDArray[np.float64], eta: NDArray[np.float64], z: NDArray[np.float64], axis: int,
               dt: float) -> NDArray[np.float64]:
        """Update the inner faces' fluxes along `axis` (Bates et al. 2010, eq. 11)."""
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        ea, eb, za, zb = eta[tuple(a)], eta[tuple(b)], z[tuple(a)], z[tuple(b)]
        depth = np.maximum(ea, eb) - np.maximum(za, zb)
        inner = [slice(None), slice(None)]
        inner[axis] = slice(1, -1)
        old = q[tuple(inner)]
        wet = depth > DRY_M
        hf = np.where(wet, depth, 1.0)
        new = (old - G * hf * dt * (eb - ea) / self.cell) / (
            1 + G * dt * self.manning**2 * np.abs(old) / hf ** (7 / 3))
        q[tuple(inner)] = np.where(wet, new, 0.0)
        if not self.closed:
            for edge, sign in ((0, -1.0), (-1, 1.0)):  # the same index picks the edge cells and edge faces
                h = np.take(self.h, edge, axis=axis)
                index: list[Any] = [slice(None), slice(None)]
                index[axis] = edge
                q[tuple(index)] = sign * h * np.sqrt(G * h)
        return q

    def _step(self, dt: float) -> None:
        eta = self.z + self.h
        self.qx = self._faces(self.qx, eta, self.z, 1, dt)
        self.qy = self._faces(self.qy, eta, self.z, 0, dt)
        out = (np.maximum(self.qx[:, 1:], 0) + np.maximum(-self.qx[:, :-1], 0)
               + np.maximum(self.qy[1:, :], 0) + np.maximum(-self.qy[:-1, :], 0)) * dt / self.cell
        scale = np.where(out > self.h, self.h / np.maximum(out, 1e-300), 1.0)  # never take more than is there
        sx = np.ones_like(self.qx)
        sy = np.ones_like(self.qy)
        sx[:, 1:] = np.where(self.qx[:, 1:] > 0, scale, 1.0)
        sx[:, :-1] = np.where(self.qx[:, :-1] < 0, np.minimum(sx[:, :-1], scale), sx[:, :-1])
        sy[1:, :] = np.where(self.qy[1:, :] > 0, scale, 1.0)
        sy[:-1, :] = np.where(self.qy[:-1, :] < 0, np.minimum(sy[:-1, :], scale), sy[:-1, :])
        self.qx *= sx
        self.qy *= sy
        divergence = (self.qx[:, :-1] - self.qx[:, 1:] + self.qy[:-1, :] - self.qy[1:, :]) * dt / self.cell
        rain = self.rate(self.t) * dt
        self.h = np.maximum(self.h + divergence + rain, 0.0)
        area = self.cell**2
        self.rain_in += rain * area * self.h.size
        if not self.closed:
            self.outflow += float(np.abs(self.qx[:, 0]).sum() + np.abs(self.qx[:, -1]).sum()
                                  + np.abs(self.qy[0, :]).sum() + np.abs(self.qy[-1, :]).sum()) * dt * self.cell
        for i, j, capacity in self.inlets:
            taken = min(capacity * dt, float(self.h[i, j]) * area)
            self.h[i, j] -= taken / area
            self.drained += taken
        np.maximum(self.max_depth, self.h, out=self.max_depth)
        self.t += dt

    def advance(self, until: float) -> None:
        while self.t < until - 1e-9:
            deepest = float(self.h.max())
            dt = ALPHA * self.cell / math.sqrt(G * deepest) if deepest > DRY_M else MAX_STEP_S
            change = min((t for t, _ in self.rain if t > self.t + 1e-9), default=math.inf)  # steps end there
            self._step(min(dt, MAX_STEP_S, until - self.t, change - self.t))

    def volume(self) -> float:
        return float(self.h.sum() * self.cell**2)

    def zones(self, x0: float, y0: float) -> list[tuple[float, BaseGeometry]]:
        """(depth, area in local metres) where the water is at least that deep now; the grid's south-west corner
        is at (x0, y0)."""
        out = []
        for level in DEPTH_LEVELS:
            mask = self.h >= level
            if not mask.any():
                continue
            boxes = [shapely.box(x0 + j * self.cell, y0 + i * self.cell, x0 + (j + 1) * self.cell,
                                 y0 + (i + 1) * self.cell) for i, j in zip(*np.nonzero(mask), strict=True)]
            area = shapely.union_all(boxes).simplify(self.cell / 4)
            out.append((level, area if not area.is_empty else MultiPolygon()))
        return out
