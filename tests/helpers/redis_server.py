"""A private redis-server for tests: the server's own (`twin.live.redis_process`), started and stopped here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from twin.live.redis_process import RedisProcess, RedisUnavailable


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisProcess]:
    try:
        server = RedisProcess(folder).start()
    except RedisUnavailable as exc:
        pytest.fail(f"{exc} (citytwin.sh test installs it)")
    try:
        yield server
    finally:
        server.stop()
