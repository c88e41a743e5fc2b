"""The websockets' shared tick: due clients are woken together, at most one tick per `tick_s`, an idle ticker at
once."""

from __future__ import annotations

import asyncio

from twin.live.ticks import Ticker


def test_due_clients_wake_together_at_most_once_a_tick_and_an_idle_ticker_wakes_at_once() -> None:
    async def run() -> tuple[float, float, list[bool], list[bool]]:
        loop = asyncio.get_running_loop()
        ticker = Ticker(0.2)
        a, b = asyncio.Event(), asyncio.Event()
        start = loop.time()
        ticker.wake(a.set)
        await a.wait()
        first = loop.time() - start  # idle: at once
        a.clear()
        ticker.wake(a.set)
        ticker.wake(b.set)
        ticker.wake(a.set)
        right_after = [a.is_set(), b.is_set()]
        await asyncio.gather(a.wait(), b.wait())
        second = loop.time() - start
        after = [a.is_set(), b.is_set()]
        ticker.close()
        return first, second, right_after, after

    first, second, right_after, after = asyncio.run(run())
    assert first < 0.1
    assert second >= 0.2 - 0.005  # a tick after the first one
    assert right_after == [False, False] and after == [True, True]
