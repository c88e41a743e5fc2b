"""The live twin under load: sensors, websocket subscribers and readings at rising rates, post → client.

Processes: the server (as `citytwin serve` runs it; 1 worker, and 2 workers sharing a Redis stream bus), one
load generator posting readings (`POST /readings`, batches over several keep-alive connections, each reading's
`time` its send time), and 1–2 client processes holding the websocket subscribers (each a bbox of ≈1 % of the
sensors) that measure now − time for every reading they get and record every alarm. Peers in the same run: a bare
`websockets` broadcast server (the same readings over one connection, routed by a sensor → clients map, batched
per 20 ms tick) measured with the same client processes — the fan-out limit —, and PostgreSQL's raw COPY of the
same reading rows into a table with the same (sensor_id, time) index — the write limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import logging
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson

LON0, LAT0 = 13.30, 52.45
DLON, DLAT = 0.00025, 0.00016  # ≈17 m × 18 m between sensors
BOX_SIDE = 0.1  # a client's box spans 10 % of the grid each way: ≈1 % of the sensors
ALARM_EVERY = 100  # every 100th sensor alarms: each of its readings crosses red or falls back (1 % of readings)
ALARM_RULE = {"direction": "above", "levels": {"red": 50.0}, "hysteresis": 0.0, "min_duration_s": 0.0}
HIGH, LOW = 60.0, 10.0
TICK_S = 0.02
OVERRUN = 1.5  # a step ends at most this many times its length after its start
POST_TIMEOUT_S = 30.0  # a POST unanswered this long counts as failed (and its connection is dropped)
CHANNELS = ["readings", "alarms"]


# -- the layout: sensors on a grid, clients' boxes -----------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    n: int

    @property
    def side(self) -> int:
        return int(np.ceil(np.sqrt(self.n)))

    @staticmethod
    def sensor_id(i: int) -> str:
        return f"S{i:06d}"

    def position(self, i: int) -> tuple[float, float]:
        return LON0 + (i % self.side) * DLON, LAT0 + (i // self.side) * DLAT

    @staticmethod
    def alarms(i: int) -> bool:
        return i % ALARM_EVERY == 0

    def sensor(self, i: int) -> dict[str, Any]:
        lon, lat = self.position(i)
        if self.alarms(i):
            return {"id": self.sensor_id(i), "kind": "gas", "position": [lon, lat, 1.0],
                    "object_id": f"bench.b{i // 4}", "thresholds": ALARM_RULE}
        return {"id": self.sensor_id(i), "kind": "temperature", "position": [lon, lat, 1.0],
                "object_id": f"bench.b{i // 4}"}

    def boxes(self, clients: int, seed: int = 5) -> list[tuple[int, int, int]]:
        """Each client's box as (first column, first row, width) in grid cells."""
        width = max(1, round(self.side * BOX_SIDE))
        rows = (self.n + self.side - 1) // self.side
        rng = np.random.default_rng(seed)
        return [(int(rng.integers(0, self.side - width + 1)), int(rng.integers(0, max(1, rows - width + 1))), width)
                for _ in range(clients)]

    def bbox(self, box: tuple[int, int, int]) -> list[float]:
        x, y, w = box
        return [LON0 + (x - 0.5) * DLON, LAT0 + (y - 0.5) * DLAT, LON0 + (x + w - 0.5) * DLON,
                LAT0 + (y + w - 0.5) * DLAT]

    def in_box(self, box: tuple[int, int, int]) -> Iterator[int]:
        x, y, w = box
        for row in range(y, y + w):
            for col in range(x, x + w):
                i = row * self.side + col
                if i < self.n:
                    yield i

    def coverage(self, boxes: Sequence[tuple[int, int, int]]) -> np.ndarray:
        """How many clients' boxes hold each sensor."""
        rows = (self.n + self.side - 1) // self.side
        count = np.zeros((rows, self.side), dtype=np.int32)
        for x, y, w in boxes:
            count[y:y + w, x:x + w] += 1
        return count.reshape(-1)[:self.n]

    def alarm_subscribers(self, boxes: Sequence[tuple[int, int, int]]) -> dict[int, list[int]]:
        """The clients whose box holds each alarming sensor."""
        sensors = np.arange(0, self.n, ALARM_EVERY)
        cols, rows = sensors % self.side, sensors // self.side
        found: dict[int, list[int]] = {int(i): [] for i in sensors}
        for client, (x, y, w) in enumerate(boxes):
            for i in sensors[(cols >= x) & (cols < x + w) & (rows >= y) & (rows < y + w)].tolist():
                found[i].append(client)
        return found


