"""Group commit for readings: concurrent batches (HTTP, MQTT, websocket) share one COPY transaction; each caller
hears back only after the commit, with the (sensor, time) pairs that had been stored before (re-sent). What each
commit stored new goes to `pending`, which the latest-values flush empties (`twin.live.latest`)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from twin.live.latest import Pending
from twin.live.store import write_readings
from twin.live.tasks import cancel_and_wait

Row = tuple[str, datetime, float, datetime]


class ReadingWriter:
    def __init__(self, pool: asyncpg.Pool, writers: int = 2, max_rows: int = 20_000) -> None:
        self.pool = pool
        self.max_rows = max_rows
        self.queue: asyncio.Queue[tuple[list[Row], asyncio.Future[set[tuple[str, datetime]]]]] = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._run(), name=f"citytwin-writer-{i}") for i in range(writers)]
        self.rows_written = 0
        self.pending = Pending()

    async def write(self, rows: list[Row]) -> set[tuple[str, datetime]]:
        """Store `rows` (all with one receipt time) durably; the pairs among them that had been stored before
        (usually none)."""
        if not rows:
            return set()
        future: asyncio.Future[set[tuple[str, datetime]]] = asyncio.get_running_loop().create_future()
        self.pending.begin(rows[0][3])
        self.queue.put_nowait((rows, future))
        return await future

    async def _run(self) -> None:
        while True:
            batches = [await self.queue.get()]
            size = len(batches[0][0])
            while size < self.max_rows and not self.queue.empty():
                queued = self.queue.get_nowait()
                batches.append(queued)
                size += len(queued[0])
            rows = [row for batch, _ in batches for row in batch]
            try:
                async with self.pool.acquire() as conn:
                    duplicates = await write_readings(conn, rows)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                for batch, future in batches:
                    self.pending.failed(batch[0][3])
                    if not future.done():
                        future.set_exception(StorageError(str(exc)))
                continue
            self.rows_written += len(rows) - len(duplicates)
            for batch, future in batches:
                repeated = {(r[0], r[1]) for r in batch if (r[0], r[1], r[3]) in duplicates} if duplicates \
                    else set()
                self.pending.committed(batch[0][3], [r for r in batch if (r[0], r[1]) not in repeated]
                                       if repeated else batch)
                if not future.done():
                    future.set_result(repeated)

    async def close(self) -> None:
        await cancel_and_wait(self.tasks)


class StorageError(RuntimeError):
    """The database did not take the readings: none of them is acknowledged."""
