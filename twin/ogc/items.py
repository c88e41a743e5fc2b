"""`/collections/{id}/items`: request parameters → one SQL statement with keyset paging.

Pages are ordered by object id; `next` carries the last id of a page (`after=`), so page n costs the same as
page 1 (no OFFSET scan) and a client walking the pages sees every object exactly once.

`datetime` filters on when an object's dataset was ingested (`datasets.created_at`): objects carry no time of
their own yet, so that is the only honest time the twin knows for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, Text, and_, bindparam, func, literal, or_, select

from twin.ogc.catalog import Collection
from twin.ogc.crs import CRS84, Crs, bbox_condition, parse_crs, parse_numbers
from twin.ogc.errors import QueryError
from twin.ogc.filters import Queryables, attribute_equals_text, attribute_number, compile_filter, parse_filter
from twin.ogc.sql import CORE_NUMBER, CORE_TEXT, DATASETS, OBJECTS, SqlQuery, feature_select

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
ITEM_PARAMETERS = frozenset({"limit", "bbox", "bbox-crs", "datetime", "crs", "filter", "filter-lang",
                             "filter-crs", "after", "f"})
FORMATS = frozenset({"json", "geojson", "application/geo+json", "application/json"})


@dataclass
class ItemsRequest:
    """A parsed items request; `conditions` are bound-parameter SQL conditions, ANDed together."""

    crs: Crs = CRS84
    limit: int = DEFAULT_LIMIT
    after: str | None = None
    conditions: list[ColumnElement[bool]] = field(default_factory=list)


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise QueryError(f"limit={value!r} must be an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit={limit} must be from 1 to {MAX_LIMIT}")
    return limit


def _instant(text: str, end: bool) -> datetime:
    """An RFC 3339 date-time (UTC when no offset is given), or a whole day for a bare date."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"datetime {text!r} is not an RFC 3339 date-time such as 2024-05-01T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def datetime_condition(value: str) -> ColumnElement[bool]:
    """Objects of datasets ingested at the instant or within the (half-)bounded interval `value`."""
    created = DATASETS.c.created_at
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        parts = []
        if start_text not in ("", ".."):
            parts.append(created >= _instant(start_text, end=False))
        if end_text not in ("", ".."):
            bound = _instant(end_text, end=True)
            parts.append(created < bound if len(end_text) == 10 else created <= bound)
        if start_text in ("", "..") and end_text in ("", ".."):
            raise QueryError("datetime interval needs at least one bound")
        matched = and_(*parts)
    elif len(value) == 10:
        matched = and_(created >= _instant(value, end=False), created < _instant(value, end=True))
    else:
        matched = created == _instant(value, end=False)
    return OBJECTS.c.dataset_id.in_(select(DATASETS.c.id).where(matched))


def property_condition(name: str, values: Sequence[str], queryables: Queryables) -> ColumnElement[bool]:
    """`?name=value` (repeat for any of several values): exact match on an object column or attribute."""
    options: list[ColumnElement[bool]] = []
    for value in values:
        if name in CORE_TEXT:
            options.append(OBJECTS.c[name] == value)
            continue
        number = _number_or_none(value)
        if name in CORE_NUMBER:
            if number is None:
                raise QueryError(f"{name}={value!r} must be a number")
            options.append(OBJECTS.c[name] == number)
            continue
        key = name.removeprefix("attributes.") if name not in queryables.attributes else name
        match = attribute_equals_text(key, value)
        options.append(match if number is None else or_(match, attribute_number(key) == literal(number)))
    return or_(*options)


def _number_or_none(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_items_request(params: Mapping[str, Sequence[str]], collection: Collection,
                        queryables: Queryables | None) -> ItemsRequest:
    """Every parameter checked; property names beyond the standard ones must be queryables."""
    def one(name: str) -> str | None:
        values = params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise QueryError(f"{name} may be given once")
        return values[0]

    fmt = one("f")
    if fmt is not None and fmt not in FORMATS:
        raise QueryError(f"f={fmt!r}: only GeoJSON is offered (f=json)")
    request = ItemsRequest(crs=parse_crs(one("crs"), "crs"), limit=parse_limit(one("limit")), after=one("after"))
    if collection.dataset_id is not None:
        request.conditions.append(OBJECTS.c.dataset_id == collection.dataset_id)
    bbox = one("bbox")
    if bbox is not None:
        request.conditions.append(bbox_condition(OBJECTS.c.footprint, OBJECTS.c.zmin, OBJECTS.c.zmax,
                                                 parse_numbers(bbox, "bbox"), parse_crs(one("bbox-crs"), "bbox-crs")))
    elif one("bbox-crs") is not None:
        raise QueryError("bbox-crs needs a bbox")
    moment = one("datetime")
    if moment is not None:
        request.conditions.append(datetime_condition(moment))
    filter_text = one("filter")
    if filter_text is not None:
        assert queryables is not None
        tree = parse_filter(filter_text, one("filter-lang"))
        request.conditions.append(compile_filter(tree, queryables, parse_crs(one("filter-crs"), "filter-crs")))
    for name, values in params.items():
        if name in ITEM_PARAMETERS:
            continue
        if queryables is None or not queryables.has(name):
            raise QueryError(f"unknown query parameter {name!r}")
        request.conditions.append(property_condition(name, values, queryables))
    return request


def needs_queryables(params: Mapping[str, Sequence[str]]) -> bool:
    return any(name not in ITEM_PARAMETERS or name == "filter" for name in params)


def items_statement(request: ItemsRequest) -> Select[Any]:
    """One page: the matching objects after `after` in id order, one more than the limit to know of a next page."""
    statement = feature_select(request.crs)
    conditions = list(request.conditions)
    if request.after is not None:
        conditions.append(OBJECTS.c.id > request.after)
    if conditions:
        statement = statement.where(*conditions)
    return statement.order_by(OBJECTS.c.id).limit(request.limit + 1)


@lru_cache(maxsize=4)
def _bbox_page_shape(with_after: bool) -> Select[Any]:
    box = func.ST_MakeEnvelope(*(bindparam(n, type_=Float) for n in ("x1", "y1", "x2", "y2")), 4326)
    statement = feature_select().where(OBJECTS.c.dataset_id == bindparam("dataset", type_=Text),
                                       func.ST_Intersects(OBJECTS.c.footprint, box))
    if with_after:
        statement = statement.where(OBJECTS.c.id > bindparam("after", type_=Text))
    return statement.order_by(OBJECTS.c.id).limit(bindparam("rows", type_=Integer))


def bbox_page_query(dataset_id: str, bbox: Sequence[float], limit: int, after: str | None) -> SqlQuery | None:
    """The commonest items page — a dataset's objects meeting a CRS84 box, in CRS84 — as one cached statement
    shape with bound values; None when `bbox` is not a plain lon/lat box (the general `items_statement` then)."""
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        return None
    x1, y1, x2, y2 = bbox
    if not (-180 <= x1 <= x2 <= 180 and -90 <= y1 <= y2 <= 90):
        return None
    values: dict[str, Any] = {"dataset": dataset_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "rows": limit + 1}
    if after is not None:
        values["after"] = after
    return SqlQuery(_bbox_page_shape(after is not None), values)
