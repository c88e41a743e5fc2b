"""Readings per second through MQTT into PostGIS: `citytwin serve` (its own process, embedded PostGIS), a private
mosquitto, and a publisher in its own process that writes prebuilt QoS 1 PUBLISH packets raw (so a Python MQTT
client's per-message cost does not limit the figure). Timed from the first packet until every reading is a row.

    python -m bench mqtt [-n 100000] [--sensors 1000] [--per-message 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import psycopg

from twin.embedded import EmbeddedPostgres
from twin.live.broker import MosquittoBroker


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _length(len(body)) + body


def publish(port: int, count: int, sensors: int, per_message: int, start: float) -> None:
    """The publisher process: CONNECT, every PUBLISH (QoS 1) written back to back, PUBACKs counted."""
    packets = []
    for first in range(0, count, per_message):
        items = [{"sensor": f"S-{i % sensors}", "time": start + i // sensors, "value": (i % 97) / 1000}
                 for i in range(first, min(first + per_message, count))]
        if per_message == 1:
            topic, payload = f"citytwin/readings/{items[0]['sensor']}", orjson.dumps({k: v for k, v in items[0].items()
                                                                                      if k != "sensor"})
        else:
            topic, payload = "citytwin/readings", orjson.dumps(items)
        packet_id = len(packets) % 65535 + 1
        packets.append(_packet(0x32, _text(topic) + struct.pack("!H", packet_id) + payload))
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(_packet(0x10, _text("MQTT") + b"\x04\x02" + struct.pack("!H", 60) + _text(f"bench-{os.getpid()}")))
    assert conn.recv(4)[:2] == b"\x20\x02", "no CONNACK"
    acked = 0

    def count_acks() -> None:
        nonlocal acked
        pending = b""
        while acked < len(packets):
            pending += conn.recv(65536)
            acked, pending = acked + len(pending) // 4, pending[len(pending) // 4 * 4:]

    reader = threading.Thread(target=count_acks)
    reader.start()
    t0 = time.perf_counter()
    for i in range(0, len(packets), 500):
        conn.sendall(b"".join(packets[i:i + 500]))
    reader.join()
    print(f"  publisher: {count:,} readings in {len(packets):,} messages taken by the broker in "
          f"{time.perf_counter() - t0:.2f} s", flush=True)
    conn.sendall(b"\xe0\x00")
    conn.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(count: int, sensors: int, per_message: int) -> None:
    with tempfile.TemporaryDirectory(prefix="citytwin-bench-mqtt-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "broker")
        broker.start()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "CITYTWIN_DATA_DIR": str(root / "data"), "CITYTWIN_MQTT_URL": broker.url}
        server = subprocess.Popen([str(Path(sys.executable).with_name("citytwin")), "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)
            positioned = [{"id": f"S-{i}", "kind": "water_level", "position": [13.4 + i * 1e-4, 52.5, 0]}
                          for i in range(sensors)]
            answer = httpx.post(f"{base}/sensors", timeout=120, json=positioned)
            assert answer.status_code == 201, answer.text[:300]
            time.sleep(1)  # the bridge subscribes
            dsn = EmbeddedPostgres(root / "data").url().replace("postgresql+psycopg", "postgresql")
            start = time.time() - 2 * 86400  # inside the retention window; every (sensor, time) distinct
            with psycopg.connect(dsn, autocommit=True) as db:
                cpu0, t0 = _cpu_seconds(server.pid), time.perf_counter()
                publisher = subprocess.Popen([sys.executable, "-m", "bench.mqtt", "publish", str(broker.url.rsplit(
                    ":", 1)[1]), str(count), str(sensors), str(per_message), str(start)])
                stored = 0
                while stored < count and time.perf_counter() - t0 < 600:
                    time.sleep(0.05)
                    stored = db.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
                seconds, cpu = time.perf_counter() - t0, _cpu_seconds(server.pid) - cpu0
                publisher.wait(60)
            print(f"MQTT → PostGIS, {per_message} reading(s) per message, {sensors:,} sensors: {stored:,} readings "
                  f"stored in {seconds:.2f} s = {stored / seconds:,.0f} readings/s; server CPU "
                  f"{cpu / max(stored, 1) * 1e6:.0f} µs per reading; load average {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} CPUs")
        finally:
            server.terminate()
            server.wait(60)
            broker.stop()
            EmbeddedPostgres(root / "data").stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="readings to publish (default 100,000)")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--per-message", type=int, default=1,
                        help="1: one reading per message on citytwin/readings/{sensor}; more: arrays on "
                             "citytwin/readings")
    options = parser.parse_args(argv)
    run(options.n, options.sensors, options.per_message)


if __name__ == "__main__":
    if sys.argv[1:2] == ["publish"]:
        port_, count_, sensors_, per_message_, start_ = sys.argv[2:7]
        publish(int(port_), int(count_), int(sensors_), int(per_message_), float(start_))
    else:
        main(sys.argv[1:])