def _time_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1e6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server under test, and the bare peer ---------------------------------------------------------------------
def serve(port: int, workers: int) -> None:
    """The app as `citytwin serve [--workers N]` serves it (settings from CITYTWIN_*), without an access log."""
    import uvicorn

    from twin.api.lean_http import LeanHttpProtocol

    if workers <= 1:
        from twin.api import create_app
        from twin.settings import Settings

        uvicorn.run(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    http=LeanHttpProtocol)
    else:
        uvicorn.run("twin.api.asgi:app_from_environment", factory=True, host="127.0.0.1", port=port,
                    workers=workers, log_level="warning", access_log=False, http=LeanHttpProtocol)


def bare_serve(port: int, n: int) -> None:
    """The fan-out limit: a minimal websockets server. A `feed` connection sends readings; each goes to the
    clients whose box holds its sensor (a sensor → clients map built at subscribe), one frame per client per
    tick."""
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # the benchmark's port probes are no errors
    asyncio.run(_bare(port, Layout(n)))


class _BareClient:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.wake = asyncio.Event()


async def _bare(port: int, layout: Layout) -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    subs: dict[str, list[_BareClient]] = {}
    seq = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal seq
        hello = orjson.loads(await ws.recv())
        if hello.get("op") == "feed":
            async for frame in ws:
                for r in orjson.loads(frame):
                    seq += 1
                    message = {"type": "reading", "seq": seq, "sensor": r["sensor"], "object": None,
                               "kind": "temperature", "time": r["time"], "value": r["value"]}
                    for client in subs.get(r["sensor"], ()):
                        if not client.pending:
                            client.wake.set()
                        client.pending.append(message)
            return
        w, s, e, _ = hello["bbox"]
        col0, row0 = round((w - LON0) / DLON + 0.5), round((s - LAT0) / DLAT + 0.5)
        width = round((e - w) / DLON)
        client = _BareClient()
        mine = [layout.sensor_id(i) for i in layout.in_box((col0, row0, width))]
        for sensor_id in mine:
            subs.setdefault(sensor_id, []).append(client)
        await ws.send(orjson.dumps({"type": "snapshot", "seq": seq, "sensors": len(mine)}).decode())
        last = time.monotonic()
        try:
            while True:
                await client.wake.wait()
                await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - last)))
                client.wake.clear()
                last = time.monotonic()
                messages, client.pending = client.pending, []
                await ws.send(orjson.dumps(messages).decode())
        except ConnectionClosed:
            pass
        finally:
            for sensor_id in mine:
                subs[sensor_id].remove(client)

    async with ws_serve(handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None):
        await asyncio.Future()


# -- websocket clients (1–2 processes) ----------------------------------------------------------------------------
def client_main(url: str, boxes: list[tuple[int, list[float]]], control: Connection) -> None:
    """Subscribe every box, then record (send µs, latency µs) for each reading and every alarm per client until
    told to hand them over."""
    asyncio.run(_clients(url, boxes, control))


