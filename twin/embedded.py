"""The embedded default database: a private PostgreSQL + PostGIS cluster inside the data directory.

It runs from the system's binaries (Debian: `postgresql-15-postgis-3`), listens on 127.0.0.1 only, on a port
recorded in `postgres.json` beside the cluster with a generated password (scram-sha-256). `initdb` refuses
root, so as root the cluster belongs to an unprivileged system user (`citytwin` by default), created on demand.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from twin.filelock import exclusive
from twin.localhost import accepting, free_port, make_traversable, service_user

INSTALL_HINT = "apt-get install postgresql-15-postgis-3"
DATABASE = "citytwin"
POSTGRES_ROOT = Path("/usr/lib/postgresql")  # Debian's home of versioned server binaries


class EmbeddedDatabaseError(RuntimeError):
    """The embedded cluster cannot be set up or started; the message says what to do."""


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    initialised: bool
    port: int | None
    cluster_dir: Path


def find_postgres_bin(explicit: Path | None = None) -> Path:
    """The directory holding `initdb` and `pg_ctl`, newest PostgreSQL first."""
    candidates = [explicit] if explicit else []
    candidates += sorted(POSTGRES_ROOT.glob("*/bin"), key=lambda p: _version(p), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.append(Path(which).resolve().parent)
    for directory in candidates:
        if directory and (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise EmbeddedDatabaseError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: install them with `{INSTALL_HINT}` "
        "or set CITYTWIN_DATABASE_URL to an external PostGIS database"
    )


def _version(bin_dir: Path) -> int:
    try:
        return int(bin_dir.parent.name)
    except ValueError:
        return 0


def _check_postgis(bin_dir: Path) -> None:
    pg_config = bin_dir / "pg_config"
    share = None
    if pg_config.exists():
        share = Path(subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True).stdout.strip())
    version = bin_dir.parent.name
    places = [share] if share else []
    places.append(Path(f"/usr/share/postgresql/{version}"))
    if not any((p / "extension" / "postgis.control").exists() for p in places if p):
        raise EmbeddedDatabaseError(
            f"PostGIS is not installed for PostgreSQL {version}: install it with `{INSTALL_HINT}`"
        )
    if not any((p / "extension" / "pgrouting.control").exists() for p in places if p):  # migration 0007 creates it
        raise EmbeddedDatabaseError(f"pgRouting is not installed for PostgreSQL {version}: install it with "
                                    f"`apt-get install postgresql-{version}-pgrouting`")


class EmbeddedPostgres:
    """Create, start, stop and describe the private cluster under `data_dir/postgres`."""

    def __init__(self, data_dir: Path, *, port: int = 0, bin_dir: Path | None = None,
                 os_user: str = "citytwin", fsync: bool = True) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.cluster_dir = self.data_dir / "postgres"
        self.state_file = self.data_dir / "postgres.json"
        self.requested_port = port
        self.explicit_bin = bin_dir
        self.os_user = os_user
        self.fsync = fsync

    # -- public ---------------------------------------------------------------------------------------------
    def url(self, database: str = DATABASE) -> str:
        state = self._state()
        password = quote(state["password"], safe="")
        return f"postgresql+psycopg://citytwin:{password}@127.0.0.1:{state['port']}/{database}"

    def status(self) -> ClusterStatus:
        initialised = (self.cluster_dir / "PG_VERSION").exists()
        state = self._state() if self.state_file.exists() else {}
        running = initialised and self._pg_ctl_status()
        return ClusterStatus(running, initialised, state.get("port"), self.cluster_dir)

    def start(self) -> bool:
        """Start the cluster (initialising it first if needed); True if this call started it."""
        with self._lock():
            bin_dir = find_postgres_bin(self.explicit_bin)
            _check_postgis(bin_dir)
            if not (self.cluster_dir / "PG_VERSION").exists():
                self._initdb(bin_dir)
            if self._pg_ctl_status():
                return False
            state = self._state()
            if accepting(state["port"]):
                state["port"] = self.requested_port or free_port()
                self._write_state(state)
            log = self.cluster_dir / "server.log"
            options = f"-p {state['port']}"
            result = self._run([bin_dir / "pg_ctl", "-D", self.cluster_dir, "-l", log, "-w", "-t", "60",
                                "-o", options, "start"], check=False)
            if result.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else result.stderr
                raise EmbeddedDatabaseError(f"the embedded PostgreSQL did not start:\n{tail}")
            self._ensure_database(state)
            return True

    def stop(self) -> bool:
        """Stop the cluster; True if it was running."""
        with self._lock():
            if not self._pg_ctl_status():
                return False
            bin_dir = find_postgres_bin(self.explicit_bin)
            self._run([bin_dir / "pg_ctl", "-D", self.cluster_dir, "-w", "-t", "60", "-m", "fast", "stop"])
            return True

    # -- internals --------------------------------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError as exc:
            raise EmbeddedDatabaseError(f"no embedded cluster in {self.data_dir}: run `citytwin db start`") from exc

    def _write_state(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, args: list, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self._as_root():
            user = service_user(self.os_user)
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd="/", **kwargs)
        if check and result.returncode != 0:
            raise EmbeddedDatabaseError(f"{Path(str(args[0])).name} failed: {result.stderr.strip()}")
        return result

    def _pg_ctl_status(self) -> bool:
        if not (self.cluster_dir / "PG_VERSION").exists():
            return False
        bin_dir = find_postgres_bin(self.explicit_bin)
        return self._run([bin_dir / "pg_ctl", "-D", self.cluster_dir, "status"], check=False).returncode == 0

    def _initdb(self, bin_dir: Path) -> None:
        if self.cluster_dir.exists() and any(self.cluster_dir.iterdir()):
            raise EmbeddedDatabaseError(f"{self.cluster_dir} exists but is not a PostgreSQL cluster; move it away")
        self.cluster_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700 if not self._as_root() else 0o711)
        password = secrets.token_urlsafe(24)
        port = self.requested_port or free_port()
        pwfile = self.data_dir / ".initdb-password"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        try:
            if self._as_root():
                user = service_user(self.os_user)
                make_traversable(self.data_dir)
                os.chown(self.cluster_dir, user.pw_uid, user.pw_gid)
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            self._run([bin_dir / "initdb", "-D", self.cluster_dir, "-U", "citytwin", "--auth=scram-sha-256",
                       f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C"])
        except Exception:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)
            raise
        finally:
            pwfile.unlink(missing_ok=True)
        conf = [
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = ''",
            f"fsync = {'on' if self.fsync else 'off'}",
            f"synchronous_commit = {'on' if self.fsync else 'off'}",
            f"full_page_writes = {'on' if self.fsync else 'off'}",
            "max_connections = 200",  # per worker: 20 pooled (SQLAlchemy) + 5 (query fast path) + listener
            "shared_buffers = 256MB",
        ]
        with (self.cluster_dir / "postgresql.conf").open("a") as fh:
            fh.write("\n# CityTwin embedded cluster\n" + "\n".join(conf) + "\n")
        self._write_state({"port": port, "password": password})

    def _ensure_database(self, state: dict) -> None:
        deadline = time.monotonic() + 30
        conninfo = dict(host="127.0.0.1", port=state["port"], user="citytwin", password=state["password"],
                        dbname="postgres", autocommit=True)
        while True:
            try:
                with psycopg.connect(**conninfo) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.data_dir, "postgres.lock")
