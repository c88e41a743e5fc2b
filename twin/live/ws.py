"""The websocket adapter: one task reads the client's messages, one sends its batched frames, so a slow client
never holds up the hub. Live: a snapshot (or the messages missed since `resume`), then deltas batched per tick.
Replay: the stored past of a window at any speed, with pause, seek and speed, in the same messages."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from twin.access.asgi import principal_of
from twin.access.ratelimit import RateLimiter
from twin.access.roles import Role
from twin.drills.replay import DrillReplay, DrillReplayError, stored_frames
from twin.live import history
from twin.live.direct import RAW_SEND, DirectFrames
from twin.live.hub import Encoded, frame, frame_bytes
from twin.live.pacing import PacedReplay
from twin.live.protocol import (
    ProtocolError,
    Replay,
    Subscribe,
    op_of,
    parse_instant,
    parse_replay,
    parse_seconds,
    parse_speed,
    parse_subscribe,
)
from twin.live.scope import Scope
from twin.live.service import LiveService
from twin.live.tasks import cancel_and_wait
from twin.live.ticks import TICK_S
from twin.ops import metrics

FRAME_MESSAGES = 500
"""Most messages in one frame: a lagging client's backlog goes out as several frames of modest size."""
HEARTBEAT_S = 15.0
OVERFLOW_CLOSE = 1013  # "try again later": the client resumes from the point it was given
RESTART_CLOSE = 1012  # "service restart": the server is draining; the client resumes elsewhere from its point


