"""Which valves to close to isolate a leaking pipe, and what loses supply then (pure: a graph in, an answer out).

A valve is a node that can be shut: closed, it joins none of its pipes to another. The **segment** of a pipe is
every pipe reachable from it without passing a valve; the valves met at its border are the ones to close (a valve
at the end of the leaking pipe itself included). With those valves closed and the segment drained, every part of
the network still joined to a **source** (reservoir, tank, station, regulator, plant, substation, source, outfall)
keeps its supply; the rest — the segment and the pipes cut off behind it — loses it. A loop around the segment
keeps the pipes beyond it supplied from its other side. A network with no source node at all cannot say what
is cut off behind the segment: then only the segment loses supply, and the answer says there are no sources.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ingest_gis.network import SOURCE_KINDS, VALVE_KINDS


@dataclass(frozen=True)
class Graph:
    """Node kinds by id and pipes as (id, from node, to node)."""

    kinds: Mapping[str, str]
    pipes: tuple[tuple[str, str, str], ...]
    incident: dict[str, list[int]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, kinds: Mapping[str, str], pipes: Iterable[tuple[str, str, str]]) -> Graph:
        pipe_list = tuple(pipes)
        incident: dict[str, list[int]] = {}
        for i, (_, a, b) in enumerate(pipe_list):
            incident.setdefault(a, []).append(i)
            if b != a:
                incident.setdefault(b, []).append(i)
        return cls(dict(kinds), pipe_list, incident)

    def is_valve(self, node: str) -> bool:
        return self.kinds.get(node, "junction") in VALVE_KINDS

    def is_source(self, node: str) -> bool:
        return self.kinds.get(node, "junction") in SOURCE_KINDS


@dataclass(frozen=True)
class Isolation:
    pipe: str
    valves: tuple[str, ...]  # to close
    segment: tuple[str, ...]  # pipes between them, drained
    cut_off: tuple[str, ...]  # pipes beyond them that lose their supply
    sources: int  # source nodes of the network

    @property
    def unsupplied(self) -> tuple[str, ...]:
        return tuple(sorted({*self.segment, *self.cut_off}))


def isolate(graph: Graph, pipe_id: str) -> Isolation:
    """The isolation of `pipe_id`; KeyError when the graph has no such pipe."""
    index = next((i for i, p in enumerate(graph.pipes) if p[0] == pipe_id), None)
    if index is None:
        raise KeyError(pipe_id)
    segment, valves = {index}, set()
    queue = deque(graph.pipes[index][1:])
    seen: set[str] = set()
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        if graph.is_valve(node):
            valves.add(node)
            continue
        for i in graph.incident.get(node, []):
            if i not in segment:
                segment.add(i)
            for end in graph.pipes[i][1:]:
                if end not in seen:
                    queue.append(end)
    sources = [n for n, kind in graph.kinds.items() if kind in SOURCE_KINDS]
    cut_off: set[int] = set()
    if sources:
        supplied = _reachable(graph, sources, segment, valves)
        cut_off = {i for i in range(len(graph.pipes)) if i not in segment and i not in supplied}
    return Isolation(pipe_id, tuple(sorted(valves)), tuple(sorted(graph.pipes[i][0] for i in segment)),
                     tuple(sorted(graph.pipes[i][0] for i in cut_off)), len(sources))


def _reachable(graph: Graph, starts: Iterable[str], drained: set[int], closed: set[str]) -> set[int]:
    """Pipes reached from the sources without using drained pipes or passing closed valves."""
    reached: set[int] = set()
    seen = set()
    queue = deque(s for s in starts if s not in closed)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        for i in graph.incident.get(node, []):
            if i in drained:
                continue
            reached.add(i)
            for end in graph.pipes[i][1:]:
                if end not in seen and end not in closed:
                    queue.append(end)
    return reached
