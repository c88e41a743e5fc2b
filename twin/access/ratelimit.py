"""Token buckets per key id or client address, pure: the caller hands in the time.

A bucket holds up to `burst` tokens and gains `rate` per second; a request takes one. An empty bucket answers how
long until the next token, which becomes `Retry-After`. Buckets are per worker process (docs/access.md,
"Limits"): with N workers a client spread over them may get up to N times the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BUCKETS = 100_000
"""Buckets kept at most; full ones are forgotten first (they hold no information)."""


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`take(name, now)` → 0.0 when allowed, else the seconds until it would be."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, Bucket] = {}

    def take(self, name: str, now: float) -> float:
        bucket = self.buckets.get(name)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            self.buckets[name] = Bucket(self.burst - 1, now)
            return 0.0
        tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if tokens >= 1:
            bucket.tokens = tokens - 1
            return 0.0
        bucket.tokens = tokens
        return (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [name for name, b in self.buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for name in full or list(self.buckets)[: len(self.buckets) // 2]:
            del self.buckets[name]


def retry_after(wait_s: float) -> int:
    """`Retry-After` seconds for a wait: whole seconds, at least 1."""
    return max(1, math.ceil(wait_s))
