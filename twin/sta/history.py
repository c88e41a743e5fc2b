"""One datastream's Observations, `Datastreams(id)/Observations`: the history a chart or a client asks for. The
path holds every row to that datastream. When the live state knows it as a sensor of a number kind, its page is
read from `readings` alone (`READINGS_SQL`): the view's joins (the sensor for its kind, the twin object for the
feature of interest) add nothing to such a page, unless `$filter` or `$orderby` asks for a column only the view
has. Such a page is then read in binary (`twin.sta.binary`)."""

from __future__ import annotations

import re

from twin.live.state import LiveState
from twin.sta.encode import PageWriter, components_of, page_template
from twin.sta.model import OBSERVATION_ID, STATE_KINDS
from twin.sta.options import Query
from twin.sta.resource import Resource

READINGS_SQL = f"""
    SELECT r.sensor_id AS datastream_id, r.time AS phenomenon_time, r.value AS result, r.received_at,
           {OBSERVATION_ID} AS id
      FROM readings r"""
"""The Observations view's columns that come from `readings` alone."""
READING_COLUMNS = frozenset({"datastream_id", "phenomenon_time", "result", "received_at", "id"})
REFERENCE = re.compile(r"\be\.(\w+)")
"""A column of the page's entity set (alias `e`) named in its conditions or order."""


def one_datastream(resource: Resource) -> str | None:
    """The datastream of `Datastreams(id)/Observations`, whose link condition holds every row to that id."""
    steps = resource.steps
    if len(steps) == 2 and steps[0].entity.name == "Datastream" and steps[1].via == "Observations":
        return steps[0].id
    return None


def binary_readable(state: LiveState, stream: str) -> bool:
    """Whether `twin.sta.binary` may read the datastream's Observations: not one the live state knows to be of a
    true/false kind (the binary read would copy their results as NULL and be read again the row way)."""
    sensor = state.sensors.get(stream)
    return sensor is None or sensor.kind not in STATE_KINDS


def page_writer(state: LiveState, stream: str, query: Query, base: str) -> PageWriter | None:
    """The writer of the datastream's page of Observations as `twin.sta.binary` reads it (its documents, or its
    `dataArray`); None when the page is not read in binary."""
    shown = page_template("Observations", base, query.select, None)
    if shown is None or not binary_readable(state, stream):
        return None
    return PageWriter(None, components_of(query.select), query.top) if query.data_array else \
        PageWriter(shown, None, query.top)


def of_numbers(state: LiveState, stream: str) -> bool:
    """Whether the live state knows the datastream as a sensor of a number kind (its page may be read from
    `READINGS_SQL`)."""
    sensor = state.sensors.get(stream)
    return sensor is not None and sensor.kind not in STATE_KINDS


def readings_only(clauses: str) -> bool:
    """Whether a page's conditions and order name no column but those `READINGS_SQL` has."""
    return all(column in READING_COLUMNS for column in REFERENCE.findall(clauses))
