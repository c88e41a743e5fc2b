"""Readings in over MQTT: a bridge subscribed to a broker hands what devices publish to `LiveService.post_readings`
and acknowledges each QoS 1 message only after the commit (topic scheme: docs/live-protocol.md, "MQTT").

The bridge holds a persistent session (MQTT 3.1.1 with clean session off, a client id fixed per server and worker
slot), so the broker queues what is published while it is away and redelivers what it had not acknowledged.
(MQTT 5 would add a session expiry, but paho decoding its per-message properties doubled the CPU per reading;
the private broker expires forgotten sessions itself.) How many unacknowledged messages the broker sends ahead
is its `max_inflight_messages`: mosquitto's default of 20 caps throughput, the private broker allows 2,000.

Messages arriving within a few milliseconds go to the database as one batch; several batches may be
in flight, acknowledged in the order they arrived. A batch the database refuses is not acknowledged: the bridge
leaves and reconnects (with backoff), and the broker delivers it again. Several workers share the subscription
(`$share/citytwin/…`, `mqtt_shared`), so each message reaches one of them.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
from paho.mqtt.matcher import MQTTMatcher

from twin.live.broker import BrokerError, MosquittoBroker
from twin.live.kinds import KINDS
from twin.live.mqtt_access import broker_files, initial_keys, sync_broker
from twin.live.mqtt_messages import READINGS, Batch, error_topic, subscriptions
from twin.live.tasks import cancel_and_wait
from twin.live.writer import StorageError
from twin.settings import Settings
from twin.sta import mqtt as sta_mqtt

if TYPE_CHECKING:  # twin.live.service imports the twin.api package, whose app imports this module
    from sqlalchemy import Engine

    from twin.access.store import KeyRecord
    from twin.live.service import BatchResult, LiveService

log = logging.getLogger(__name__)

WINDOW_S = 0.004
BATCHES_IN_FLIGHT = 4


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def public_url(self) -> str:
        """The broker's URL without the credential (what may be shown: the SensorThings landing page, logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """`mqtt://[user[:password]@]host[:port]` (1883) or `mqtts://…` (TLS, 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} is not mqtt://[user:password@]host[:port] or mqtts://…")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883),
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls)


# -- the bridge ---------------------------------------------------------------------------------------------------
@dataclass
class BridgeStats:
    messages: int = 0
    acknowledged: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    connections: int = 0
    storage_failures: int = 0


