"""`citytwin simulate sensors`: a load generator for a running server. Creates `sensors` simulated sensors (those
missing) spread over the demo district, then sends `rate` readings a second in batches every `TICK_S`, over HTTP
(a few keep-alive connections) or MQTT (arrays on `citytwin/readings`), and prints the achieved rate and errors
once a second. A batch the connections cannot take in time is counted as behind, not queued without end."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scenes.demo_district import METRES_PER_DEGREE, ORIGIN
from twin.live.devices import HttpDevice, mqtt_endpoint, mqtt_messages

TICK_S = 0.1
KINDS = ("temperature", "gas", "water_level", "pressure", "air_quality", "strain", "tilt", "rainfall")
BASES = {"temperature": 21.0, "gas": 2.0, "water_level": 0.05, "pressure": 0.35, "air_quality": 40.0,
         "strain": 120.0, "tilt": 0.1, "rainfall": 1.0}
CONNECTIONS = 4
MAX_BATCH = 5000


@dataclass
class SimulationOptions:
    url: str = "http://127.0.0.1:8000"
    rate: float = 100.0
    sensors: int = 1000
    seconds: float | None = None
    mqtt_url: str | None = None
    prefix: str = "SIM-"


@dataclass
class Totals:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    behind: int = 0
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "accepted": self.accepted, "rejected": self.rejected, "errors": self.errors,
                "behind": self.behind, "reasons": self.reasons[:5]}


def simulated_sensors(count: int, prefix: str = "SIM-") -> list[dict[str, Any]]:
    """`count` sensors of mixed kinds on a square grid over the demo district, 2 m up."""
    side = max(1, math.ceil(math.sqrt(count)))
    step = 700.0 / side
    lon0, lat0 = ORIGIN
    per_lon = METRES_PER_DEGREE * math.cos(math.radians(lat0))
    return [{"id": f"{prefix}{n:06d}", "kind": KINDS[n % len(KINDS)], "name": f"simulated {n}",
             "position": [round(lon0 + (-350 + (n % side + 0.5) * step) / per_lon, 8),
                          round(lat0 + (-300 + (n // side + 0.5) * step) / METRES_PER_DEGREE, 8), 2.0],
             "attributes": {"simulated": True}} for n in range(count)]


def ensure_sensors(device: HttpDevice, sensors: list[dict[str, Any]], batch: int = 1000) -> int:
    """Create the sensors the server does not know yet; how many were created."""
    status, answer = device.request("GET", "/sensors?limit=100000")
    if status != 200:
        raise RuntimeError(f"GET /sensors answered {status}: {answer}")
    known = {s["id"] for s in answer["sensors"]}
    missing = [s for s in sensors if s["id"] not in known]
    for start in range(0, len(missing), batch):
        status, answer = device.request("POST", "/sensors", missing[start:start + batch])
        if status not in (200, 201) or answer.get("refused"):
            raise RuntimeError(f"POST /sensors answered {status}: {answer}")
    return len(missing)


def batch_at(sensors: list[dict[str, Any]], start: int, count: int, now: datetime) -> list[dict[str, Any]]:
    """`count` readings going round the sensors from `start`, each at its own microsecond so none repeat."""
    out = []
    for i in range(count):
        sensor = sensors[(start + i) % len(sensors)]
        noise = ((start + i) * 2654435761 % 1000) / 1000 - 0.5
        out.append({"sensor": sensor["id"], "time": (now + timedelta(microseconds=i)).isoformat(),
                    "value": round(BASES[sensor["kind"]] * (1 + 0.1 * noise), 4)})
    return out


async def _post_worker(device: HttpDevice, queue: asyncio.Queue[list[dict[str, Any]]], totals: Totals) -> None:
    while True:
        batch = await queue.get()
        try:
            status, answer = await asyncio.to_thread(device.request, "POST", "/readings", batch)
        except OSError as exc:
            totals.errors += len(batch)
            totals.reasons.append(str(exc))
            continue
        finally:
            queue.task_done()
        if status != 200:
            totals.errors += len(batch)
            totals.reasons.append(f"HTTP {status}: {answer}")
            continue
        totals.sent += len(batch)
        totals.accepted += answer["accepted"] + answer["duplicates"]
        totals.rejected += len(answer["rejected"])
        totals.reasons.extend(r["reason"] for r in answer["rejected"][:3])


async def simulate(options: SimulationOptions, report: Callable[[float, Totals, float], None]) -> Totals:
    """Run the load; `report(elapsed_s, totals, rate_in_the_last_second)` once a second."""
    setup = HttpDevice(options.url)
    sensors = simulated_sensors(options.sensors, options.prefix)
    await asyncio.to_thread(ensure_sensors, setup, sensors)
    setup.close()
    totals = Totals()
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=CONNECTIONS * 2)
    devices = [HttpDevice(options.url) for _ in range(CONNECTIONS)]
    workers = [asyncio.create_task(_post_worker(d, queue, totals)) for d in devices] if not options.mqtt_url else []
    client: Any = None
    if options.mqtt_url:
        import aiomqtt

        client = aiomqtt.Client(**mqtt_endpoint(options.mqtt_url), identifier=f"citytwin-sim-{time.time_ns()}")
        await client.__aenter__()
    started = time.monotonic()
    due = 0.0  # readings owed so far at the rate
    cursor = last_count = 0
    last_report = started
    try:
        while options.seconds is None or time.monotonic() - started < options.seconds:
            now = time.monotonic()
            due += options.rate * TICK_S
            count, due = int(due), due - int(due)
            if count:
                batch = batch_at(sensors, cursor, count, datetime.now(UTC))
                cursor += count
                if client is not None:
                    for topic, payload in mqtt_messages(batch, False):
                        await client.publish(topic, payload, qos=1)
                    totals.sent += count
                else:
                    for part in range(0, count, MAX_BATCH):
                        if queue.full():
                            totals.behind += len(batch[part:part + MAX_BATCH])
                        else:
                            queue.put_nowait(batch[part:part + MAX_BATCH])
            if now - last_report >= 1.0:
                report(now - started, totals, (totals.sent - last_count) / (now - last_report))
                last_report, last_count = now, totals.sent
            await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
        await asyncio.wait_for(queue.join(), timeout=30)
    finally:
        for task in workers:
            task.cancel()
        for device in devices:
            device.close()
        if client is not None:
            await client.__aexit__(None, None, None)
    return totals
