""""Tileset changed" notices over PostgreSQL NOTIFY: every worker and process of a deployment hears them.

`publish` runs inside the writer's transaction, so a notice goes out exactly when the change commits. A
`NoticeListener` holds one LISTEN connection per process and hands each notice to its callbacks (the tile
cache drops the tileset; the live layer can forward it to viewers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

CHANNEL = "citytwin_tilesets"
log = logging.getLogger(__name__)


def publish(conn: Connection, notice: dict[str, Any]) -> None:
    """Queue a notice on the transaction of `conn`; PostgreSQL delivers it at commit."""
    payload = orjson.dumps(notice).decode()
    if len(payload) > 7000:  # NOTIFY payloads are limited to 8000 bytes: list only the counts then
        notice = {k: (len(v) if isinstance(v, list) else v) for k, v in notice.items()}
        payload = orjson.dumps(notice).decode()
    conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


class NoticeListener:
    """A background thread that LISTENs on the notice channel and calls back for each notice."""

    def __init__(self, database_url: str, callbacks: list[Callable[[dict[str, Any]], None]]) -> None:
        url = make_url(database_url)
        self.conninfo: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                                         "password": url.password, "dbname": url.database}
        self.callbacks = callbacks
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="citytwin-notices", daemon=True)

    def start(self) -> NoticeListener:
        self.thread.start()
        self.ready.wait(timeout=10)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(**self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    while not self.stopping.is_set():
                        for notify in conn.notifies(timeout=0.5, stop_after=1):
                            self._dispatch(notify.payload)
            except psycopg.Error as exc:  # the database went away: retry until stopped
                log.warning("notice listener lost its connection: %s", exc)
                self.stopping.wait(1.0)

    def _dispatch(self, payload: str) -> None:
        try:
            notice = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        for callback in self.callbacks:
            try:
                callback(notice)
            except Exception:  # one failing subscriber must not silence the others
                log.exception("notice callback failed")
