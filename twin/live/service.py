"""The live service of one worker: validates and stores what comes in, publishes it on the bus, applies the bus
to its hub, and persists the alarms its own readings caused. Runs on the worker's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from twin.api.query_server import asyncpg_arguments
from twin.live import latest, store
from twin.live.alarms import RANK, Transition, parse_rule
from twin.live.bus import Bus, open_bus
from twin.live.hub import Hub
from twin.live.kinds import KINDS, kind_of
from twin.live.readings import Window, check_batch
from twin.live.sensors import Sensor, SensorError, parse_sensor
from twin.live.state import to_us
from twin.live.tasks import cancel_and_wait
from twin.live.ticks import Ticker
from twin.live.writer import ReadingWriter
from twin.ops import metrics
from twin.queries import containing_query

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveOptions:
    bus_url: str | None = None
    retention_days: int = 30
    max_batch: int = 10_000
    event_level: str = "orange"
    sweep_s: float = 1.0
    outbox_limit: int = 10_000
    latest_flush_s: float = 1.0


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class LiveService:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, hub: Hub, options: LiveOptions) -> None:
        self.pool, self.bus, self.hub, self.options = pool, bus, hub, options
        self.worker = uuid.uuid4().hex[:12]
        self.writer = ReadingWriter(pool)
        self.pending: asyncio.Queue[list[Transition]] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.observers: list[Callable[[list[list[Any]]], None]] = []
        """Called with the rows ([sensor, Unix µs, value]) of every readings entry this worker stored, once the
        state holds them (the SensorThings MQTT topics publish them)."""
        self.controls: list[Callable[[dict[str, Any]], None]] = []
        """Called with every `drill_control` entry: the worker owning the run forwards it (twin/drills/runner.py)."""
        self.sessions: set[Any] = set()
        """This worker's open websocket sessions (`twin.live.ws.Session`), drained at shutdown."""
        self.ticker = Ticker()
        """The websockets' shared batching tick."""

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background until it ends or the service closes."""
        task = asyncio.create_task(work)
        self.tasks.append(task)
        task.add_done_callback(self.tasks.remove)

    @classmethod
    async def open(cls, dsn: str, options: LiveOptions) -> LiveService:
        pool = await store.open_pool(dsn)
        async with pool.acquire() as conn:
            await store.maintain_partitions(conn, datetime.now(UTC), options.retention_days)
        bus = open_bus(options.bus_url)
        await bus.mark()  # before the state is read: what other workers publish meanwhile is applied after it
        async with pool.acquire() as conn:
            await latest.recover(conn, every_mark=True)  # the last run may have crashed before a flush
            state = await store.load_state(conn, 0)
        service = cls(pool, bus, Hub(state, outbox_limit=options.outbox_limit), options)
        async with pool.acquire() as conn:  # before any reading is taken: a crash from now on is recovered
            await latest.flush(conn, service.worker, [], datetime.now(UTC) - latest.SLACK)
        await bus.start(service.on_entry)
        state.seq = service.hub.ring_floor = bus.start_seq
        service.tasks = [asyncio.create_task(service._persist(), name="citytwin-alarms"),
                         asyncio.create_task(service._sweep(), name="citytwin-sweep"),
                         asyncio.create_task(service._partitions(), name="citytwin-partitions"),
                         asyncio.create_task(service._flush_latest(), name="citytwin-latest")]
        return service

    async def close(self, flush_s: float = 5.0) -> None:
        """Stop, after the alarm transitions still queued are stored (waiting at most `flush_s`) and the latest
        values flushed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_s):
                await self.pending.join()
        await cancel_and_wait(self.tasks)
        self.ticker.close()
        await self.writer.close()
        with contextlib.suppress(Exception):  # not flushed: the mark stays and the next start corrects
            if await self._flush_once() and not self.writer.pending.in_flight:
                async with self.pool.acquire() as conn:
                    await latest.drop_mark(conn, self.worker)
        await self.bus.close()
        await self.pool.close()

    # -- the bus -----------------------------------------------------------------------------------------------
    def on_entry(self, seq: int, entry: dict[str, Any]) -> None:
        applied = self.hub.apply(seq, entry)
        if applied.transitions and applied.origin == self.worker:
            self.pending.put_nowait(applied.transitions)
            metrics.count_alarm_transitions(applied.transitions)
        if self.controls and entry.get("k") == "drill_control":
            for control in self.controls:
                control(entry)
        if self.observers and entry.get("k") == "readings" and entry.get("o") == self.worker:
            for observer in self.observers:
                try:
                    observer(entry["r"])
                except Exception:  # an observer must not stop the bus
                    log.exception("a readings observer failed")

    async def _persist(self) -> None:
        """Alarm transitions this worker's readings caused: alarm rows, history, and the events they open."""
        threshold = RANK[self.options.event_level]
        while True:
            transitions = await self.pending.get()
            try:
                async with self.pool.acquire() as conn:
                    await store.write_transitions(conn, transitions, self.hub.state.sensors)
                    for t in transitions:
                        sensor = self.hub.state.sensors.get(t.sensor_id)
                        if sensor is None or t.level is None or RANK[t.level] < threshold:
                            continue
                        event = await store.open_alarm_event(conn, t, sensor, KINDS[sensor.kind].event_kind)
                        if event is not None:
                            await self.bus.publish({"k": "event", "event": event})
            except Exception:  # the loop must outlive any one failure
                log.exception("alarm transitions could not be stored")
            finally:
                self.pending.task_done()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.options.sweep_s)
            with contextlib.suppress(Exception):
                await self.bus.publish({"k": "sweep", "now": to_us(datetime.now(UTC))})

    async def _flush_once(self) -> bool:
        """Upsert the sensors whose latest value changed since the last flush and move this worker's mark."""
        rows, mark = self.writer.pending.take(datetime.now(UTC))
        try:
            async with self.pool.acquire() as conn:
                await latest.flush(conn, self.worker, rows, mark)
        except BaseException:
            self.writer.pending.give_back(rows)
            raise
        return True

    async def _flush_latest(self) -> None:
        """`sensor_latest` from what this worker stored, every `latest_flush_s`; now and then the marks of workers
        that are gone are recovered (`latest.recover`)."""
        checked = 0.0
        while True:
            await asyncio.sleep(self.options.latest_flush_s)
            try:
                await self._flush_once()
                if (now := asyncio.get_running_loop().time()) - checked > latest.STALE.total_seconds():
                    checked = now
                    async with self.pool.acquire() as conn:
                        await latest.recover(conn, every_mark=False)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                log.exception("latest values could not be flushed")

    async def _partitions(self) -> None:
        while True:
            await asyncio.sleep(3600)
            try:
                async with self.pool.acquire() as conn:
                    await store.maintain_partitions(conn, datetime.now(UTC), self.options.retention_days)
            except (asyncpg.PostgresError, OSError):
                log.exception("readings partitions could not be maintained")

    # -- readings ----------------------------------------------------------------------------------------------
    async def post_readings(self, items: list[Any], allowed: frozenset[str] | None = None) -> BatchResult:
        """Check every item, store the good ones durably (acknowledged only after the commit), publish the new;
        `allowed`: the only sensors the sender may post for (a device key's), None for any."""
        now = datetime.now(UTC)
        good, bad = check_batch(items, self.hub.state.sensors,
                                Window(now, timedelta(days=self.options.retention_days)), allowed)
        result = BatchResult(rejected=[{"index": r.index, "reason": r.reason} for r in bad])
        unique: dict[tuple[str, datetime], float] = {}
        for _, reading in good:
            key = (reading.sensor_id, reading.time)
            if key in unique:
                result.duplicates += 1
            else:
                unique[key] = reading.value
        rows = [(s, t, v, now) for (s, t), v in unique.items()]
        repeated = await self.writer.write(rows)
        result.accepted = len(rows) - len(repeated)
        result.duplicates += len(repeated)
        metrics.count_readings(result.accepted, result.duplicates, len(result.rejected))
        fresh = sorted(((s, t, v) for s, t, v, _ in rows if not repeated or (s, t) not in repeated),
                       key=lambda r: r[1])
        if fresh:
            try:
                await self.bus.publish({"k": "readings", "o": self.worker, "at": to_us(now),
                                        "r": [[s, to_us(t), v] for s, t, v in fresh]})
            except Exception:  # stored and acknowledged; only the live push is lost
                log.exception("readings stored but not published")
        return result

    # -- sensors -----------------------------------------------------------------------------------------------
    async def bind(self, sensor: Sensor) -> Sensor:
        """A positioned sensor without an object is bound to the innermost object that contains it."""
        if sensor.object_id is not None or not sensor.positioned:
            return sensor
        assert sensor.lon is not None and sensor.lat is not None
        sql, arguments = asyncpg_arguments(containing_query(sensor.lon, sensor.lat, sensor.h, None))
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(sql, *arguments)
        return sensor.bound_to(row[0] if row else None)

    async def put_sensors(self, raws: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Create or replace sensors: the stored ones, and the refused ones with their reasons."""
        stored: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        sensors: list[Sensor] = []
        for index, raw in enumerate(raws):
            try:
                sensors.append(await self.bind(parse_sensor(raw)))
            except SensorError as exc:
                refused.append({"index": index, "reason": str(exc)})
        async with self.pool.acquire() as conn, conn.transaction():
            for sensor in sensors:
                await store.upsert_sensor(conn, sensor)
        for sensor in sensors:
            await self.bus.publish({"k": "sensor", "sensor": sensor.as_json()})
            stored.append(sensor.as_json())
        return stored, refused

    async def delete_sensor(self, sensor_id: str) -> bool:
        async with self.pool.acquire() as conn:
            deleted = await conn.fetchval("DELETE FROM sensors WHERE id = $1 RETURNING true", sensor_id)
        if deleted:
            await self.bus.publish({"k": "sensor_delete", "id": sensor_id})
        return bool(deleted)

    async def reload_sensors(self, ids: list[str]) -> None:
        """Sensors another process changed in the database (`citytwin sensors import|delete`): published as stored,
        and those no longer stored as deleted. Called from the notice thread, so failures are logged here."""
        try:
            async with self.pool.acquire() as conn:
                found = await store.read_sensors(conn, ids)
            for sensor in found:
                await self.bus.publish({"k": "sensor", "sensor": sensor.as_json()})
            for gone in sorted(set(ids) - {s.id for s in found}):
                if gone in self.hub.state.sensors:
                    await self.bus.publish({"k": "sensor_delete", "id": gone})
        except Exception:
            log.exception("changed sensors could not be reloaded")

    async def set_kind_rule(self, kind: str, raw: Any) -> dict[str, Any] | None:
        kind_of(kind)
        rule = parse_rule(raw) if raw is not None else None
        async with self.pool.acquire() as conn:
            if rule is None:
                await conn.execute("DELETE FROM kind_thresholds WHERE kind = $1", kind)
            else:
                await conn.execute("INSERT INTO kind_thresholds VALUES ($1, $2) ON CONFLICT (kind) DO UPDATE "
                                   "SET rule = excluded.rule", kind, rule.as_json())
        await self.bus.publish({"k": "kind_rule", "kind": kind, "rule": rule.as_json() if rule else None})
        return rule.as_json() if rule else None

    async def family(self, object_ids: tuple[str, ...]) -> set[str]:
        """The objects and everything under them (storeys, spaces, parts), by `parent_id`."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """WITH RECURSIVE tree AS (SELECT id FROM twin_objects WHERE id = ANY($1::text[])
                   UNION SELECT o.id FROM twin_objects o JOIN tree t ON o.parent_id = t.id) SELECT id FROM tree""",
                list(object_ids))
        return set(object_ids) | {r["id"] for r in rows}

    # -- alarms ------------------------------------------------------------------------------------------------
    async def acknowledge(self, alarm_id: str, actor: str) -> dict[str, Any] | None:
        """Record who acknowledged an active alarm; None when there is no such active alarm."""
        if alarm_id not in self.hub.state.alarms:
            return None
        at = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            if not await store.acknowledge(conn, alarm_id, actor, at):
                return None
        await self.bus.publish({"k": "ack", "alarm": alarm_id, "by": actor, "at": at.isoformat()})
        return self.hub.state.alarms.get(alarm_id)

    async def tileset_changed(self, notice: dict[str, Any]) -> None:
        await self.bus.publish({"k": "tileset", "notice": notice})
