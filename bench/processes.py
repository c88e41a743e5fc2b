"""Processes the benchmarks start: free ports, waiting for a server to answer, stopping it."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _poll(ready: Callable[[], bool], seconds: float, interval: float, failure: str) -> None:
    """Until `ready()` holds (its connection errors count as not yet), else RuntimeError(`failure`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(interval)
    raise RuntimeError(failure)


def wait_http(port: int, path: str, seconds: float = 120) -> None:
    """Until GET `path` on loopback `port` answers 200."""
    def ready() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        return connection.getresponse().status == 200

    _poll(ready, seconds, 0.2, f"the benchmark server did not answer {path}")


def wait_url(url: str, seconds: float = 60) -> None:
    """Until `url` answers below 500."""
    import httpx

    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    _poll(ready, seconds, 0.2, f"{url} did not come up")


def wait_port(port: int, seconds: float = 60) -> None:
    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    _poll(ready, seconds, 0.1, f"nothing listens on port {port}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
