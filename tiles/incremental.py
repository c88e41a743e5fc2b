"""Incremental re-tiling: which cells a change of features touches, and what those cells hold afterwards.

A changed feature leaves the cell that held it and goes to the deepest existing cell along the path its new
bounds fit (the loose-quadtree rule of `tiles.partition`, without creating cells); a deleted feature just
leaves. Only the cells that lose or gain a feature are rebuilt; every other content file stays byte for byte.
A feature that moves outside the tileset's root square needs a full re-tile, and so says the plan. Cells may
exceed their feature budget after many additions; a full re-tile rebalances them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tiles.model import Feature
from tiles.tileset import Key, Placement, feature_bounds, with_ancestors


@dataclass
class RetilePlan:
    """The cells to rebuild with the ids of all features they hold afterwards (empty: delete the cell)."""

    cells: dict[Key, list[str]] = field(default_factory=dict)
    full: bool = False

    @property
    def removed(self) -> list[Key]:
        return sorted(k for k, ids in self.cells.items() if not ids)


def place(lo: np.ndarray, hi: np.ndarray, placement: Placement, tree: set[Key], max_level: int) -> Key:
    """The deepest cell of `tree` whose square holds the xy box (lo, hi) entirely."""
    square = placement.square
    key: Key = (0, 0, 0)
    while key[0] < max_level:
        side = square.size / 2 ** (key[0] + 1)
        x0, y0 = square.x0 + key[1] * 2 * side, square.y0 + key[2] * 2 * side
        first = np.floor((lo[:2] - (x0, y0)) / side).astype(int)
        last = np.floor((hi[:2] - (x0, y0)) / side).astype(int)
        if (first != last).any() or (first < 0).any() or (first > 1).any():
            break
        child = (key[0] + 1, key[1] * 2 + int(first[0]), key[2] * 2 + int(first[1]))
        if child not in tree:
            break
        key = child
    return key


def plan_changes(placement: Placement, stored: Mapping[Key, Sequence[str]], changed: Sequence[Feature],
                 deleted: Collection[str], max_level: int) -> RetilePlan:
    """Plan a re-tile: `stored` maps each content cell to its feature ids; `changed` are new or moved features."""
    owner = {fid: key for key, ids in stored.items() for fid in ids}
    plan = RetilePlan()
    leaving = set(deleted) | {f.id for f in changed}
    for fid in sorted(leaving):
        key = owner.get(fid)
        if key is not None and key not in plan.cells:
            plan.cells[key] = [i for i in stored[key] if i not in leaving]
    if not changed:
        return plan
    lo, hi = feature_bounds(changed, placement.frame)
    square = placement.square
    if (lo[:, 0].min() < square.x0 or lo[:, 1].min() < square.y0
            or hi[:, 0].max() > square.x0 + square.size or hi[:, 1].max() > square.y0 + square.size):
        return RetilePlan(full=True)
    tree = with_ancestors(stored.keys())
    for feature, f_lo, f_hi in zip(changed, lo, hi, strict=True):
        key = place(f_lo, f_hi, placement, tree, max_level)
        if key not in plan.cells:
            plan.cells[key] = [i for i in stored.get(key, ()) if i not in leaving]
        plan.cells[key].append(feature.id)
    for ids in plan.cells.values():
        ids.sort()
    return plan