async def _clients(url: str, boxes: list[tuple[int, list[float]]], control: Connection) -> None:
    from websockets.asyncio.client import connect

    sent_us, latency_us = array("q"), array("q")
    alarms: dict[int, list[tuple[str, int]]] = {index: [] for index, _ in boxes}
    counts = {"frames": 0, "ready": 0, "overflow": 0, "closed": 0}
    frames_at: dict[int, int] = {}  # frames received per 100 ms
    gate = asyncio.Semaphore(32)
    sockets: list[Any] = []

    async def one(index: int, bbox: list[float]) -> None:
        async with gate:
            ws = await connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=120)
            sockets.append(ws)
            await ws.send(orjson.dumps({"op": "subscribe", "bbox": bbox, "channels": CHANNELS}).decode())
            while True:
                first = orjson.loads(await ws.recv())
                if isinstance(first, dict) and first.get("type") == "snapshot":
                    break
        counts["ready"] += 1
        try:
            async for frame in ws:
                now = time.time()
                counts["frames"] += 1
                tenth = int(now * 10)
                frames_at[tenth] = frames_at.get(tenth, 0) + 1
                messages = orjson.loads(frame)
                if isinstance(messages, dict):
                    if messages.get("type") == "overflow":
                        counts["overflow"] += 1
                    continue
                for m in messages:
                    kind = m["type"]
                    if kind == "reading":
                        t = datetime.fromisoformat(m["time"]).timestamp()
                        sent_us.append(int(t * 1e6))
                        latency_us.append(int((now - t) * 1e6))
                    elif kind == "alarm":
                        alarms[index].append((m["sensor"], _us(m["updated_at"])))
        except Exception:  # a closed connection ends this client; counted
            counts["closed"] += 1

    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(one(index, bbox)) for index, bbox in boxes]
    while counts["ready"] < len(boxes):
        await asyncio.sleep(0.1)
        if any(t.done() and t.exception() for t in tasks):
            raise next(t.exception() for t in tasks if t.done() and t.exception())  # type: ignore[misc]
    control.send("ready")
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "collect":
            control.send({"sent": np.frombuffer(sent_us, dtype=np.int64).copy(),
                          "latency": np.frombuffer(latency_us, dtype=np.int64).copy(),
                          "alarms": alarms, "counts": dict(counts), "frames_at": dict(frames_at)})
            frames_at.clear()
            del sent_us[:], latency_us[:]
            for index in alarms:
                alarms[index] = []
        elif command == "stop":
            break
    for ws in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2)
    for task in tasks:
        task.cancel()
    control.send("stopped")


# -- the load generator -------------------------------------------------------------------------------------------
class _Http:
    """A lean keep-alive POST client: the request as bytes, the answer read by its Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(lines[0].split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class StepLoad:
    """What the generator did in one step: readings sent and accepted, and which sensors' were accepted."""

    rate: float
    seconds: float
    start: float = 0.0
    end: float = 0.0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed_posts: int = 0
    late_s: float = 0.0  # how far behind its schedule the last batch went out
    sensors: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    alarm_readings: list[tuple[int, int]] = field(default_factory=list)  # (sensor index, time µs) accepted


def generator_main(n: int, control: Connection) -> None:
    """Readings on command: ("http", port, rate, seconds, batch, connections) posts them; ("ws", url, …) feeds the
    bare peer over one websocket. Sensors take turns in a fixed shuffled order; an alarming sensor's readings
    alternate between above red and below it, so each of its readings is one alarm transition."""
    asyncio.run(_generate(n, control))


