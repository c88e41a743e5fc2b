"""The server process's garbage-collector policy, set once its start has loaded what lives as long as it does."""

from __future__ import annotations

import functools
import gc

GC_YOUNG = 50_000
"""The youngest generation's threshold (CPython's default is 700). At the default a message, route, outbox entry or
row that lives a few milliseconds is promoted and later counted into full collections, which over a live state of
100,000 sensors took most of the server's CPU under load (`bench live`: 12 of 30 CPU-seconds, pauses of up to 2 s);
at 50,000 short-lived objects die young."""


@functools.cache
def settle_heap() -> None:
    """Freeze what the start made (modules, the live state's sensors and latest values: full collections skip it
    from now on, which a request making 10,000s of objects would otherwise trigger) and raise the young threshold.
    Once a process: a frozen object is never collected, so freezing again would keep what later starts left."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG), middle, old)
