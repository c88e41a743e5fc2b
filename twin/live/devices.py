"""Sending readings as devices and gateways do: HTTP `POST /readings` batches and MQTT publications (topics
`citytwin/readings/{sensor}` with `{"time", "value"}`, or `citytwin/readings` with an array of full readings,
QoS 1). Used by the demo's feeder and by `citytwin simulate sensors`; standard library HTTP, aiomqtt for MQTT."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson

TOPIC = "citytwin/readings"


class HttpDevice:
    """One keep-alive connection to a CityTwin server; reconnects once when the server closed it."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send JSON, get (status, parsed JSON body or None)."""
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                return response.status, orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                return response.status, raw.decode(errors="replace")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_until_up(base_url: str, timeout_s: float = 60.0, stop: Any = None) -> bool:
    """Poll `GET /health` until the server answers (True) or the time is up (False)."""
    device = HttpDevice(base_url, timeout=2.0)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            try:
                status, _ = device.request("GET", "/health")
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.2)
        return False
    finally:
        device.close()


def mqtt_messages(readings: Iterable[dict[str, Any]], per_sensor: bool) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs: one message per reading on its sensor's topic, or one array on the batch topic."""
    items = list(readings)
    if not per_sensor:
        return [(TOPIC, orjson.dumps(items))] if items else []
    return [(f"{TOPIC}/{r['sensor']}", orjson.dumps({"time": r["time"], "value": r["value"]})) for r in items]


def mqtt_endpoint(url: str) -> dict[str, Any]:
    """aiomqtt.Client arguments from `mqtt://[user:password@]host[:port]`."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(f"MQTT URL must be mqtt://host:port, got {url!r}")
    return {"hostname": parts.hostname or "127.0.0.1", "port": parts.port or 1883,
            "username": parts.username, "password": parts.password}
