"""The write limit: PostgreSQL's raw COPY of reading rows against the server's own write path."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.live.layout import Layout


def copy_rows(n: int, day: datetime) -> list[tuple[str, datetime, float, datetime]]:
    layout = Layout(max(n, 1))
    received = day + timedelta(hours=1)
    return [(layout.sensor_id(i % layout.n), day + timedelta(microseconds=i), 20.0 + i % 7, received)
            for i in range(n)]


def raw_copy(conninfo: str, rows: list[tuple[str, datetime, float, datetime]], repeat: int) -> float:
    """PostgreSQL's COPY of the rows (text prepared beforehand) into a plain table indexed like `readings`;
    median rows/s over `repeat` runs."""
    import psycopg

    data = "".join(f"{s}\t{t.isoformat()}\t{v!r}\t{r.isoformat()}\n" for s, t, v, r in rows).encode()
    speeds = []
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (sensor_id text NOT NULL, time timestamptz NOT NULL, "
                     "value double precision NOT NULL, received_at timestamptz NOT NULL)")
        conn.execute("CREATE UNIQUE INDEX bench_copy_sensor_time ON bench_copy (sensor_id, time)")
        conn.commit()
        for _ in range(repeat):
            conn.execute("TRUNCATE bench_copy")
            conn.commit()
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
                copy.write(data)
            conn.commit()
            speeds.append(len(rows) / (time.perf_counter() - start))
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return statistics.median(speeds)


def compare_writes(conninfo: str, dsn: str, n: int, repeat: int) -> tuple[float, float, float]:
    """Raw COPY, our store path and the latest flush on n rows, taken in turn `repeat` times (so a machine whose
    load changes during the measurement weighs on both alike); the medians, in rows/s."""
    rows = copy_rows(n, datetime(2000, 1, 1, tzinfo=UTC))
    raws, ours, flushes = [], [], []
    for r in range(repeat):
        raws.append(raw_copy(conninfo, rows, 1))
        store, flush = our_store(dsn, n, 1, days_back=1 + repeat - r)
        ours.append(store)
        flushes.append(flush)
    return statistics.median(raws), statistics.median(ours), statistics.median(flushes)


def our_store(dsn: str, n: int, repeat: int, chunk: int = 10_000, days_back: int | None = None
              ) -> tuple[float, float]:
    """The server's write path (`twin.live.store.write_readings`: one binary COPY into the partitioned `readings`,
    the staged path only for re-sent rows) on the same rows, in chunks as the group commit forms them; and the
    background flush of the latest values (`twin.live.latest.flush`, off the readings' transaction) of those rows.
    Median rows/s of each; every repeat's rows are a day newer (the first `days_back` days back), so the flush
    updates every sensor's row."""
    from twin.live import latest, store

    async def run() -> tuple[float, float]:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        await store.init_connection(conn)
        speeds, flushes = [], []
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            for r in range(repeat):
                rows = copy_rows(n, today - timedelta(days=(days_back or 1 + repeat) - r))
                start = time.perf_counter()
                for first in range(0, n, chunk):
                    await store.write_readings(conn, rows[first:first + chunk])
                speeds.append(n / (time.perf_counter() - start))
                newest = sorted({row[0]: row for row in rows}.values())
                start = time.perf_counter()
                for first in range(0, len(newest), chunk):
                    await latest.flush(conn, "bench", newest[first:first + chunk], today)
                flushes.append(len(newest) / (time.perf_counter() - start))
            await latest.drop_mark(conn, "bench")
        finally:
            await conn.close()
        return statistics.median(speeds), statistics.median(flushes)

    return asyncio.run(run())
