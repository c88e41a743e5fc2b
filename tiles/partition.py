"""Loose quadtree partition of features over a square in the tileset's ENU frame.

A cell keeps the features that fit no single child cell (large or straddling ones) and hands the rest down
while it holds more than the budget; so big features sit near the root, small ones refine in, and every
feature lies entirely inside its cell — which lets explicit and implicit tilesets share one partition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass
class Cell:
    """A quadtree cell: `(level, x, y)` with x growing east and y north from the square's south-west corner."""

    level: int
    x: int
    y: int
    members: NDArray[np.int64]
    children: list[Cell] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.level, self.x, self.y)

    def walk(self) -> list[Cell]:
        """This cell and all below it, parents before children."""
        return [self, *(c for child in self.children for c in child.walk())]


@dataclass(frozen=True)
class Square:
    """The root square of the partition: south-west corner and side length in metres."""

    x0: float
    y0: float
    size: float

    def cell_bounds(self, level: int, x: int, y: int) -> tuple[float, float, float, float]:
        side = self.size / 2**level
        return (self.x0 + x * side, self.y0 + y * side, self.x0 + (x + 1) * side, self.y0 + (y + 1) * side)


def root_square(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> Square:
    """The smallest square (≥ 1 m, rounded out to the centimetre) holding every feature's xy bounds."""
    x0, y0 = np.floor(lo.min(axis=0)[:2] * 100) / 100
    x1, y1 = np.ceil(hi.max(axis=0)[:2] * 100) / 100
    return Square(float(x0), float(y0), float(max(x1 - x0, y1 - y0, 1.0)))


def partition(lo: NDArray[np.float64], hi: NDArray[np.float64], square: Square, *, budget: int,
              max_level: int, sizes: NDArray[np.int64] | None = None, max_bytes: int | None = None) -> Cell:
    """Partition features given by their ENU xy bounds (`lo`, `hi`: (N, ≥2)) into a loose quadtree.

    A cell splits while it holds more than `budget` features or, given each feature's estimated size in bytes,
    more than `max_bytes`.
    """
    root = Cell(0, 0, 0, np.arange(len(lo)))
    over = (lambda members: bool(sizes[members].sum() > max_bytes)) if sizes is not None and max_bytes else None
    _split(root, lo[:, :2], hi[:, :2], square, budget, max_level, over)
    return root


def _split(cell: Cell, lo: NDArray, hi: NDArray, square: Square, budget: int, max_level: int,
           over: Callable[[NDArray[np.int64]], bool] | None) -> None:
    if cell.level >= max_level or (len(cell.members) <= budget and not (over and over(cell.members))):
        return
    side = square.size / 2 ** (cell.level + 1)
    origin = np.array([square.x0 + cell.x * 2 * side, square.y0 + cell.y * 2 * side])
    first = np.floor((lo[cell.members] - origin) / side).astype(np.int64)
    last = np.floor((hi[cell.members] - origin) / side).astype(np.int64)
    fits = np.all(first == last, axis=1) & np.all((first >= 0) & (first <= 1), axis=1)
    if not fits.any():
        return
    keep = cell.members[~fits]
    for dy in (0, 1):
        for dx in (0, 1):
            chosen = fits & (first[:, 0] == dx) & (first[:, 1] == dy)
            if chosen.any():
                child = Cell(cell.level + 1, cell.x * 2 + dx, cell.y * 2 + dy, cell.members[chosen])
                _split(child, lo, hi, square, budget, max_level, over)
                cell.children.append(child)
    cell.members = keep
