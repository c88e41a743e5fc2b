"""Drill frames as bytes: one frame is the state of a run at one simulated instant (people, hazards, vehicles),
encoded as JSON with sorted keys and rounded numbers, so that the same plan and seed give byte-identical frames.
Frames are stored in chunks: zlib over lines of `<t>\\t<frame JSON>`."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

DEGREES = 7  # ≈1 cm
METRES = 2
LEVEL = 6


def encode_frame(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame, option=orjson.OPT_SORT_KEYS)


def encode_chunk(frames: list[tuple[float, bytes]]) -> bytes:
    return zlib.compress(b"\n".join(repr(float(t)).encode() + b"\t" + data for t, data in frames), LEVEL)


def decode_chunk(data: bytes) -> Iterator[tuple[float, bytes]]:
    for line in zlib.decompress(data).split(b"\n"):
        t, _, frame = line.partition(b"\t")
        yield float(t), frame


def rounded(values: NDArray[np.float64], decimals: int) -> list[float]:
    """Plain floats rounded the same way on every machine (numpy's round-half-even)."""
    return [float(v) for v in np.round(np.asarray(values, dtype=np.float64), decimals)]


def positions(lon: NDArray[np.float64], lat: NDArray[np.float64], height: NDArray[np.float64]) -> list[float]:
    """Flat [lon, lat, h, lon, lat, h, ...]: compact for thousands of people, read by the viewer in one pass."""
    stacked = np.column_stack([np.round(lon, DEGREES), np.round(lat, DEGREES), np.round(height, METRES)])
    return [float(v) for v in stacked.ravel()]
