"""The benchmark's city: sensors on a grid, the clients' boxes, and reading times as text and µs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

LON0, LAT0 = 13.30, 52.45
DLON, DLAT = 0.00025, 0.00016  # ≈17 m × 18 m between sensors
BOX_SIDE = 0.1  # a client's box spans 10 % of the grid each way: ≈1 % of the sensors
ALARM_EVERY = 100  # every 100th sensor alarms: each of its readings crosses red or falls back (1 % of readings)
ALARM_RULE = {"direction": "above", "levels": {"red": 50.0}, "hysteresis": 0.0, "min_duration_s": 0.0}
HIGH, LOW = 60.0, 10.0
TICK_S = 0.02
OVERRUN = 1.5  # a step ends at most this many times its length after its start
POST_TIMEOUT_S = 30.0  # a POST unanswered this long counts as failed (and its connection is dropped)
CHANNELS = ["readings", "alarms"]


# -- the layout: sensors on a grid, clients' boxes -----------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    n: int

    @property
    def side(self) -> int:
        return int(np.ceil(np.sqrt(self.n)))

    @staticmethod
    def sensor_id(i: int) -> str:
        return f"S{i:06d}"

    def position(self, i: int) -> tuple[float, float]:
        return LON0 + (i % self.side) * DLON, LAT0 + (i // self.side) * DLAT

    @staticmethod
    def alarms(i: int) -> bool:
        return i % ALARM_EVERY == 0

    def sensor(self, i: int) -> dict[str, Any]:
        lon, lat = self.position(i)
        if self.alarms(i):
            return {"id": self.sensor_id(i), "kind": "gas", "position": [lon, lat, 1.0],
                    "object_id": f"bench.b{i // 4}", "thresholds": ALARM_RULE}
        return {"id": self.sensor_id(i), "kind": "temperature", "position": [lon, lat, 1.0],
                "object_id": f"bench.b{i // 4}"}

    def boxes(self, clients: int, seed: int = 5) -> list[tuple[int, int, int]]:
        """Each client's box as (first column, first row, width) in grid cells."""
        width = max(1, round(self.side * BOX_SIDE))
        rows = (self.n + self.side - 1) // self.side
        rng = np.random.default_rng(seed)
        return [(int(rng.integers(0, self.side - width + 1)), int(rng.integers(0, max(1, rows - width + 1))), width)
                for _ in range(clients)]

    def bbox(self, box: tuple[int, int, int]) -> list[float]:
        x, y, w = box
        return [LON0 + (x - 0.5) * DLON, LAT0 + (y - 0.5) * DLAT, LON0 + (x + w - 0.5) * DLON,
                LAT0 + (y + w - 0.5) * DLAT]

    def in_box(self, box: tuple[int, int, int]) -> Iterator[int]:
        x, y, w = box
        for row in range(y, y + w):
            for col in range(x, x + w):
                i = row * self.side + col
                if i < self.n:
                    yield i

    def coverage(self, boxes: Sequence[tuple[int, int, int]]) -> np.ndarray:
        """How many clients' boxes hold each sensor."""
        rows = (self.n + self.side - 1) // self.side
        count = np.zeros((rows, self.side), dtype=np.int32)
        for x, y, w in boxes:
            count[y:y + w, x:x + w] += 1
        return count.reshape(-1)[:self.n]

    def alarm_subscribers(self, boxes: Sequence[tuple[int, int, int]]) -> dict[int, list[int]]:
        """The clients whose box holds each alarming sensor."""
        sensors = np.arange(0, self.n, ALARM_EVERY)
        cols, rows = sensors % self.side, sensors // self.side
        found: dict[int, list[int]] = {int(i): [] for i in sensors}
        for client, (x, y, w) in enumerate(boxes):
            for i in sensors[(cols >= x) & (cols < x + w) & (rows >= y) & (rows < y + w)].tolist():
                found[i].append(client)
        return found


def time_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1e6)
