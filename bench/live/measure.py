"""Measuring a run: CPU of process trees from /proc, rows in the live tables, py-spy profiles, the results."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def proc_times() -> dict[int, tuple[int, float]]:
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
        procs = proc_times()
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
    latest_flush: float = 0.0
    notes: list[str] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)


def postmaster_pid(database: Any) -> int | None:
    """The embedded PostgreSQL's postmaster (its CPU is measured apart), or None for an external database."""
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


def py_spy(pid: int, folder: Path | None, seconds: float, label: str) -> subprocess.Popen[bytes] | None:
    """`py-spy record` of the server's process tree over one step (raw collapsed stacks) into `folder`, if any."""
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / (label.replace(" ", "_").replace("+", "") + ".txt")
    return subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid),
                             "--subprocesses", "--nonblocking", "-r", "50", "-d", str(int(seconds)),
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
