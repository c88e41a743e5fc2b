"""The hand estimate of an evacuation's RSET that its simulation is checked against (the hydraulic model of the
SFPE Handbook, reduced to its first-order terms): the longest pre-movement time, plus the longest walk out at the
mean walking speed (walking distance over the portal graph from each person's start, stairs at their
level-equivalent length), plus everyone through the open exits at 1.3 persons/s per metre of exit width."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from scenes.drills.evacuation_spec import LEVEL_SPECIFIC_FLOW

if TYPE_CHECKING:
    from scenes.drills.evacuation import Evacuation


def hydraulic_estimate(ev: Evacuation) -> dict[str, float]:
    """Its terms and their sum, in seconds; call it before the first `advance`."""
    people = ev.people()
    longest = 0.0
    for space in sorted({s for s in people.space if s is not None}):
        chosen = np.array([s == space for s in people.space])
        xy = np.column_stack([people.x[chosen], people.y[chosen]])
        _, reached = ev.routes.first_portals(space, xy)
        longest = max(longest, float(reached.max()))
    widths = sum(e.width for e in ev.site.exits.values() if e.id not in ev.blocked)
    terms = {"premovement_s": float(ev.premove.max()) if ev.n else 0.0,
             "travel_s": longest / ev.spec.speed.mean,
             "flow_s": ev.n / (LEVEL_SPECIFIC_FLOW * widths) if widths else float("inf")}
    return {**terms, "total_s": sum(terms.values())}