MESSAGE_TOO_BIG = 1009
DEVICE_OPS = ("readings", "ping")
"""What a device key may do on the websocket: it reads nothing of the twin."""


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What one client may send: message size, and messages per second with a burst (twin.access.ratelimit)."""

    max_bytes: int = 1024 * 1024
    per_s: float = 50.0
    burst: int = 200


class Session:
    def __init__(self, socket: WebSocket, live: LiveService, limits: ClientLimits | None = None) -> None:
        self.socket, self.live = socket, live
        self.limits = limits or ClientLimits()
        self.rate = RateLimiter(self.limits.per_s, self.limits.burst)
        self.principal = principal_of(socket.scope)
        self.id = uuid.uuid4().hex
        self.wake = asyncio.Event()
        self.subscription: Subscribe | None = None
        self.replay: ReplayRun | DrillReplay | None = None
        self.closed = False
        self.draining = False
        self.sender: asyncio.Task[None] | None = None
        self.due = functools.partial(live.ticker.wake, self._on_tick)
        """What the hub calls when this client's outbox fills: handed out at the next shared tick."""
        self.direct = DirectFrames.of(socket.scope.get(RAW_SEND))
        self.parked = False  # the sender waits for a wake-up with nothing of its own under way
        self.unsent: list[Encoded] = []  # drained at a tick, left for the sender when the transport filled up
        self.sent_at = 0.0  # loop time of the last frame sent
        self.beat_due = False
        self.beat: asyncio.TimerHandle | None = None

    async def send(self, message: Any) -> None:
        await self.socket.send_text(orjson.dumps(message).decode())
        self.sent_at = asyncio.get_running_loop().time()

    def _heartbeat(self) -> None:
        """A timer per client every `HEARTBEAT_S` (not a timeout per frame): one idle that long gets a heartbeat."""
        loop = asyncio.get_running_loop()
        idle = loop.time() - self.sent_at
        if idle >= HEARTBEAT_S:
            self.beat_due = True
            self.wake.set()
            idle = 0.0
        self.beat = loop.call_later(HEARTBEAT_S - idle, self._heartbeat)

    def _on_tick(self) -> None:
        """At the shared tick: the outbox is written out here and now when the sender is parked and the
        connection takes it without waiting (twin.live.direct); anything else — a paused transport, an overflow,
        a heartbeat or drain under way, another server — wakes the sender task, which sends through ASGI. Frames
        stop where the transport fills up (as ASGI's send would wait there): the rest is the sender's, first."""
        direct = self.direct
        if direct is not None and self.parked and not self.wake.is_set() and not self.draining and direct.ready():
            hub = self.live.hub
            client = hub.clients.get(self.id)
            if client is not None and not client.outbox.overflowed:
                messages = hub.drain_encoded(self.id)
                start = 0
                while start < len(messages) and direct.ready():
                    direct.write(frame_bytes(messages[start:start + FRAME_MESSAGES]))
                    start += FRAME_MESSAGES
                if messages:
                    self.sent_at = asyncio.get_running_loop().time()
                if start >= len(messages):
                    return
                self.unsent = messages[start:]
        self.wake.set()

    async def _send_frames(self, messages: list[Encoded]) -> None:
        for start in range(0, len(messages), FRAME_MESSAGES):
            await self.socket.send_text(frame(messages[start:start + FRAME_MESSAGES]))

    async def run(self) -> None:
        sender = self.sender = asyncio.create_task(self._send_loop())
        self.live.sessions.add(self)
        try:
            while True:
                raw = await self.socket.receive_text()
                if len(raw) > self.limits.max_bytes and len(raw.encode()) > self.limits.max_bytes:
                    await self.socket.close(MESSAGE_TOO_BIG, f"messages are at most {self.limits.max_bytes:,} bytes")
                    break
                if wait := self.rate.take("client", time.monotonic()):
                    await self.send({"type": "error", "reason": f"more than {self.limits.per_s:g} messages per "
                                     "second: this one was not run", "retry_after_s": round(wait, 3)})
                    continue
                try:
                    message = orjson.loads(raw)
                    await self._handle(op_of(message), message)
                except (orjson.JSONDecodeError, ProtocolError) as exc:
                    await self.send({"type": "error", "reason": str(exc)})
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            if self.beat is not None:
                self.beat.cancel()
            self.live.sessions.discard(self)
            self.live.hub.remove_client(self.id)
            if self.replay is not None:
                self.replay.task.cancel()
            await cancel_and_wait([sender])

    async def drain(self) -> None:
        """The server is shutting down: the sender hands out what is queued, then the point to resume from, and
        closes the connection (1012)."""
        self.draining = True
        if self.replay is not None:
            self.replay.task.cancel()
        self.wake.set()
        if self.sender is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender

    async def _goodbye(self) -> None:
        hub = self.live.hub
        client = hub.clients.get(self.id)
        resume = None
        messages, self.unsent = self.unsent, []
        if client is not None:
            if not client.outbox.overflowed:  # an overflowed outbox is incomplete: its delivered point stands
                messages += hub.drain_encoded(self.id)
            resume = client.outbox.delivered
            hub.remove_client(self.id)  # before any wait, so nothing after `resume` is routed to it
        await self._send_frames(messages)
        await self.send({"type": "reconnect", "resume": resume,
                         "reason": "server shutting down: reconnect and subscribe with this resume point"})
        await self.socket.close(RESTART_CLOSE, f"restart; resume={resume}")
        metrics.WEBSOCKET_DRAINED.inc()

    async def _handle(self, op: str, message: dict[str, Any]) -> None:
        if self.principal.role is Role.DEVICE and op not in DEVICE_OPS:
            raise ProtocolError(f"a device key may only send {' and '.join(DEVICE_OPS)} messages")
        if op == "ping":
            await self.send({"type": "pong", "seq": self.live.hub.state.seq, "id": message.get("id")})
        elif op == "subscribe":
            await self._subscribe(parse_subscribe(message))
        elif op == "live":
            if self.subscription is None:
                raise ProtocolError("subscribe first")
            await self._subscribe(replace(self.subscription, resume=None))  # back to now: a fresh snapshot
        elif op == "readings":
            items = message.get("readings")
            if not isinstance(items, list):
                raise ProtocolError("readings is a list of readings")
            if len(items) > self.live.options.max_batch:
                raise ProtocolError(f"at most {self.live.options.max_batch:,} readings per message")
            if not self.principal.may(Role.DEVICE):
                raise ProtocolError(f"posting readings needs a device or admin key; this key has role "
                                    f"{self.principal.role}")
            result = await self.live.post_readings(items, self.principal.sensor_limit)
            await self.send({"type": "ack", "id": message.get("id"), **result.as_json()})
        elif op == "replay":
            await self._replay(parse_replay(message))
        elif op == "drill_replay":
            await self._drill_replay(message)
        else:
            if self.replay is None:
                raise ProtocolError(f"{op} controls a replay; start one with op replay or drill_replay")
            if op == "pause":
                self.replay.pause()
            elif op == "play":
                self.replay.play()
            elif op == "speed":
                self.replay.set_speed(parse_speed(message.get("speed")))
            elif isinstance(self.replay, DrillReplay):
                try:
                    await self.replay.seek_seconds(parse_seconds(message.get("time"), "time"))
                except DrillReplayError as exc:
                    raise ProtocolError(str(exc)) from None
            else:
                await self.replay.seek(parse_instant(message.get("time"), "time"))

    async def _scope(self, sub: Subscribe) -> Scope:
        objects = None
        if sub.objects is not None:
            objects = frozenset(await self.live.family(sub.objects) if sub.children else sub.objects)
        return Scope(sub.area, objects, sub.kinds, sub.channels)

    async def _subscribe(self, sub: Subscribe) -> None:
        if self.replay is not None:
            self.replay.task.cancel()
            self.replay = None
        scope = await self._scope(sub)
        self.subscription = sub
        self.unsent = []  # of the scope before: the snapshot or resume below covers it
        hub = self.live.hub
        hub.add_client(self.id, scope, self.due)
        missed = hub.resume(self.id, sub.resume) if sub.resume is not None else None
        if missed is not None:
            await self.send({"type": "resumed", "from": sub.resume, "seq": hub.state.seq, "messages": missed})
        else:
            snapshot = hub.snapshot(self.id)
            snapshot["worker"] = self.live.worker
            if sub.resume is not None:
                snapshot["resnapshot"] = True
            await self.send(snapshot)

    async def _replay(self, replay: Replay) -> None:
        if self.subscription is None:
            raise ProtocolError("subscribe first: a replay shows the subscription's scope")
        self.live.hub.remove_client(self.id)
        if self.replay is not None:
            self.replay.task.cancel()
        scope = await self._scope(self.subscription)
        everything = scope.everywhere and scope.kinds is None
        sensors = None if everything else sorted(self.live.hub.sensors_in(scope))
        self.replay = ReplayRun(self, replay, sensors)

    async def _drill_replay(self, message: dict[str, Any]) -> None:
        """A stored drill run played back (docs/live-protocol.md, Drills); the subscription's live flow pauses."""
        run_id = message.get("run")
        try:
            run_id = str(uuid.UUID(run_id))
        except (TypeError, ValueError, AttributeError):
            raise ProtocolError("run is the id of a drill run (GET /drills/runs)") from None
        speed = parse_speed(message.get("speed", 1))
        start = parse_seconds(message.get("from", 0), "from")
        async with self.live.pool.acquire() as conn:
            frames = await stored_frames(conn, run_id)
        if self.replay is not None:
            self.replay.task.cancel()
        self.live.hub.remove_client(self.id)
        try:
            self.replay = DrillReplay(self.send, run_id, frames, start, speed)
        except DrillReplayError as exc:
            self.replay = None
            raise ProtocolError(str(exc)) from None

    async def _send_loop(self) -> None:
        hub = self.live.hub
        loop = asyncio.get_running_loop()
        self.sent_at = loop.time()
        self.beat = loop.call_later(HEARTBEAT_S, self._heartbeat)
        while not self.closed:
            if not self.wake.is_set() and not self.draining:  # set by the ticker, a heartbeat or the drain
                self.parked = True
                await self.wake.wait()
                self.parked = False
            self.wake.clear()
            if self.socket.client_state != WebSocketState.CONNECTED:
                return
            if self.draining:
                await self._goodbye()
                return
            unsent, self.unsent = self.unsent, []
            await self._send_frames(unsent)  # handed out in full already: before an overflow's resume point
            client = hub.clients.get(self.id)
            if client is not None and client.outbox.overflowed:
                resume = client.outbox.delivered
                hub.remove_client(self.id)
                metrics.WEBSOCKET_OVERFLOWS.inc()
                await self.send({"type": "overflow", "resume": resume,
                                 "reason": "too far behind: resubscribe with this resume point"})
                await self.socket.close(OVERFLOW_CLOSE, f"overflow; resume={resume}")
                return
            messages = hub.drain_encoded(self.id) if client is not None and client.outbox else []
            await self._send_frames(messages)
            if messages or unsent:
                self.sent_at = loop.time()
            elif self.beat_due:
                await self.send({"type": "heartbeat", "seq": hub.state.seq})
            self.beat_due = False


