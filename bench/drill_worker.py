"""The whole coupled drill through its worker process against the same drill in process, in one run.

The demo's town-hall fire (`scenes.demo_plans.fire_plan` on the generated demo office, scheme `all-exits`: the
two-zone fire and smoke coupled every 1 s frame with the JuPedSim evacuation, the report with its PedPy densities;
no responders, whose routes need the demo city's road network):

  (d) in process — the limit: the plan parsed, the drill built and stepped to its end, every frame encoded, the
      report made, nothing stored or sent; its second run in this process ((d0), the first, is shown too: it pays
      the first use of JuPedSim, PedPy and the rest, as every worker does);
  (e) through `twin.drills.worker` as a server starts it: a spawned process of its own that does (d) and stores
      every frame in PostGIS (`drill_frames`, zlib chunks, each committed on its own), sends every frame down its
      pipe (read here as the server's reader thread would) and stores the report; timed from the spawn to its end
      message, its start-up (spawn, imports, plan parsed, drill built: until its first message) told apart.

(d) and (e) alternate for a few rounds (`--rounds`, 3) and each keeps its fastest. Each row: simulated seconds,
frames, wall seconds, simulated seconds per wall second, and wall time ÷ (d).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from scenes.demo_building import generate_building
from scenes.demo_district import GRID_ANGLE_DEG, park_centre
from scenes.demo_plans import fire_plan
from scenes.drills.coupled import build_drill
from scenes.drills.frames import encode_frame
from scenes.drills.plan import parse_plan
from scenes.drills.twin_data import TwinData
from tests.helpers.drill_floors import ifc_floors
from twin.db import open_database
from twin.drills import worker
from twin.settings import Settings

SCHEME = "all-exits"


@dataclass(frozen=True)
class DrillRow:
    name: str
    simulated_s: float
    frames: int
    wall_s: float
    startup_s: float | None = None  # the worker: from the spawn to its first message (imports, plan, drill built)


def in_process(document: dict[str, Any], data: TwinData, seed: int, name: str = "(d) in process (the limit)"
               ) -> DrillRow:
    start = time.perf_counter()
    drill = build_drill(parse_plan(document), SCHEME, seed, data)
    frames = 0
    while (frame := drill.step()) is not None:
        encode_frame(frame)
        frames += 1
    report = drill.report()
    return DrillRow(name, float(report["simulated_s"]), frames, time.perf_counter() - start)


def _new_run(dsn: str, document: dict[str, Any], seed: int) -> str:
    plan = parse_plan(document)
    run_id = str(uuid.uuid4())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO drill_plans (id, name, hazard, document) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (id) DO NOTHING", (plan.id, plan.name, plan.hazard, Jsonb(plan.document())))
        conn.execute("INSERT INTO drill_runs (id, plan_id, scheme, seed, status, speed, plan_document, "
                     "frame_interval) VALUES (%s, %s, %s, %s, 'queued', 1, %s, %s)",
                     (run_id, plan.id, SCHEME, seed, Jsonb(plan.document()), plan.time.frame_interval_s))
    return run_id


def through_worker(dsn: str, document: dict[str, Any], data: TwinData, seed: int) -> DrillRow:
    run_id = _new_run(dsn, document, seed)
    context = multiprocessing.get_context("spawn")  # as twin.drills.runner starts it
    ours, theirs = context.Pipe(duplex=True)
    start = time.perf_counter()
    process = context.Process(target=worker.main, daemon=True,
                              args=(dsn, run_id, document, SCHEME, seed, data, 1.0, False, theirs))
    process.start()
    theirs.close()
    played, ended, startup = 0, None, None
    while ended is None:
        message = ours.recv()
        if startup is None:
            startup = time.perf_counter() - start
        if message[0] == "frame":
            played += 1
        elif message[0] == "end":
            ended = message[1:]
    wall = time.perf_counter() - start
    process.join(30)
    if ended[0] != "finished":
        raise RuntimeError(f"the drill worker ended {ended[0]}: {ended[1]}")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT frame_count, simulated_s, report IS NOT NULL FROM drill_runs WHERE id = %s",
                           (run_id,)).fetchone()
    assert row is not None
    stored, simulated, reported = int(row[0]), float(row[1]), bool(row[2])
    if stored != played or not reported:
        raise RuntimeError(f"the worker played {played} frames and stored {stored} (report stored: {reported})")
    return DrillRow("(e) worker process, frames stored", simulated, stored, wall, startup)


def measure(seed: int = 3, rounds: int = 3) -> list[DrillRow]:
    """(d), (d0) and (e); (d) and (e) alternate for `rounds` rounds and each keeps its fastest, so that a burst of
    load on a shared machine falls on both alike."""
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-drill-worker-") as folder:
        path = Path(folder) / "office.ifc"
        generate_building(path, *park_centre(), grid_angle_deg=GRID_ANGLE_DEG)
        floors = ifc_floors(path, "office")
        document, data = fire_plan(floors, None, None), TwinData(floors=floors)
        cold = in_process(document, data, seed, "(d0) in process, its first run")  # warms up JuPedSim, PedPy
        settings = Settings(data_dir=Path(folder) / "data")  # embedded cluster unless CITYTWIN_DATABASE_URL is set
        database = open_database(settings)
        limits, workers = [], []
        try:
            dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            for _ in range(max(1, rounds)):
                limits.append(in_process(document, data, seed))
                workers.append(through_worker(dsn, document, data, seed))
        finally:
            database.close()
    return [min(limits, key=lambda r: r.wall_s), cold, min(workers, key=lambda r: r.wall_s)]


def table(rows: list[DrillRow]) -> None:
    limit = rows[0]
    print(f"coupled demo fire drill (town hall, scheme {SCHEME}, 1 s frames):")
    print(f"  {'':<38}{'simulated s':>12}{'frames':>8}{'wall s':>9}{'sim/wall':>10}{'÷ (d)':>8}")
    for r in rows:
        print(f"  {r.name:<38}{r.simulated_s:>12.1f}{r.frames:>8}{r.wall_s:>9.2f}{r.simulated_s / r.wall_s:>9.1f}×"
              f"{r.wall_s / limit.wall_s:>7.2f}×")
    through = rows[-1]
    print(f"worker ÷ in process: {through.wall_s / limit.wall_s:.2f}×", end="")
    if through.startup_s is not None:
        print(f" (its start-up — spawn, imports, the drill built — {through.startup_s:.2f} s; the rest "
              f"{(through.wall_s - through.startup_s) / limit.wall_s:.2f}× the limit)", end="")
    print()