class MqttBridge:
    def __init__(self, live: LiveService, address: BrokerAddress, client_id: str, shared: bool = False) -> None:
        self.live, self.address, self.client_id, self.shared = live, address, client_id, shared
        self.stats = BridgeStats()
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.publishing: set[asyncio.Task[None]] = set()
        self.client: aiomqtt.Client | None = None
        live.observers.append(self.observed)

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="citytwin-mqtt")

    async def stop(self) -> None:
        await cancel_and_wait([self.task])
        self.connected.clear()

    def _client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(self.address.host, self.address.port, username=self.address.username,
                                password=self.address.password, identifier=self.client_id,
                                protocol=aiomqtt.ProtocolVersion.V311, clean_session=False,
                                tls_context=ssl.create_default_context() if self.address.tls else None,
                                keepalive=30, timeout=10)
        # aiomqtt 2.x has no manual acknowledgement of its own; paho's (PUBACK on `ack(mid, qos)`) is used
        client._client.manual_ack_set(True)
        client._client._on_message_filtered = TopicCallbacks()
        return client

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._client() as client:
                    self.stats.connections += 1
                    delay = 0.1
                    wanted, other = subscriptions(self.shared), subscriptions(not self.shared)
                    await client.unsubscribe(other)  # left in the persistent session by a run in the other mode
                    await client.subscribe([(topic, 1) for topic in wanted])
                    self.connected.set()
                    log.info("MQTT bridge %s subscribed at %s:%s", self.client_id, self.address.host,
                             self.address.port)
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                log.warning("MQTT bridge: broker %s:%s lost or unreachable (%s); retrying in %.1f s",
                            self.address.host, self.address.port, group.exceptions[0], delay)
            except* StorageError as group:
                self.stats.storage_failures += 1
                log.warning("MQTT bridge: readings not stored (%s); nothing acknowledged, reconnecting in %.1f s "
                            "for the broker to deliver them again", group.exceptions[0], delay)
            except* Exception as group:  # a bug must not end the bridge: what was not acknowledged comes again
                log.error("MQTT bridge: unexpected failure; reconnecting in %.1f s", delay,
                          exc_info=group.exceptions[0])
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        """Gather and store batches while the acknowledger acknowledges them in order; either failing ends it."""
        pipeline: asyncio.Queue[asyncio.Task[Batch]] = asyncio.Queue(BATCHES_IN_FLIGHT)
        self.client = client
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._gather(client, pipeline))
                group.create_task(self._acknowledge(client, pipeline))
        finally:  # batches left unacknowledged: stored or not, the broker delivers them again
            self.client = None
            while not pipeline.empty():
                task = pipeline.get_nowait()
                task.cancel()
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _gather(self, client: aiomqtt.Client, pipeline: asyncio.Queue[asyncio.Task[Batch]]) -> None:
        messages = client.messages
        inbox: asyncio.Queue[aiomqtt.Message] = client._queue  # drained without a task per message
        limit = self.live.options.max_batch
        while True:
            batch = Batch()
            batch.add(await anext(messages), limit)
            window_ends = asyncio.get_running_loop().time() + WINDOW_S
            while len(batch.items) < limit:
                if inbox.empty():
                    if asyncio.get_running_loop().time() >= window_ends:
                        break
                    await asyncio.sleep(WINDOW_S / 4)
                    continue
                batch.add(inbox.get_nowait(), limit)
            self.stats.messages += len(batch.messages)
            await pipeline.put(asyncio.create_task(self._store(client, batch)))

    async def _store(self, client: aiomqtt.Client, batch: Batch) -> Batch:
        if batch.items:
            try:
                self._count(batch, await self.live.post_readings(batch.items), list(range(len(batch.items))))
            except StorageError:
                raise
            except Exception:  # a bug on some input must not hold every message back: each message on its own
                log.exception("MQTT bridge: a batch failed unexpectedly; storing its messages one by one")
                await self._one_by_one(batch)
        for error in batch.errors.values():
            self.stats.rejected += len(error.get("rejected", [None]))
            self._publish(client, error_topic(error["topic"]), error)
        return batch

    def _count(self, batch: Batch, result: BatchResult, positions: list[int]) -> None:
        batch.rejected([{**r, "index": positions[r["index"]]} for r in result.rejected])
        self.stats.accepted += result.accepted
        self.stats.duplicates += result.duplicates

    async def _one_by_one(self, batch: Batch) -> None:
        """The batch again message by message: one the server fails on is refused with the reason (and
        acknowledged, as sending it again would fail again); the others are stored."""
        positions: dict[int, list[int]] = {}
        for position, (number, _index) in enumerate(batch.origin):
            positions.setdefault(number, []).append(position)
        for number, mine in positions.items():
            try:
                result = await self.live.post_readings([batch.items[p] for p in mine])
            except StorageError:
                raise
            except Exception as exc:
                log.exception("MQTT bridge: message on %s not stored", batch.messages[number].topic)
                batch.errors[number] = {"topic": str(batch.messages[number].topic),
                                        "reason": f"the server failed on this message ({type(exc).__name__}: {exc})"}
                continue
            self._count(batch, result, mine)

    async def _acknowledge(self, client: aiomqtt.Client, pipeline: asyncio.Queue[asyncio.Task[Batch]]) -> None:
        while True:
            task = await pipeline.get()
            batch = await task  # a StorageError ends the session with this batch and those after it unacknowledged
            for message in batch.messages:
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)
                    self.stats.acknowledged += 1

    def observed(self, rows: list[list[Any]]) -> None:
        """Readings this worker stored, published as SensorThings Observations on their datastream's topic at QoS 0
        (a live push, like the websocket's); they come back to this subscription and are skipped unread. An entry's
        PUBLISH packets go out as one write through paho's queue (`publish` per message costs ≈40 µs)."""
        if self.client is None:
            return
        sensors = self.live.hub.state.sensors
        packets = []
        for sensor_id, time_us, value in rows:
            sensor = sensors.get(sensor_id)
            boolean = sensor is not None and KINDS[sensor.kind].boolean
            packets.append(sta_mqtt.publish_packet(sta_mqtt.observation_topic(sensor_id), sta_mqtt.observation_json(
                sensor_id, time_us, value, boolean)))
        self.client._client._packet_queue(0, b"".join(packets), 0, 0)  # command 0: bytes written as they are

    def _publish(self, client: aiomqtt.Client, topic: str, payload: dict[str, Any]) -> None:
        async def send() -> None:
            try:
                await client.publish(topic, orjson.dumps(payload), qos=1)
            except aiomqtt.MqttError as exc:
                log.info("MQTT bridge: rejection on %s not delivered (%s)", topic, exc)

        task = asyncio.create_task(send())
        self.publishing.add(task)
        task.add_done_callback(self.publishing.discard)