class ReplayRun(PacedReplay):
    """Stored messages of a window sent at `speed` × real time from a snapshot of its start; seekable."""

    def __init__(self, session: Session, replay: Replay, sensors: list[str] | None) -> None:
        super().__init__(replay.speed)
        self.session, self.sensors = session, sensors
        self.start, self.end = replay.start, replay.end
        self.cursor = self.position = replay.start
        self.begin(self._run())

    def set_speed(self, speed: float) -> None:
        self.cursor = self.position
        super().set_speed(speed)

    async def seek(self, instant: datetime) -> None:
        if not self.start <= instant <= self.end:
            raise ProtocolError("seek within the replayed window")
        self.cursor = instant
        self.restart.set()

    async def _run(self) -> None:
        pool = self.session.live.pool
        send = self.session.send
        await send({"type": "replay", "from": history.iso(self.start), "to": history.iso(self.end),
                    "speed": self.speed})
        while True:
            self.restart.clear()
            async with pool.acquire() as conn:
                snapshot = await history.state_at(conn, self.cursor, self.sensors)
            await send({**snapshot, "mode": "replay"})
            if await self._play():
                await send({"type": "replay_end", "time": history.iso(self.end)})
                await self.restart.wait()

    async def _play(self) -> bool:
        """Send the window from the cursor; False when a seek or speed change interrupts it."""
        pool = self.session.live.pool
        wall0, sim0 = time.monotonic(), self.cursor
        while self.cursor < self.end:
            chunk_end = min(self.end, self.cursor + timedelta(seconds=max(1.0, 10 * self.speed)))
            async with pool.acquire() as conn:
                items = await history.timeline(conn, self.cursor, chunk_end, self.sensors)
            index = 0
            while index < len(items):
                if self.restart.is_set():
                    return False
                if not self.playing.is_set():
                    paused_at = time.monotonic()
                    await self.playing.wait()
                    wall0 += time.monotonic() - paused_at
                    continue
                now = sim0 + timedelta(seconds=(time.monotonic() - wall0) * self.speed)
                due = []
                while index < len(items) and items[index][0] <= now:
                    due.append({**items[index][1], "replay": True})
                    self.position = items[index][0]
                    index += 1
                if due:
                    await self.session.send(due)
                if index < len(items):
                    delay = (items[index][0] - now).total_seconds() / self.speed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.restart.wait(), min(max(delay, 0.0), TICK_S * 5))
            self.cursor = self.position = chunk_end
        return True
