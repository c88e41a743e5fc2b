"""A private redis-server (Debian's binary) on a free loopback port: the live bus of `citytwin serve --workers N`
when no `CITYTWIN_BUS_URL` names one, and of the tests. No persistence: the bus is a stream of recent entries,
and every state it carries is in PostGIS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from twin.localhost import free_port

INSTALL_HINT = "apt-get install redis-server"


class RedisUnavailable(RuntimeError):
    """redis-server is missing or did not start; the message says what to do."""


class RedisProcess:
    def __init__(self, folder: Path) -> None:
        found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                                 else None)
        if found is None:
            raise RedisUnavailable(f"redis-server not found: install it with `{INSTALL_HINT}` or set "
                                   "CITYTWIN_BUS_URL to a Redis server")
        self.binary, self.folder, self.port = found, folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisProcess:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with code {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def shared_bus(bus_url: str | None, folder: Path) -> Iterator[str]:
    """The bus URL several workers share: the configured one, else a private redis-server started here (once,
    before the workers) and stopped after."""
    if bus_url:
        yield bus_url
        return
    server = RedisProcess(folder).start()
    try:
        yield server.url
    finally:
        server.stop()
