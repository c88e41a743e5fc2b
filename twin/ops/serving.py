"""What `citytwin serve` hands uvicorn for operations: the log configuration, the graceful-shutdown bound, and
for several workers the folder their metrics are shared through."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twin.ops.logs import json_logging_config
from twin.ops.metrics import MULTIPROC_ENV


def uvicorn_options(log_format: str, drain_timeout_s: float) -> dict[str, Any]:
    """uvicorn keyword arguments: requests under way get `drain_timeout_s` at shutdown; JSON logs replace its
    text formatters and its access log (the app writes `citytwin.access` records instead)."""
    options: dict[str, Any] = {"timeout_graceful_shutdown": drain_timeout_s}
    if log_format == "json":
        options.update(log_config=json_logging_config(), access_log=False)
    return options


@contextmanager
def shared_metrics(data_dir: Path, port: int) -> Iterator[Path]:
    """The folder the workers of one server write their metrics to (prometheus-client's multiprocess mode),
    named in `PROMETHEUS_MULTIPROC_DIR` before they start. A folder given there is used as it is; otherwise one
    under the data dir per port is emptied at start (old workers' files would be summed) and removed after."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        yield Path(given)
        return
    folder = data_dir / "metrics" / str(port)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
