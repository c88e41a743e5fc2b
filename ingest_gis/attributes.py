"""Attribute values as GDAL hands them over (through pyogrio) → JSON values for a twin object's attributes.

Layers are read with `datetime_as_string=True`, so dates and datetimes arrive as GDAL's own ISO 8601 text
(`2023-05-01`, `2023-05-01T12:30:00Z`, offsets kept). Times become `HH:MM:SS`, list fields JSON arrays, JSON
fields what they hold, numpy scalars plain numbers; missing values (None, NaN, NaT) are left out as the attribute
being absent. Binary fields and anything else JSON cannot carry are left out too, and counted per field for a
warning — never a traceback.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING = object()
"""The value is absent: no attribute is stored for it."""


class Unsupported(Exception):
    """A value JSON cannot carry; its kind names it in the warning."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def json_value(value: Any) -> Any:
    """The JSON form of one value, `MISSING` when it is absent; raises `Unsupported` for what JSON cannot carry."""
    if value is None or value is pd.NaT:
        return MISSING
    if isinstance(value, np.ndarray):
        return [_inner(v) for v in value.tolist()]
    if isinstance(value, np.datetime64 | np.timedelta64):
        return MISSING if np.isnat(value) else json_value(pd.Timestamp(value) if isinstance(value, np.datetime64)
                                                           else pd.Timedelta(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else MISSING
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raise Unsupported("binary")
    if isinstance(value, list | tuple):
        return [_inner(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _inner(v) for k, v in value.items()}
    if isinstance(value, dt.timedelta | pd.Timedelta):
        return value.total_seconds()
    raise Unsupported(type(value).__name__)


def _inner(value: Any) -> Any:
    """A value inside a list or a JSON field: absent values stay as null, keeping positions."""
    found = json_value(value)
    return None if found is MISSING else found


class AttributeReader:
    """Converts the attribute rows of one layer and remembers what it had to leave out.

    `booleans` names the layer's boolean fields: pandas holds a boolean column with missing values as floats
    (1.0, 0.0, NaN), which become true and false again here.
    """

    def __init__(self, booleans: frozenset[str] = frozenset()) -> None:
        self.booleans = booleans
        self.left_out: Counter[tuple[str, str]] = Counter()

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON attributes of one feature: absent and unsupported values left out."""
        attributes: dict[str, Any] = {}
        for name, value in values.items():
            try:
                converted = json_value(value)
            except Unsupported as exc:
                self.left_out[(name, exc.kind)] += 1
                continue
            if converted is MISSING:
                continue
            if name in self.booleans and isinstance(converted, int | float):
                converted = bool(converted)
            attributes[name] = converted
        return attributes

    def warnings(self) -> list[str]:
        return [f"attribute {name!r} ({kind}) cannot be stored as JSON and was left out of {count} features"
                for (name, kind), count in sorted(self.left_out.items())]


def boolean_fields(fields: Sequence[str], dtypes: Sequence[str]) -> frozenset[str]:
    """The fields `pyogrio.read_info` reports as boolean."""
    return frozenset(name for name, dtype in zip(fields, dtypes, strict=True) if dtype == "bool")
