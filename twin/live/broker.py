"""The private MQTT broker: Debian's mosquitto run as a child process, as the embedded PostGIS is.

It listens on 127.0.0.1 only, on a port recorded in `mosquitto.json` beside its generated `mosquitto.conf`, and
keeps sessions and queued QoS 1 messages in a persistence file there, so a restart loses nothing it had accepted.
As root, mosquitto would drop to its own user; the config names that user and the broker's directory belongs to it.

With no API keys it is anonymous (only local processes reach it). Once keys exist, `apply_auth` writes mosquitto's
`passwords` and `acl` files (twin/access/mqtt_files.py) and the config naming them, and sends SIGHUP, on which
mosquitto reads them again; the server's own clients use the credential in `service.json` (mode 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from twin.access.keys import mosquitto_hash
from twin.access.mqtt_files import SERVICE_USER, MqttFiles
from twin.filelock import exclusive
from twin.localhost import accepting, free_port, make_traversable, pid_alive, service_user

INSTALL_HINT = "apt-get install mosquitto"
BINARY = Path("/usr/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The private broker cannot be started; the message says why and what to do."""


def find_mosquitto() -> Path:
    if BINARY.exists():
        return BINARY
    found = shutil.which("mosquitto")
    if found is None:
        raise BrokerError(f"mosquitto not found: install it with `{INSTALL_HINT}`, set CITYTWIN_MQTT_URL to a "
                          "broker, or CITYTWIN_MQTT=false")
    return Path(found)


class MosquittoBroker:
    """Start, stop and locate the private broker under `data_dir/mosquitto`."""

    def __init__(self, data_dir: Path, *, port: int = 0, os_user: str = "mosquitto") -> None:
        self.dir = Path(data_dir).absolute() / "mosquitto"
        self.state_file = self.dir / "mosquitto.json"
        self.service_file = self.dir / "service.json"
        self.passwords_file, self.acl_file = self.dir / "passwords", self.dir / "acl"
        self.requested_port = port
        self.os_user = os_user
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self._state()['port']}"

    @property
    def service_url(self) -> str:
        """The URL with the server's own credential: what the bridge and the server's other clients connect with."""
        return f"mqtt://{SERVICE_USER}:{self.service_credential()[0]}@127.0.0.1:{self._state()['port']}"

    def service_credential(self) -> tuple[str, str]:
        """(password, its mosquitto hash) of the server's own MQTT user, made at first use."""
        if not self.service_file.exists():
            with self._lock():
                return self._service_credential()
        return self._service_credential()

    def apply_auth(self, files: MqttFiles | None) -> bool:
        """Put the broker in step with the key table: `files` written (None: no keys, anonymous as by default), and
        a running broker told to read them again (SIGHUP); True when anything changed."""
        with self._lock():
            changed = False
            wanted = {self.passwords_file: files.passwords if files else None,
                      self.acl_file: files.acl if files else None}
            for path, content in wanted.items():
                if content is None:
                    if path.exists():
                        path.unlink()
                        changed = True
                elif not path.exists() or path.read_text() != content:
                    self._write_private(path, content)
                    changed = True
            state = self._state() if self.state_file.exists() else {}
            if changed and isinstance(state.get("pid"), int) and pid_alive(state["pid"]):
                self._write_config(state["port"])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state["pid"], signal.SIGHUP)
            return changed

    def serves(self, url: str) -> bool:
        """Whether `url` is this private broker's, running (then its users follow the key table)."""
        return self.running() and url == self.url

    def running(self) -> bool:
        state = self._state() if self.state_file.exists() else {}
        pid = state.get("pid")
        return isinstance(pid, int) and pid_alive(pid) and accepting(state["port"])

    def start(self) -> bool:
        """Start the broker unless it runs already; True if this call started it."""
        with self._lock():
            if self.running():
                return False
            binary = find_mosquitto()
            state = self._state() if self.state_file.exists() else {}
            port = state.get("port") or self.requested_port or free_port()
            if accepting(port):  # the recorded port went to someone else
                port = self.requested_port or free_port()
            config = self._write_config(port)
            log = (self.dir / "mosquitto.log").open("ab")
            try:
                self.process = subprocess.Popen([str(binary), "-c", str(config)], stdout=log, stderr=log,
                                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
            finally:
                log.close()
            self._write_state({"port": port, "pid": self.process.pid})
            deadline = time.monotonic() + 15
            while not accepting(port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._terminate(self.process.pid)
                    tail = (self.dir / "mosquitto.log").read_text(errors="replace")[-2000:]
                    raise BrokerError(f"mosquitto did not start on port {port}:\n{tail}")
                time.sleep(0.02)
            return True

    def stop(self) -> bool:
        """Stop the broker (it saves its sessions and queued messages first); True if it was running."""
        with self._lock():
            if not self.state_file.exists():
                return False
            pid = self._state().get("pid")
            if not pid or not pid_alive(pid):
                return False
            self._terminate(pid)
            return True

    # -- internals ----------------------------------------------------------------------------------------------
    def _terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                if self.process.poll() is not None:
                    return
            else:
                with contextlib.suppress(ChildProcessError):  # a child of this process started elsewhere
                    os.waitpid(pid, os.WNOHANG)
                if not pid_alive(pid):
                    return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.pid == pid:
            self.process.wait(5)

    def _write_config(self, port: int) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "# written by CityTwin at every start: the private readings broker",
            f"listener {port} 127.0.0.1",
            *self._auth_lines(),
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_interval 30",
            "max_inflight_messages 2000",  # sent ahead of acknowledgements, which wait for the database commit
            "max_queued_messages 1000000",  # per session beyond those: a bridge away for a while loses nothing
            "max_queued_bytes 0",
            "persistent_client_expiration 7d",  # sessions of worker slots no longer used
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if os.geteuid() == 0:  # mosquitto drops root for this user; it must own what the broker writes
            user = service_user(self.os_user)
            lines.append(f"user {user.pw_name}")
            make_traversable(self.dir.parent)
            for path in [self.dir, *self.dir.glob("*.db")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        config = self.dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _auth_lines(self) -> list[str]:
        if not self.passwords_file.exists():
            return ["allow_anonymous true"]
        return ["allow_anonymous false", f"password_file {self.passwords_file}", f"acl_file {self.acl_file}"]

    def _service_credential(self) -> tuple[str, str]:
        if not self.service_file.exists():
            password = secrets.token_urlsafe(24)
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_private(self.service_file, json.dumps({"password": password,
                                                               "hash": mosquitto_hash(password)}), broker=False)
        stored = json.loads(self.service_file.read_text())
        return str(stored["password"]), str(stored["hash"])

    def _write_private(self, path: Path, content: str, broker: bool = True) -> None:
        """Write a file only its owner reads (the broker's user, when running as root and `broker`), atomically."""
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        if broker and os.geteuid() == 0:
            user = service_user(self.os_user)
            os.chown(tmp, user.pw_uid, user.pw_gid)
        tmp.replace(path)

    def _state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            raise BrokerError(f"no private broker in {self.dir}") from None
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.dir, "mosquitto.lock")

