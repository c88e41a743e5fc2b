"""Pausing the cycle collector nests and overlaps across threads, and always ends where it began."""

from __future__ import annotations

import gc
import threading

from ingest_gis.cycle_collector import cycle_collector_paused


def test_overlapping_pauses_enable_the_collector_only_when_the_last_ends() -> None:
    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with cycle_collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with cycle_collector_paused():
        second_in.set()
        first_out.wait(5)
        assert not gc.isenabled()  # the first pause ended while this one runs
        with cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with cycle_collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