class TopicCallbacks(MQTTMatcher):
    """paho's per-topic callbacks, matched against every message it receives, without the cost when there are none
    (aiomqtt registers none: it takes every message through `on_message`). paho's matching builds a recursive
    closure per message, a reference cycle of six objects that only the cycle collector frees: at the bridge's
    rate (every reading's SensorThings push comes back to its subscription) it was all of the server's cyclic
    garbage (`bench live` at 2,000 readings/s: 60,000 objects in 5 s, none once skipped)."""

    def iter_match(self, topic: str) -> Iterator[Any]:
        if not self._root._children:
            return iter(())
        return super().iter_match(topic)


# -- wiring -------------------------------------------------------------------------------------------------------
def claim_client_id(settings: Settings, address: BrokerAddress) -> tuple[str, IO[str]]:
    """A client id fixed for this server (host, data directory, broker) and worker slot: the first slot whose lock
    file no other process holds. The returned file holds the slot until closed."""
    directory = settings.data_dir / "mqtt"
    directory.mkdir(parents=True, exist_ok=True)
    server = f"{socket.gethostname()}:{settings.data_dir.absolute()}:{address.host}:{address.port}"
    digest = hashlib.sha256(server.encode()).hexdigest()[:8]
    for slot in range(1024):
        handle = open(directory / f"slot-{slot}.lock", "w")  # noqa: SIM115 - held for the bridge's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return f"citytwin-{digest}-{slot}", handle
    raise RuntimeError(f"no free MQTT client slot in {directory}")


@dataclass
class MqttLink:
    """A worker's bridge, its slot, the private broker when this worker started it, and the private broker it uses
    (whose credentials follow the key table) when no URL is configured."""

    bridge: MqttBridge
    slot: IO[str]
    broker: MosquittoBroker | None = None
    url: str = ""  # without the credential
    private: MosquittoBroker | None = None

    def keys_changed(self, keys: list[KeyRecord]) -> None:
        """The key table read afresh (blocking: called off the event loop): the private broker's files follow."""
        if self.private is not None:
            sync_broker(self.private, keys)

    async def close(self) -> None:
        await self.bridge.stop()
        for task in list(self.bridge.publishing):
            task.cancel()
        self.slot.close()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)


async def open_mqtt(settings: Settings, live: LiveService, engine: Engine | None = None) -> MqttLink | None:
    """Start the bridge (and the private broker when no URL is configured, its credentials those of the key table
    in `engine`); None, with the reason logged, when MQTT is off or cannot start — the rest runs without it."""
    if not settings.mqtt:
        return None
    broker: MosquittoBroker | None = None
    private: MosquittoBroker | None = None
    url = settings.mqtt_url
    try:
        if url is None or MosquittoBroker(settings.data_dir).serves(url):  # `citytwin serve` started it
            private = MosquittoBroker(settings.data_dir)
            keys = await asyncio.to_thread(initial_keys, engine)
            await asyncio.to_thread(private.apply_auth, await asyncio.to_thread(broker_files, private, keys))
            if await asyncio.to_thread(private.start):
                broker = private
            url = private.url
            # a warning, so that it shows where uvicorn's logging configures only uvicorn's own loggers
            log.warning("MQTT: private broker at %s (publish readings to %s/{sensor})", url, READINGS)
        address = BrokerAddress.parse(private.service_url if private is not None else url)
    except (BrokerError, ValueError, OSError) as exc:
        log.error("MQTT readings are off: %s", exc)
        return None
    client_id, slot = claim_client_id(settings, address)
    bridge = MqttBridge(live, address, client_id, settings.mqtt_shared)
    await bridge.start()
    return MqttLink(bridge, slot, broker, address.public_url, private)
