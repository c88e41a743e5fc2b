"""Fault survival with real processes: the PostGIS server restarted while readings are posted at load. Every
reading the API acknowledged is in the database afterwards, none is acknowledged while the database is away, and
the server takes readings again by itself once it is back."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.conftest import serving
from twin.db import Database, create_db_engine, migrate
from twin.embedded import EmbeddedPostgres
from twin.settings import Settings

SENSORS = 20
BATCH = 50


def _post_until(base: str, stop: threading.Event, acknowledged: list[tuple[str, str]], refused: list[int]) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    n = 0
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            batch = []
            for _ in range(BATCH):
                n += 1
                stamp = (start + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
                batch.append({"sensor": f"T-{n % SENSORS}", "time": stamp, "value": float(n % 40)})
            try:
                answer = client.post(f"{base}/readings", json=batch)
            except httpx.HTTPError:
                refused.append(-1)
                continue
            if answer.status_code == 200 and answer.json()["accepted"] == BATCH:
                acknowledged.extend((r["sensor"], r["time"]) for r in batch)
            else:
                assert answer.status_code in (200, 503), answer.text
                refused.append(answer.status_code)
                time.sleep(0.05)


def test_every_reading_acknowledged_while_postgis_restarts_is_stored_and_posting_resumes_by_itself(
        tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "db", fsync=False)
    cluster.start()
    engine = create_db_engine(cluster.url())
    try:
        migrate(engine)
        with serving(Settings(database_url=cluster.url(), data_dir=tmp_path / "data"), Database(engine)) as base:
            sensors = [{"id": f"T-{i}", "kind": "temperature", "position": [13.4 + i * 1e-4, 52.5, 3]}
                       for i in range(SENSORS)]
            assert httpx.post(f"{base}/sensors", json=sensors).status_code == 201
            acknowledged: list[tuple[str, str]] = []
            refused: list[int] = []
            stop = threading.Event()
            poster = threading.Thread(target=_post_until, args=(base, stop, acknowledged, refused))
            poster.start()
            try:
                time.sleep(2.0)
                before = len(acknowledged)
                cluster.stop()
                time.sleep(2.0)
                cluster.start()
                deadline = time.monotonic() + 60
                resumed_from = len(acknowledged)
                while len(acknowledged) < resumed_from + 20 * BATCH:
                    assert time.monotonic() < deadline, "posting did not resume after the restart"
                    time.sleep(0.2)
            finally:
                stop.set()
                poster.join(timeout=30)
            assert before > 0 and refused, "the restart was not noticed by the poster"
            assert set(refused) <= {503, -1}
            print(f"acknowledged {len(acknowledged)} readings, {len(refused)} batches refused during the restart")
        engine.dispose()  # its pooled connections died with the restart
        with engine.connect() as conn:
            stored = {(r[0], r[1].isoformat().replace("+00:00", "Z")) for r in conn.execute(
                text("SELECT sensor_id, time FROM readings"))}
        missing = [r for r in acknowledged if (r[0], datetime.fromisoformat(r[1].replace("Z", "+00:00"))
                                                .isoformat().replace("+00:00", "Z")) not in stored]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged readings were lost"
    finally:
        engine.dispose()
        cluster.stop()
