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


def our_store(dsn: str, n: int, repeat: int, chunk: int = 10_000) -> float:
    """The server's write path (`twin.live.store.write_readings`: COPY into staging, insert skipping re-sent
    rows, latest values) on the same rows, in chunks as the group commit forms them; median rows/s."""
    from twin.live import store

    async def run() -> float:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        await store.init_connection(conn)
        speeds = []
        try:
            for r in range(repeat):
                rows = copy_rows(n, datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                                  - timedelta(days=2 + r))
                start = time.perf_counter()
                for first in range(0, n, chunk):
                    await store.write_readings(conn, rows[first:first + chunk])
                speeds.append(n / (time.perf_counter() - start))
        finally:
            await conn.close()
        return statistics.median(speeds)

    return asyncio.run(run())
