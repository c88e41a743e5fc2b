"""The demo's devices: a background thread that sends the simulated sensors' readings (`scenes.demo_sensors`) to
the running server every few seconds, as devices would. With an MQTT broker, street sensors publish on their own
topics and the demo building's room sensors as a gateway's batch; the district's buildings post over HTTP (and
everything does while no broker is reachable)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from scenes.demo_sensors import demo_sensors, readings_at
from twin.live.devices import HttpDevice, mqtt_endpoint, mqtt_messages, wait_until_up

log = logging.getLogger(__name__)
STREET_PREFIXES = ("MH-", "HYD-", "WL-", "WI-", "AQ-", "RAIN-", "CAM-")
GATEWAY_PREFIX = "RATHAUS-"
RETRY_MQTT_S = 10.0


class DemoFeeder:
    def __init__(self, base_url: str, mqtt_url: str | Callable[[], str | None] | None = None, seed: int = 7,
                 interval_s: float = 2.0) -> None:
        """`mqtt_url`: the broker, or a function naming it once the server is up (None: HTTP only)."""
        self.base_url, self.broker, self.seed, self.interval_s = base_url, mqtt_url, seed, interval_s
        self.mqtt_url: str | None = None
        self.sensors = demo_sensors()
        self.stop_event = threading.Event()
        self.sent: Counter[str] = Counter()  # readings sent per path: http, mqtt
        self.errors: Counter[str] = Counter()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="citytwin-demo-feeder",
                                       daemon=True)

    def start(self) -> DemoFeeder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    async def _run(self) -> None:
        if not await asyncio.to_thread(wait_until_up, self.base_url, 120.0, self.stop_event):
            log.warning("demo feeder: the server at %s did not come up", self.base_url)
            return
        self.mqtt_url = self.broker() if callable(self.broker) else self.broker
        device = HttpDevice(self.base_url)
        try:
            while not self.stop_event.is_set():
                if self.mqtt_url is None:
                    await self._ticks(device, None, float("inf"))
                    continue
                import aiomqtt

                try:
                    async with aiomqtt.Client(**mqtt_endpoint(self.mqtt_url), identifier="citytwin-demo") as client:
                        await self._ticks(device, client, float("inf"))
                except aiomqtt.MqttError as exc:
                    self.errors["mqtt"] += 1
                    where = mqtt_endpoint(self.mqtt_url)  # host and port: the URL may carry a password
                    log.warning("demo feeder: MQTT at %s:%s unavailable (%s); posting over HTTP for %.0f s",
                                where["hostname"], where["port"], exc, RETRY_MQTT_S)
                    await self._ticks(device, None, RETRY_MQTT_S)
        finally:
            device.close()

    async def _ticks(self, device: HttpDevice, client: Any, for_s: float) -> None:
        """Send every sensor's reading each interval for `for_s` seconds (or until stopped)."""
        until = time.monotonic() + for_s
        while not self.stop_event.is_set() and time.monotonic() < until:
            started = time.time()
            await self.send(device, client, readings_at(started, self.seed, self.sensors))
            left = self.interval_s - (time.time() - started)
            if left > 0:
                await asyncio.to_thread(self.stop_event.wait, left)

    async def send(self, device: HttpDevice, client: Any, readings: list[dict[str, Any]]) -> None:
        over_http = readings
        if client is not None:
            street = [r for r in readings if r["sensor"].startswith(STREET_PREFIXES)]
            rooms = [r for r in readings if r["sensor"].startswith(GATEWAY_PREFIX)]
            over_http = [r for r in readings if not r["sensor"].startswith((*STREET_PREFIXES, GATEWAY_PREFIX))]
            for topic, payload in mqtt_messages(street, True) + mqtt_messages(rooms, False):
                await client.publish(topic, payload, qos=1)
            self.sent["mqtt"] += len(street) + len(rooms)
        try:
            status, answer = await asyncio.to_thread(device.request, "POST", "/readings", over_http)
        except OSError as exc:
            self.errors["http"] += 1
            log.warning("demo feeder: POST /readings failed: %s", exc)
            return
        if status != 200:
            self.errors["http"] += 1
            log.warning("demo feeder: POST /readings answered %s: %s", status, answer)
            return
        self.sent["http"] += answer["accepted"] + answer["duplicates"]
        rejected = answer["rejected"]
        if rejected:
            self.errors["rejected"] += len(rejected)
            with contextlib.suppress(IndexError, KeyError):
                log.warning("demo feeder: %d readings rejected, e.g. %s", len(rejected), rejected[0]["reason"])
