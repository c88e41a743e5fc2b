"""The Prometheus metrics of a worker and the thin hooks the rest of the server calls; `/metrics` renders them.

Every hook is a counter step or a gauge set in memory (no I/O, no database). Under `citytwin serve --workers N`
the workers write their values to files in `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, set
up by `twin.ops.serving` before the workers start) and any worker's `/metrics` answers for all of them: counters
and histograms summed, websocket gauges summed over live workers, gauges of the shared live state taken as the
largest (every worker holds the same state).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

if TYPE_CHECKING:
    from twin.live.alarms import Transition
    from twin.live.hub import Hub
    from twin.live.service import LiveService

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
LEVELS = ("blue", "yellow", "orange", "red")

HTTP_REQUESTS = Counter("citytwin_http_requests", "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
HTTP_DURATION = Histogram("citytwin_http_request_duration_seconds",
                          "Time from a request's arrival to its last body byte, by method and route template",
                          ["method", "route"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
READINGS = Counter("citytwin_readings", "Readings checked on any path (HTTP, websocket, MQTT), by outcome: "
                   "accepted (stored), duplicate (stored before), rejected (refused with a reason)", ["outcome"])
WEBSOCKET_CLIENTS = Gauge("citytwin_websocket_clients", "Open websocket sessions", multiprocess_mode="livesum")
WEBSOCKET_SUBSCRIBED = Gauge("citytwin_websocket_subscribed_clients", "Websocket clients with a live subscription",
                             multiprocess_mode="livesum")
WEBSOCKET_QUEUED = Gauge("citytwin_websocket_queued_messages",
                         "Messages waiting in the outboxes of all live subscribers", multiprocess_mode="livesum")
WEBSOCKET_LAG_MAX = Gauge("citytwin_websocket_queue_lag_max_messages",
                          "Messages waiting in the fullest outbox of one subscriber", multiprocess_mode="livemax")
WEBSOCKET_SEQ_LAG = Gauge("citytwin_websocket_queue_lag_max_seq",
                          "Bus entries the furthest-behind subscriber has not been handed yet (live seq minus its "
                          "delivered seq)", multiprocess_mode="livemax")
WEBSOCKET_OVERFLOWS = Counter("citytwin_websocket_overflows", "Websocket clients closed for falling too far behind")
WEBSOCKET_DRAINED = Counter("citytwin_websocket_drained", "Websocket clients told to reconnect at shutdown")
ALARM_TRANSITIONS = Counter("citytwin_alarm_transitions", "Alarm transitions caused by readings this worker "
                            "stored, by action (raised, escalated, de-escalated, cleared) and level (the previous "
                            "level for cleared)", ["action", "level"])
ALARMS_ACTIVE = Gauge("citytwin_alarms_active", "Active alarms in the live state, by level", ["level"],
                      multiprocess_mode="livemax")
SENSORS = Gauge("citytwin_sensors", "Sensors in the live state", multiprocess_mode="livemax")
INGEST_JOBS = Counter("citytwin_ingest_jobs", "Ingest jobs by kind and status (queued, succeeded, failed)",
                      ["kind", "status"])
INGEST_JOBS_RUNNING = Gauge("citytwin_ingest_jobs_running", "Ingest jobs running now", multiprocess_mode="livesum")
DRILL_RUNS = Counter("citytwin_drill_runs", "Drill runs by state: started, then how they ended (finished, "
                     "failed, stopped)", ["state"])


# -- hooks ---------------------------------------------------------------------------------------------------------
def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def count_readings(accepted: int, duplicates: int, rejected: int) -> None:
    if accepted:
        READINGS.labels("accepted").inc(accepted)
    if duplicates:
        READINGS.labels("duplicate").inc(duplicates)
    if rejected:
        READINGS.labels("rejected").inc(rejected)


def count_alarm_transitions(transitions: Iterable[Transition]) -> None:
    for t in transitions:
        ALARM_TRANSITIONS.labels(t.action, t.level or t.previous or "none").inc()


def count_job(kind: str, status: str) -> None:
    INGEST_JOBS.labels(kind, status).inc()


def count_drill_run(state: str) -> None:
    DRILL_RUNS.labels(state).inc()


def sample_live(hub: Hub, sessions: int) -> None:
    """The gauges of a worker's live layer, sampled (once a second and at every scrape), O(clients + alarms)."""
    queued = lag = seq_lag = 0
    seq = hub.state.seq
    for client in hub.clients.values():
        box = client.outbox
        waiting = len(box.readings) + len(box.ordered)
        queued += waiting
        lag = max(lag, waiting)
        if waiting:
            seq_lag = max(seq_lag, seq - box.delivered)
    WEBSOCKET_CLIENTS.set(sessions)
    WEBSOCKET_SUBSCRIBED.set(len(hub.clients))
    WEBSOCKET_QUEUED.set(queued)
    WEBSOCKET_LAG_MAX.set(lag)
    WEBSOCKET_SEQ_LAG.set(seq_lag)
    counts = dict.fromkeys(LEVELS, 0)
    for alarm in hub.state.alarms.values():
        level = alarm.get("level")
        if level in counts:
            counts[level] += 1
    for level, n in counts.items():
        ALARMS_ACTIVE.labels(level).set(n)
    SENSORS.set(len(hub.state.sensors))


# -- exposition ------------------------------------------------------------------------------------------------------
def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def exposition() -> bytes:
    """The text format of every worker's metrics (multiprocess mode) or of this process's."""
    folder = multiprocess_dir()
    if folder is None:
        return bytes(_generate_latest(REGISTRY))
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return bytes(_generate_latest(registry))


def forget_dead_workers() -> None:
    """Drop the live gauges of worker processes that are gone (a worker restarted by the supervisor), so their
    last websocket counts are not summed in forever. Counters and histograms of dead workers stay: they count."""
    folder = multiprocess_dir()
    if folder is None or not folder.is_dir():
        return
    from prometheus_client import multiprocess

    pids = {path.stem.rsplit("_", 1)[-1] for path in folder.glob("gauge_live*_*.db")}
    for pid in pids:
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(folder))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def sample_every(live: LiveService, seconds: float = 1.0) -> None:
    """The live gauges refreshed every `seconds` (each worker writes its own; a scrape may come to any)."""
    while True:
        sample_live(live.hub, len(live.sessions))
        await asyncio.sleep(seconds)
