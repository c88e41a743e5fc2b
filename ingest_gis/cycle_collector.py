"""Python's cycle collector paused while a large input is read or ingested.

A parsed document or a model's geometry is millions of short-lived containers without cycles, which reference
counting frees; the collector's repeated passes over them cost about as much as the reading itself. Pauses
nest and may overlap across threads (ingest jobs in the server): the collector runs again when the last ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