class _Generator:
    def __init__(self, n: int) -> None:
        layout = Layout(n)
        self.n = n
        self.order = np.random.default_rng(3).permutation(n).astype(np.int32)
        self.prefixes = [b'{"sensor":"%s","time":"' % layout.sensor_id(i).encode() for i in range(n)]
        self.high = np.zeros(n, dtype=bool)  # the alarming sensors' last value was above red
        self.cursor = 0

    def batch(self, size: int, t: float) -> tuple[bytes, np.ndarray, list[int]]:
        """The next `size` sensors' readings at time `t`; their indices and the positions of alarming ones."""
        idx = self.order[np.arange(self.cursor, self.cursor + size) % self.n]
        self.cursor = (self.cursor + size) % self.n
        stamp = _time_text(t).encode()
        parts, alarmed = [], []
        for position, i in enumerate(idx.tolist()):
            if i % ALARM_EVERY == 0:
                value = LOW if self.high[i] else HIGH
                self.high[i] = not self.high[i]
                alarmed.append(position)
            else:
                value = 20.0 + (i % 7)
            parts.append(self.prefixes[i] + stamp + b'","value":%r}' % value)
        return b"[" + b",".join(parts) + b"]", idx, alarmed

    async def step(self, mode: str, target: Any, rate: float, seconds: float, size: int,
                   connections: int) -> StepLoad:
        load = StepLoad(rate, seconds)
        accepted: list[np.ndarray] = []
        interval = size / rate
        next_batch = 0
        start = load.start = time.time() + 0.05

        async def post_loop(conn: Any) -> None:
            nonlocal next_batch
            while True:
                k = next_batch
                next_batch += 1
                due = start + k * interval
                if due >= start + seconds or time.time() > start + seconds * OVERRUN:
                    return  # a server that cannot keep up is offered no more than it takes in the step's time
                await asyncio.sleep(max(0.0, due - time.time()))
                t = time.time()
                load.late_s = max(load.late_s, t - due)
                body, idx, alarmed = self.batch(size, t)
                t_us = _us(_time_text(t))
                load.sent += len(idx)
                good = np.ones(len(idx), dtype=bool)
                if mode == "ws":
                    await conn.send(body.decode())
                    load.accepted += len(idx)
                else:
                    try:
                        status, answer = await asyncio.wait_for(conn.post("/readings", body), POST_TIMEOUT_S)
                    except (OSError, asyncio.IncompleteReadError, TimeoutError):
                        load.failed_posts += 1
                        conn.close()
                        return
                    if status != 200:
                        load.failed_posts += 1
                        continue
                    result = orjson.loads(answer)
                    for r in result["rejected"]:
                        good[r["index"]] = False
                    load.accepted += result["accepted"]
                    load.duplicates += result["duplicates"]
                    load.rejected += len(result["rejected"])
                accepted.append(idx[good])
                load.alarm_readings.extend((int(idx[p]), t_us) for p in alarmed if good[p])

        if mode == "ws":
            from websockets.asyncio.client import connect

            async with connect(target, compression=None, max_size=None, ping_interval=None) as ws:
                await ws.send(orjson.dumps({"op": "feed"}).decode())
                await post_loop(ws)
        else:
            clients = [await _Http.open(target) for _ in range(connections)]
            await asyncio.gather(*(post_loop(c) for c in clients))
            for c in clients:
                c.close()
        load.end = time.time()
        load.sensors = np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int32)
        return load


async def _generate(n: int, control: Connection) -> None:
    generator = _Generator(n)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "stop":
            break
        control.send(await generator.step(*command))
    control.send("stopped")


