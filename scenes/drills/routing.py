"""Walking distances to the exits over the building's portal graph, and the route each person takes.

Nodes are portals: doors, openings between spaces that touch (their shared edge, at least `OPEN_MIN` long),
exits, and the two landings of every stair. Within a space every pair of its portals is joined by the straight
line between them; a stair joins its landings by its walking length divided by the stair speed factor (so that
distances compare walking times at level speed). Distances to the open exits come from Dijkstra's algorithm
(scipy.sparse.csgraph); a space made untenable adds `CLOSED_PENALTY` metres to every walk across it, so that routes
avoid it while any other way out exists and people inside it still leave it. Blocked exits and closed stairs are
out of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

from scenes.drills.site import BuildingSite

OPEN_MIN = 0.5  # metres of shared edge for two touching spaces to be open to each other
TOUCH = 0.05  # metres: spaces closer than this touch
CLOSED_PENALTY = 1000.0  # metres added to a walk across an untenable space


@dataclass(frozen=True)
class Node:
    kind: str  # door | open | exit | landing
    ref: str  # the door, exit or stair id ("a|b" for an opening between spaces a and b)
    storey: str
    spaces: tuple[str, ...]
    xy: tuple[float, float]


def stair_length(rise: float, run: float) -> float:
    """Walking length of a stair: the longer of its foot-to-head slope and a code stair's slope of the same rise
    (risers 0.18 m, goings 0.28 m) — spiral and dog-leg stairs end close to where they start in plan."""
    return max(float(np.hypot(rise, run)), float(np.hypot(rise, rise / 0.18 * 0.28)))


class Routes:
    """The portal graph of a site and the distances from every portal to the nearest open exit."""

    def __init__(self, site: BuildingSite, landings: dict[tuple[str, bool], Point], stair_factor: float,
                 closed_stairs: tuple[str, ...] = ()) -> None:
        self.site = site
        self.nodes: list[Node] = []
        self.portals: dict[str, list[int]] = {s: [] for s in site.spaces}
        self.exit_node: dict[str, int] = {}
        self.landing_node: dict[tuple[str, bool], int] = {}
        for door in site.doors.values():
            c = door.line.centroid
            self._add(Node("door", door.id, door.storey, (door.from_space, door.to_space), (c.x, c.y)))
        for level in site.storeys:
            spaces = site.spaces_of(level.id)
            for i, a in enumerate(spaces):
                for b in spaces[i + 1:]:
                    if a.polygon.distance(b.polygon) > TOUCH:
                        continue
                    seam = a.polygon.buffer(TOUCH).intersection(b.polygon.buffer(TOUCH))
                    if seam.area / (2 * TOUCH) >= OPEN_MIN:
                        c = seam.centroid
                        self._add(Node("open", f"{a.id}|{b.id}", level.id, (a.id, b.id), (c.x, c.y)))
        for exit_ in site.exits.values():
            c = exit_.line.centroid
            self.exit_node[exit_.id] = self._add(Node("exit", exit_.id, exit_.storey, (exit_.from_space,),
                                                      (c.x, c.y)))
        for stair in site.stairs.values():
            for at_head in (False, True):
                p = landings[(stair.id, at_head)]
                storey, space = (stair.to_storey, stair.to_space) if at_head else (stair.from_storey,
                                                                                   stair.from_space)
                self.landing_node[(stair.id, at_head)] = self._add(Node("landing", stair.id, storey, (space,),
                                                                        (p.x, p.y)))
        self.xy = np.array([n.xy for n in self.nodes], dtype=np.float64).reshape(-1, 2)
        self.stair_factor = stair_factor
        self.closed_stairs = set(closed_stairs)
        self.closed_spaces: set[str] = set()
        self.blocked_exits: set[str] = set()
        self._cache: dict[str | None, tuple[NDArray[np.float64], NDArray[np.int32]]] = {}

    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        index = len(self.nodes) - 1
        for space in node.spaces:
            self.portals[space].append(index)
        return index

    def update(self, *, closed_spaces: set[str] | None = None, blocked_exits: set[str] | None = None,
               closed_stairs: set[str] | None = None) -> None:
        """New closures; distances are recomputed when next asked for."""
        if closed_spaces is not None:
            self.closed_spaces = set(closed_spaces)
        if blocked_exits is not None:
            self.blocked_exits = set(blocked_exits)
        if closed_stairs is not None:
            self.closed_stairs = set(closed_stairs)
        self._cache.clear()

    def _graph(self) -> coo_matrix:
        edges: dict[tuple[int, int], float] = {}  # two portals of two spaces alike: the shorter walk counts

        def join(a: int, b: int, weight: float) -> None:
            key = (min(a, b), max(a, b))
            edges[key] = min(weight, edges.get(key, weight))

        for space, members in sorted(self.portals.items()):
            penalty = CLOSED_PENALTY if space in self.closed_spaces else 0.0
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    join(a, b, float(np.hypot(*(self.xy[a] - self.xy[b]))) + penalty + 1e-6)
        for stair in self.site.stairs.values():
            if stair.id not in self.closed_stairs:
                join(self.landing_node[(stair.id, False)], self.landing_node[(stair.id, True)],
                     stair_length(stair.rise, stair.run) / self.stair_factor)
        n = len(self.nodes)
        keys = sorted(edges)
        rows = [a for a, _ in keys]
        cols = [b for _, b in keys]
        return coo_matrix(([edges[k] for k in keys], (rows, cols)), shape=(n, n))

    def distances(self, exit_id: str | None = None) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        """Per node the distance to the nearest open exit (or to `exit_id`), and the next node on the way."""
        if exit_id not in self._cache:
            sources = [self.exit_node[e] for e in sorted(self.exit_node) if e not in self.blocked_exits] \
                if exit_id is None else ([self.exit_node[exit_id]] if exit_id not in self.blocked_exits else [])
            n = len(self.nodes)
            if not sources:
                self._cache[exit_id] = (np.full(n, np.inf), np.full(n, -9999, dtype=np.int32))
            else:
                dist, pred, _ = dijkstra(self._graph().tocsr(), directed=False, indices=sources, min_only=True,
                                         return_predecessors=True)
                self._cache[exit_id] = (np.asarray(dist, dtype=np.float64), np.asarray(pred, dtype=np.int32))
        return self._cache[exit_id]

    def space_distance(self, space: str, exit_id: str | None = None) -> float:
        """From the space's nearest portal (inf when no way leads out of it)."""
        dist, _ = self.distances(exit_id)
        return min((float(dist[k]) for k in self.portals[space]), default=float("inf"))

    def first_portals(self, space: str, xy: NDArray[np.float64], exit_id: str | None = None
                      ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """For people at `xy` (n × 2) in `space`: the portal each leaves it by, and the whole distance out."""
        members = self.portals[space]
        dist, _ = self.distances(exit_id)
        if not members:
            return np.full(len(xy), -1, dtype=np.int64), np.full(len(xy), np.inf)
        portal_xy = self.xy[members]
        total = np.hypot(xy[:, None, 0] - portal_xy[None, :, 0], xy[:, None, 1] - portal_xy[None, :, 1]) \
            + dist[members][None, :]
        best = np.argmin(total, axis=1)
        chosen = np.asarray(members, dtype=np.int64)[best]
        reached = total[np.arange(len(xy)), best]
        return np.where(np.isfinite(reached), chosen, -1), reached

    def path(self, first: int, exit_id: str | None = None) -> list[int]:
        """Nodes from `first` to its exit, following the shortest-path tree."""
        _, pred = self.distances(exit_id)
        nodes = [first]
        while pred[nodes[-1]] >= 0 and len(nodes) <= len(self.nodes):
            nodes.append(int(pred[nodes[-1]]))
        return nodes
