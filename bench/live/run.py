"""The run: servers up, sensors created, each phase's steps driven and measured, peers in the same run."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from bench.live.clients import client_main
from bench.live.generator import StepLoad, generator_main
from bench.live.layout import Layout
from bench.live.measure import CpuMeter, Db, Report, StepResult, postmaster_pid, py_spy
from bench.live.report import print_steps
from bench.live.writes import compare_writes
from bench.processes import ROOT, stop, wait_http, wait_port
from twin.localhost import free_port


@dataclass
class Options:
    sensors: int = 100_000
    clients: int = 1_000
    client_procs: int = 2
    rates: tuple[float, ...] = (1_000, 2_000, 5_000, 10_000, 15_000)
    seconds: float = 10.0
    batch: int = 250
    connections: int = 8
    workers: tuple[int, ...] = (1, 2)
    copy_repeat: int = 3
    peer: bool = True
    profile: Path | None = None


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = f"from bench.live.servers import serve; serve({port}, {workers})"
    process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    try:
        wait_http(port, "/sensors?limit=1")
        if workers > 1:
            time.sleep(3.0)  # every worker has its live layer up
    except RuntimeError:
        stop(process)
        raise
    return process, port


def create_sensors(port: int, layout: Layout, batch: int = 2000) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
        for first in range(0, layout.n, batch):
            answer = client.post("/sensors", json=[layout.sensor(i) for i in range(first, min(layout.n,
                                                                                              first + batch))])
            if answer.status_code != 201:
                raise RuntimeError(f"POST /sensors answered {answer.status_code}: {answer.text[:300]}")


def phase(name: str, ws_url: str, mode: str, target: Any, options: Options, layout: Layout,
          boxes: list[tuple[int, int, int]], generator: Connection, server_root: int, postmaster: int | None,
          db: Db | None) -> list[StepResult]:
    """Connect the clients to one server, run the steps, and measure each."""
    ctx = mp.get_context("spawn")
    clients: list[tuple[Any, Connection]] = []
    per = (len(boxes) + options.client_procs - 1) // options.client_procs
    for p in range(options.client_procs):
        mine = [(i, layout.bbox(boxes[i])) for i in range(p * per, min(len(boxes), (p + 1) * per))]
        parent, child = ctx.Pipe()
        process = ctx.Process(target=client_main, args=(ws_url, mine, child), daemon=True)
        process.start()
        clients.append((process, parent))
    try:
        for _, conn in clients:
            if not conn.poll(600):
                raise RuntimeError("the websocket clients did not subscribe in time")
            if conn.recv() != "ready":
                raise RuntimeError("a client process failed")
        server, pg = CpuMeter(server_root), CpuMeter(postmaster)
        client_cpu = [CpuMeter(p.pid) for p, _ in clients]
        loads, cpu = [], []
        for rate in options.rates:
            rows0 = db.count("SELECT count(*) FROM readings") if db else 0
            transitions0 = db.count("SELECT count(*) FROM alarm_history") if db else 0
            for meter in (server, pg, *client_cpu):
                meter.start()
            spy = py_spy(server_root, options.profile, options.seconds, f"{name}-{rate:.0f}")
            generator.send((mode, target, rate, options.seconds, options.batch,
                            options.connections if mode == "http" else 1))
            load: StepLoad = generator.recv()
            if spy is not None:
                spy.wait()
            wall = max(load.seconds, load.end - load.start)
            cpu.append((server.seconds() / wall, pg.seconds() / wall, sum(m.seconds() for m in client_cpu) / wall))
            time.sleep(1.0)
            rows = (db.count("SELECT count(*) FROM readings") - rows0) if db else None
            transitions = (db.count("SELECT count(*) FROM alarm_history") - transitions0) if db else None
            loads.append((load, rows, transitions))
        time.sleep(2.0)  # the last frames arrive
        collected = []
        for _, conn in clients:
            conn.send("collect")
            collected.append(conn.recv())
    finally:
        for process, conn in clients:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send("stop")
                if conn.poll(10):
                    conn.recv()
            process.join(5)
            if process.is_alive():
                process.terminate()
    sent = np.concatenate([c["sent"] for c in collected])
    latency = np.concatenate([c["latency"] for c in collected])
    received: dict[int, set[tuple[str, int]]] = {}
    for c in collected:
        for index, got in c["alarms"].items():
            received[index] = set(got)
    frames_at: dict[int, int] = {}
    for c in collected:
        for tenth, count in c["frames_at"].items():
            frames_at[tenth] = frames_at.get(tenth, 0) + count
    subscribers = layout.alarm_subscribers(boxes)
    coverage = layout.coverage(boxes)
    results = []
    for (load, rows, transitions), (server_cpu, pg_cpu, clients_cpu) in zip(loads, cpu, strict=True):
        lo, hi = load.start * 1e6 - 1, load.end * 1e6 + 1
        window = (sent >= lo) & (sent <= hi)
        lat = latency[window] / 1000.0
        wall = max(load.seconds, load.end - load.start)
        expected = {(client, layout.sensor_id(i), t) for i, t in load.alarm_readings for client in subscribers[i]}
        got = {(client, s, t) for client, keys in received.items() for s, t in keys if lo <= t <= hi}
        with_alarms = mode == "http"
        results.append(StepResult(
            name, load.rate, load.sent / wall, load.accepted / wall,
            float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            float(np.percentile(lat, 99)) if len(lat) else float("nan"),
            int(window.sum()), int(coverage[load.sensors].sum()),
            sum(c for tenth, c in frames_at.items() if load.start * 10 <= tenth < load.end * 10) / wall,
            len(expected) if with_alarms else None, len(expected - got) if with_alarms else None,
            len(got - expected) if with_alarms else None, transitions, server_cpu, pg_cpu, clients_cpu,
            rows / wall if rows is not None else None, load.late_s, load.failed_posts))
    return results


def run(options: Options, progress: bool = False) -> Report:
    """The whole benchmark; `progress` prints each run's rows as it ends."""
    from sqlalchemy.engine import make_url

    from twin.db import open_database
    from twin.settings import Settings

    layout = Layout(options.sensors)
    boxes = layout.boxes(options.clients)
    report = Report(options.sensors, options.clients, [])
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-live-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        database = open_database(settings)
        generator_conn, child = ctx.Pipe()
        generator = ctx.Process(target=generator_main, args=(options.sensors, child), daemon=True)
        generator.start()
        server: subprocess.Popen[bytes] | None = None
        redis: subprocess.Popen[bytes] | None = None
        db: Db | None = None
        try:
            url = settings.database_url or (database.embedded.url() if database.embedded else "")
            u = make_url(url)
            import psycopg

            conninfo = psycopg.conninfo.make_conninfo(host=u.host, port=u.port, user=u.username,
                                                      password=u.password, dbname=u.database)
            dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
            db = Db(conninfo)
            postmaster = postmaster_pid(database)
            env = {**os.environ, "CITYTWIN_DATABASE_URL": url, "CITYTWIN_DATA_DIR": str(Path(tmp) / "server")}
            env.pop("CITYTWIN_BUS_URL", None)
            made = False
            for workers in options.workers:
                run_env = dict(env)
                if workers > 1:
                    redis_port = free_port()
                    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
                    wait_port(redis_port)
                    run_env["CITYTWIN_BUS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
                server, port = start_server(run_env, workers)
                if not made:
                    start = time.perf_counter()
                    create_sensors(port, layout)
                    report.notes.append(f"{options.sensors:,} sensors created through POST /sensors in "
                                        f"{time.perf_counter() - start:.1f} s")
                    made = True
                name = f"CityTwin {workers}w" + (" +Redis" if workers > 1 else "")
                steps = phase(name, f"ws://127.0.0.1:{port}/ws", "http", port, options, layout, boxes,
                              generator_conn, server.pid, postmaster, db)
                report.steps += steps
                if progress:
                    print_steps(steps)
                if server.poll() is not None:
                    report.notes.append(f"{name}: the server exited with {server.returncode} during the run")
                _settle_alarms(db)
                stop(server)
                server = None
                if redis is not None:
                    stop(redis)
                    redis = None
            if options.peer:
                bare_port = free_port()
                server = subprocess.Popen([sys.executable, "-c",
                                           f"from bench.live.servers import bare_serve; bare_serve({bare_port}, "
                                           f"{options.sensors})"], cwd=ROOT)
                wait_port(bare_port)
                steps = phase("bare websockets", f"ws://127.0.0.1:{bare_port}", "ws",
                              f"ws://127.0.0.1:{bare_port}", options, layout, boxes, generator_conn,
                              server.pid, None, None)
                report.steps += steps
                if progress:
                    print_steps(steps)
                stop(server)
                server = None
            if options.profile is not None:
                report.profiles = sorted(options.profile.glob("*.txt"))
            report.copy_rows = int(min(200_000, max(options.rates) * options.seconds))
            report.raw_copy, report.our_store, report.latest_flush = compare_writes(
                conninfo, dsn, report.copy_rows, options.copy_repeat)
        finally:
            with contextlib.suppress(OSError, BrokenPipeError):
                generator_conn.send("stop")
            generator.join(10)
            if generator.is_alive():
                generator.terminate()
            stop(server)
            stop(redis)
            if db is not None:
                db.close()
            database.close()
    return report


def _settle_alarms(db: Db, seconds: float = 30) -> None:
    """Wait until the server has stored the alarm transitions it owes (the next server loads them)."""
    deadline, last = time.monotonic() + seconds, -1
    while time.monotonic() < deadline:
        now = db.count("SELECT count(*) FROM alarm_history")
        if now == last:
            return
        last = now
        time.sleep(0.5)