# -- measuring ----------------------------------------------------------------------------------------------------
def _proc_times() -> dict[int, tuple[int, float]]:
    """Every process's parent and CPU seconds (user + system), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return found


class CpuMeter:
    """CPU seconds of a process tree (processes that appear later count from zero)."""

    def __init__(self, root: int | None) -> None:
        self.root = root
        self.seen: dict[int, float] = {}

    def _tree(self) -> dict[int, float]:
        if self.root is None:
            return {}
        procs = _proc_times()
        if self.root not in procs:
            return {}
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in procs.items():
            children.setdefault(parent, []).append(pid)
        tree, todo = {}, [self.root]
        while todo:
            pid = todo.pop()
            tree[pid] = procs[pid][1]
            todo.extend(children.get(pid, ()))
        return tree

    def start(self) -> None:
        self.seen = self._tree()

    def seconds(self) -> float:
        now = self._tree()
        return sum(v - self.seen.get(pid, 0.0) for pid, v in now.items())


@dataclass
class StepResult:
    target: str
    rate: float
    sent_per_s: float
    sustained: float
    p50_ms: float
    p99_ms: float
    delivered: int
    deliveries_expected: int
    frames_per_s: float
    alarms_expected: int | None
    alarms_lost: int | None
    alarms_extra: int | None
    server_transitions: int | None
    server_cpu: float
    postgres_cpu: float
    clients_cpu: float
    writes_per_s: float | None
    late_s: float
    failed_posts: int


@dataclass
class Report:
    sensors: int
    clients: int
    steps: list[StepResult]
    copy_rows: int = 0
    raw_copy: float = 0.0
    our_store: float = 0.0
    notes: list[str] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)


def _wait_http(port: int, path: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the benchmark server did not answer {path}")


def _wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


ROOT = Path(__file__).resolve().parent.parent


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", f"from bench.live import serve; serve({port}, {workers})"],
                               env=env, cwd=ROOT)
    try:
        _wait_http(port, "/sensors?limit=1")
        if workers > 1:
            time.sleep(3.0)  # every worker has its live layer up
    except RuntimeError:
        _stop(process)
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


def _postmaster(database: Any) -> int | None:
    embedded = getattr(database, "embedded", None)
    if embedded is None:
        return None
    return int((embedded.cluster_dir / "postmaster.pid").read_text().split()[0])


class Db:
    """Counting rows of the live tables from the benchmark (psycopg, autocommit)."""

    def __init__(self, conninfo: str) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo, autocommit=True)

    def count(self, sql: str, *params: Any) -> int:
        row = self.conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


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


def _py_spy(pid: int, options: Options, label: str) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of the server's process tree over one step (raw collapsed stacks), when asked."""
    if options.profile is None:
        return None
    options.profile.mkdir(parents=True, exist_ok=True)
    out = options.profile / (label.replace(" ", "_").replace("+", "") + ".txt")
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid),
                             "--subprocesses", "--nonblocking", "-r", "50", "-d", str(int(options.seconds)),
                             "-f", "raw", "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(path: Path, top: int = 12) -> list[tuple[float, str]]:
    """The functions with the largest share of on-CPU samples (self time) in a raw py-spy profile, leaving out
    threads that only wait (the notice listener, uvicorn's supervisor pong)."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or "NoticeListener" in stack or "always_pong" in stack:
            continue
        total += int(n)
        leaf = stack.split(";")[-1]
        leaf = leaf.split(" (")[0] + " (" + leaf.split(" (")[-1].split(":")[0] + ")" if " (" in leaf else leaf
        counts[leaf] = counts.get(leaf, 0) + int(n)
    return sorted(((c / total, f) for f, c in counts.items()), reverse=True)[:top] if total else []


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
            spy = _py_spy(server_root, options, f"{name}-{rate:.0f}")
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


# -- the write limit ----------------------------------------------------------------------------------------------
def _copy_rows(n: int, day: datetime) -> list[tuple[str, datetime, float, datetime]]:
    layout = Layout(max(n, 1))
    received = day + timedelta(hours=1)
    return [(layout.sensor_id(i % layout.n), day + timedelta(microseconds=i), 20.0 + i % 7, received)
            for i in range(n)]


def raw_copy(conninfo: str, rows: list[tuple[str, datetime, float, datetime]], repeat: int) -> float:
    """PostgreSQL's COPY of the rows (text prepared beforehand) into a plain table indexed like `readings`;
    median rows/s over `repeat` runs."""
    import psycopg

    data = "".join(f"{s}\t{t.isoformat()}\t{v!r}\t{r.isoformat()}\n" for s, t, v, r in rows).encode()
    speeds = []
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (sensor_id text NOT NULL, time timestamptz NOT NULL, "
                     "value double precision NOT NULL, received_at timestamptz NOT NULL)")
        conn.execute("CREATE UNIQUE INDEX bench_copy_sensor_time ON bench_copy (sensor_id, time)")
        conn.commit()
        for _ in range(repeat):
            conn.execute("TRUNCATE bench_copy")
            conn.commit()
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
                copy.write(data)
            conn.commit()
            speeds.append(len(rows) / (time.perf_counter() - start))
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return statistics.median(speeds)


def our_store(dsn: str, n: int, repeat: int, chunk: int = 10_000) -> float:
    """The server's write path (`twin.live.store.write_readings`: COPY into staging, insert skipping re-sent
    rows, latest values) on the same rows, in chunks as the group commit forms them; median rows/s."""
    from twin.live import store

    async def run() -> float:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        await store.init_connection(conn)
        speeds = []
        try:
            for r in range(repeat):
                rows = _copy_rows(n, datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                                  - timedelta(days=2 + r))
                start = time.perf_counter()
                for first in range(0, n, chunk):
                    await store.write_readings(conn, rows[first:first + chunk])
                speeds.append(n / (time.perf_counter() - start))
        finally:
            await conn.close()
        return statistics.median(speeds)

    return asyncio.run(run())


# -- the run ------------------------------------------------------------------------------------------------------
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
            postmaster = _postmaster(database)
            env = {**os.environ, "CITYTWIN_DATABASE_URL": url, "CITYTWIN_DATA_DIR": str(Path(tmp) / "server")}
            env.pop("CITYTWIN_BUS_URL", None)
            made = False
            for workers in options.workers:
                run_env = dict(env)
                if workers > 1:
                    redis_port = _free_port()
                    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
                    _wait_port(redis_port)
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
                _stop(server)
                server = None
                if redis is not None:
                    _stop(redis)
                    redis = None
            if options.peer:
                bare_port = _free_port()
                server = subprocess.Popen([sys.executable, "-c",
                                           f"from bench.live import bare_serve; bare_serve({bare_port}, "
                                           f"{options.sensors})"], cwd=ROOT)
                _wait_port(bare_port)
                steps = phase("bare websockets", f"ws://127.0.0.1:{bare_port}", "ws",
                              f"ws://127.0.0.1:{bare_port}", options, layout, boxes, generator_conn,
                              server.pid, None, None)
                report.steps += steps
                if progress:
                    print_steps(steps)
                _stop(server)
                server = None
            if options.profile is not None:
                report.profiles = sorted(options.profile.glob("*.txt"))
            report.copy_rows = int(min(200_000, max(options.rates) * options.seconds))
            report.raw_copy = raw_copy(conninfo, _copy_rows(report.copy_rows, datetime(2000, 1, 1, tzinfo=UTC)),
                                       options.copy_repeat)
            report.our_store = our_store(dsn, report.copy_rows, options.copy_repeat)
        finally:
            with contextlib.suppress(OSError, BrokenPipeError):
                generator_conn.send("stop")
            generator.join(10)
            if generator.is_alive():
                generator.terminate()
            _stop(server)
            _stop(redis)
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


def _fmt(value: float | int | None, spec: str) -> str:
    if value is None:
        return "–"
    return format(value, spec)


HEADER = (f"{'target':<22}{'offered':>8}{'sent':>8}{'sustain':>8}{'p50':>8}{'p99':>8}{'deliv':>7}{'frames/s':>9}"
          f"{'alarms':>7}{'lost':>5}{'srvCPU':>7}{'pgCPU':>6}{'cliCPU':>7}{'writes/s':>9}{'failed':>7}")


def print_steps(steps: list[StepResult]) -> None:
    print(HEADER)
    for s in steps:
        delivered = s.delivered / s.deliveries_expected if s.deliveries_expected else float("nan")
        print(f"{s.target:<22}{s.rate:>8,.0f}{s.sent_per_s:>8,.0f}{s.sustained:>8,.0f}{s.p50_ms:>7.1f}m"
              f"{s.p99_ms:>7.1f}m{delivered:>6.0%} {s.frames_per_s:>9,.0f}{_fmt(s.alarms_expected, ',d'):>7}"
              f"{_fmt(s.alarms_lost, 'd'):>5}{s.server_cpu:>7.0%}{s.postgres_cpu:>6.0%}{s.clients_cpu:>7.0%}"
              f"{_fmt(s.writes_per_s, ',.0f'):>9}{s.failed_posts:>7}", flush=True)


def _cpu_us(step: StepResult) -> float:
    """Server CPU per accepted reading (µs): what fan-out costs, whatever share of the cores the server got."""
    return step.server_cpu / step.sustained * 1e6 if step.sustained else float("nan")


def print_report(report: Report) -> None:
    print(f"live twin: {report.sensors:,} sensors, {report.clients:,} websocket clients (bbox ≈1 % of the "
          f"sensors each), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end")
    for note in report.notes:
        print(f"  {note}")
    print_steps(report.steps)
    print("  offered/sent/sustain: readings/s scheduled, posted, accepted; p50/p99: post → client in ms over every "
          "reading a client got; deliv: readings received ÷ (accepted × subscribers whose box holds them; "
          "coalescing may lower it); alarms: alarm messages owed to subscribers in scope, lost: owed but never "
          "received; CPU: share of one core (server process tree, PostgreSQL, client processes)")
    print(f"writes: raw COPY of {report.copy_rows:,} reading rows into a table with the (sensor_id, time) index "
          f"{report.raw_copy:,.0f} rows/s; our store path (write_readings) {report.our_store:,.0f} rows/s "
          f"= {report.our_store / report.raw_copy:.2f}× raw COPY")
    ours = [s for s in report.steps if s.target.startswith("CityTwin")]
    bare = {s.rate: s for s in report.steps if s.target == "bare websockets"}
    for s in ours:
        peer = bare.get(s.rate)
        if peer is not None and peer.p99_ms and peer.frames_per_s:
            print(f"  {s.target} at {s.rate:,.0f}/s vs bare websockets: sustained {s.sustained / peer.sustained:.2f}×, "
                  f"p50 {s.p50_ms / peer.p50_ms:.2f}×, p99 {s.p99_ms / peer.p99_ms:.2f}×, "
                  f"frames/s {s.frames_per_s / peer.frames_per_s:.2f}×, server CPU per reading "
                  f"{_cpu_us(s):.0f} µs vs {_cpu_us(peer):.0f} µs ({_cpu_us(s) / _cpu_us(peer):.1f}×)")
    for s in ours:
        if s.rate >= 10_000:
            met = s.sustained >= 0.98 * 10_000 and s.p99_ms <= 100 and s.alarms_lost == 0
            print(f"target {s.target} at {s.rate:,.0f}/s: sustained {s.sustained:,.0f} (≥ 10,000), p99 "
                  f"{s.p99_ms:.0f} ms (≤ 100), {s.alarms_lost} alarms lost (0): {'MET' if met else 'NOT met'}")
    ratio = report.our_store / report.raw_copy if report.raw_copy else 0
    for path in report.profiles:
        print(f"py-spy {path.stem}: " + ", ".join(f"{f} {share:.0%}" for share, f in profile_summary(path, 8)))
    print(f"target writes ≥ 0.5× raw COPY: {ratio:.2f}× — {'MET' if ratio >= 0.5 else 'NOT met'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--rates", default="1000,2000,5000,10000,15000", help="readings/s per step")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--batch", type=int, default=250, help="readings per POST")
    parser.add_argument("--connections", type=int, default=8, help="concurrent HTTP connections posting")
    parser.add_argument("--workers", default="1,2", help="server runs: worker counts (more than 1 uses Redis)")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare websockets server")
    parser.add_argument("--profile", type=Path, help="py-spy the server over every step into this folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 sensors, 100 clients, 2 steps")
    args = parser.parse_args(argv)
    options = Options(args.sensors, args.clients, args.client_procs,
                      tuple(float(r) for r in args.rates.split(",")), args.seconds, args.batch, args.connections,
                      tuple(int(w) for w in args.workers.split(",")), peer=not args.no_peer, profile=args.profile)
    if args.quick:
        options = quick_options()
    print_report(run(options, progress=True))


def quick_options() -> Options:
    return Options(sensors=5_000, clients=100, client_procs=1, rates=(500, 1_000), seconds=3.0, batch=100,
                   connections=4, workers=(1,), copy_repeat=1)
