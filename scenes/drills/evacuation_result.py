"""What an evacuation reports: where everyone is now (`People`) and, at the end, RSET overall, per storey and per
exit, each person's exit and time, and the flow through each exit over time (`EvacuationResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

STATUSES = ("waiting", "moving", "on_stair", "evacuated", "trapped")
WAITING, MOVING, ON_STAIR, EVACUATED, TRAPPED = range(5)
FLOW_BIN_S = 10.0


@dataclass(frozen=True)
class People:
    """Everyone at one instant, index-aligned: ids 0..n-1, local metres, the storey ordinal they are on (on a
    stair: the one they left), their space (None on a stair, in a doorway or outside) and status (STATUSES)."""

    id: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    z: NDArray[np.float64]  # metres above the lowest storey's floor, interpolated along stairs
    storey: NDArray[np.int64]
    space: list[str | None]
    status: NDArray[np.str_]


@dataclass(frozen=True)
class EvacuationResult:
    people: int
    evacuated: int
    rset_s: float | None  # when the last person got out (None while someone has not)
    storeys: dict[str, float | None]  # storey id → when the last person left it (None: someone still there)
    exits: dict[str, dict[str, Any]]  # exit id → {"people", "first_s", "last_s"}
    exit_of: tuple[str | None, ...]  # per person
    exit_s: NDArray[np.float64]  # per person, NaN when not out
    start_storey: tuple[str, ...]  # per person
    flow_bin_s: float
    flows: dict[str, list[int]]  # exit id → people out per bin of flow_bin_s seconds

    def document(self) -> dict[str, Any]:
        """The result as plain JSON-ready values."""
        return {"people": self.people, "evacuated": self.evacuated, "rset_s": self.rset_s,
                "storeys": self.storeys, "exits": self.exits, "flow_bin_s": self.flow_bin_s, "flows": self.flows,
                "persons": [{"id": i, "start_storey": s, "exit": e,
                             "exit_s": None if math.isnan(t) else round(float(t), 3)}
                            for i, (s, e, t) in enumerate(zip(self.start_storey, self.exit_of, self.exit_s.tolist(),
                                                              strict=True))]}


def build_result(exit_ids: list[str], exit_of: list[str | None], exit_s: NDArray[np.float64],
                 start_storey: list[str], storey_ids: list[str], storey_last: dict[str, float],
                 storey_present: dict[str, int]) -> EvacuationResult:
    out = ~np.isnan(exit_s)
    everyone = bool(out.all())
    rset = round(float(exit_s.max()), 3) if everyone and len(exit_s) else (0.0 if not len(exit_s) else None)
    last = float(exit_s[out].max()) if out.any() else 0.0
    bins = max(1, math.ceil(last / FLOW_BIN_S + 1e-9))
    exits: dict[str, dict[str, Any]] = {}
    flows: dict[str, list[int]] = {}
    for exit_id in exit_ids:
        times = np.array([t for e, t in zip(exit_of, exit_s.tolist(), strict=True) if e == exit_id])
        exits[exit_id] = {"people": len(times), "first_s": round(float(times.min()), 3) if len(times) else None,
                          "last_s": round(float(times.max()), 3) if len(times) else None}
        counts = np.bincount(np.minimum((times // FLOW_BIN_S).astype(int), bins - 1), minlength=bins) \
            if len(times) else np.zeros(bins, dtype=int)
        flows[exit_id] = [int(c) for c in counts]
    storeys = {s: (None if storey_present.get(s, 0) else round(storey_last.get(s, 0.0), 3)) for s in storey_ids}
    return EvacuationResult(len(exit_s), int(out.sum()), rset, storeys, exits, tuple(exit_of), exit_s.copy(),
                            tuple(start_storey), FLOW_BIN_S, flows)
