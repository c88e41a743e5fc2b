"""Drills: how fast a drill runs against the bare engines under it, in one run.

Evacuation — 1,000 people (default) in a generated 10-storey tower (`scenes.drills.tower`, authored with
`scenes.ifc_authoring`, read into walkable floors by the IFC ingest), lognormal pre-movement (mean 60 s), until
everyone is out:

  (a) our Evacuation stepped in 1 s frames, as the coupler steps it (routing, stairs, speed factors, bookkeeping);
  (b) the bare JuPedSim loop replaying the JuPedSim calls of the same run (logged in an untimed run before; the
      run is deterministic): the same walkable polygons, stages, journeys, agents and calls, and nothing else —
      the peer;
  (c) as (a), reading `people()` every frame as the coupler does.

Each row: simulated seconds, wall seconds, simulated seconds per wall second, and wall time ÷ (b). Targets from
the issue: ≥ 10× real time for the drill, overhead (a) ÷ (b) ≤ 1.2×. Further measurements append rows to the same
table through `MEASUREMENTS`.

The whole drill (`bench.drill_worker`): the demo's coupled fire drill through its worker process, frames stored in
PostGIS, against the same drill in process (the limit), with the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import drill_worker
from scenes.drills.evacuation import Evacuation, EvacuationSpec
from scenes.drills.jps_floor import Log, replay
from scenes.drills.site import BuildingSite
from scenes.drills.tower import generate_tower, tower_occupants
from tests.helpers.drill_floors import ifc_floors

REAL_TIME_TARGET = 10.0
OVERHEAD_TARGET = 1.2
FRAME_S = 1.0


@dataclass(frozen=True)
class Row:
    name: str
    simulated_s: float
    wall_s: float
    peer: bool = False


@dataclass(frozen=True)
class Setup:
    site: BuildingSite
    spec: EvacuationSpec
    seed: int


def _evacuate(setup: Setup, log: Log | None, query: bool) -> tuple[float, float, int]:
    start = time.perf_counter()
    evacuation = Evacuation(setup.site, setup.spec, setup.seed, log=log)
    t = 0.0
    while not evacuation.finished and t < 3600:
        t += FRAME_S
        evacuation.advance(t)
        if query:
            evacuation.people()
    return evacuation.t, time.perf_counter() - start, evacuation.n


def measure_evacuation(setup: Setup) -> list[Row]:
    log: Log = []
    _evacuate(setup, log, query=False)  # the calls the peer replays (untimed; warms up too)
    simulated, ours, people = _evacuate(setup, None, query=False)
    start = time.perf_counter()
    steps = replay(log)
    bare = time.perf_counter() - start
    _, queried, _ = _evacuate(setup, None, query=True)
    print(f"evacuation: {people:,} people, {simulated:.1f} s simulated, {steps:,} part-steps of "
          f"dt = {setup.spec.dt} s, {len(log):,} logged JuPedSim calls")
    return [Row("(a) our Evacuation", simulated, ours), Row("(b) bare JuPedSim loop", simulated, bare, peer=True),
            Row("(c) ours + people() each frame", simulated, queried)]


MEASUREMENTS: list[Callable[[Setup], list[Row]]] = [measure_evacuation]


def _table(rows: list[Row]) -> None:
    peer = next(r for r in rows if r.peer)
    print(f"  {'':<34}{'simulated s':>12}{'wall s':>9}{'sim/wall':>10}{'÷ (b)':>8}")
    for r in rows:
        print(f"  {r.name:<34}{r.simulated_s:>12.1f}{r.wall_s:>9.2f}{r.simulated_s / r.wall_s:>9.1f}×"
              f"{r.wall_s / peer.wall_s:>7.2f}×")
    ours = rows[0]
    speed, overhead = ours.simulated_s / ours.wall_s, ours.wall_s / peer.wall_s
    print(f"targets: {speed:.1f}× real time (≥ {REAL_TIME_TARGET:.0f}×: "
          f"{'met' if speed >= REAL_TIME_TARGET else 'missed'}), overhead {overhead:.2f}× "
          f"(≤ {OVERHEAD_TARGET}×: {'met' if overhead <= OVERHEAD_TARGET else 'missed'})")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench drills", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storeys", type=int, default=10)
    parser.add_argument("--people", type=int, default=1000, help="in all, shared equally by the storeys")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--dt", type=float, default=EvacuationSpec.dt, help="JuPedSim time step, seconds")
    parser.add_argument("--only", choices=("evacuation", "worker"), help="one of the two tables")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the whole drill, in process "
                                                              "and through the worker (the fastest of each kept)")
    args = parser.parse_args(argv)
    if args.only != "worker":
        evacuation_table(args)
    if args.only != "evacuation":
        drill_worker.table(drill_worker.measure(args.seed, args.rounds))


def evacuation_table(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-drills-") as folder:
        path = Path(folder) / "tower.ifc"
        generate_tower(path, storeys=args.storeys)
        site = BuildingSite.from_floors(ifc_floors(path, "tower"))
    spec = EvacuationSpec(occupants=tower_occupants(site, args.people // args.storeys), dt=args.dt)
    setup = Setup(site, spec, args.seed)
    print(f"drills: a generated {args.storeys}-storey tower, {len(site.spaces)} spaces, {len(site.stairs)} stairs, "
          f"{len(site.exits)} exits")
    rows: list[Row] = []
    for measure in MEASUREMENTS:
        rows += measure(setup)
    _table(rows)
