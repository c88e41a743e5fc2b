"""The SensorThings data model over the twin's tables (docs/sensorthings.md): each entity set is a SQL view with
named columns, its properties map to those columns, its navigation properties to joins on them. Pure: the SQL
here is constant text built from the code's own constants; client values never enter it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from twin.live.kinds import KINDS
from twin.live.state import EPOCH

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
TRUTH = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation"
GEOJSON = "application/geo+json"
THING_OF_SENSOR = "sensor:"
"""A sensor bound to no twin object is a Thing (and a FeatureOfInterest) of its own, `sensor:<its id>`."""

UNITS: dict[str, tuple[str, str]] = {
    "m": ("metre", "http://qudt.org/vocab/unit/M"),
    "%LEL": ("percent of the lower explosive limit", "http://qudt.org/vocab/unit/PERCENT"),
    "°C": ("degree Celsius", "http://qudt.org/vocab/unit/DEG_C"),
    "MPa": ("megapascal", "http://qudt.org/vocab/unit/MegaPA"),
    "µε": ("microstrain", "http://qudt.org/vocab/unit/MicroM-PER-M"),
    "°": ("degree", "http://qudt.org/vocab/unit/DEG"),
    "µg/m³": ("microgram per cubic metre", "http://qudt.org/vocab/unit/MicroGM-PER-M3"),
    "mm/h": ("millimetre per hour", "http://qudt.org/vocab/unit/MilliM-PER-HR"),
    "state": ("state (0 or 1)", "http://qudt.org/vocab/unit/UNITLESS"),
}
PROPERTY_NAMES: dict[str, str] = {
    "manhole_cover": "manhole cover open", "water_level": "water level", "water_immersion": "water immersion",
    "gas": "combustible gas concentration", "smoke": "smoke detected", "temperature": "temperature",
    "pressure": "pressure", "elevator": "elevator fault", "strain": "strain", "tilt": "tilt",
    "air_quality": "PM2.5 mass concentration", "rainfall": "rainfall intensity", "camera": "camera streaming",
}


def _text(value: str) -> str:
    """A constant of the code as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


assert all(re.fullmatch(r"[a-z_]+", kind) for kind in KINDS)
STATE_KINDS = frozenset(k for k, v in KINDS.items() if v.boolean)
"""Kinds whose results are true/false (stored as 1/0)."""
BOOLEAN_KINDS = "ARRAY[" + ", ".join(_text(k) for k, v in KINDS.items() if v.boolean) + "]::text[]"
UNIT_JSON = ("jsonb_build_object('name', CASE s.unit " + " ".join(
    f"WHEN {_text(u)} THEN {_text(n)}" for u, (n, _) in UNITS.items()) + " ELSE s.unit END, 'symbol', s.unit, "
    "'definition', CASE s.unit " + " ".join(f"WHEN {_text(u)} THEN {_text(d)}" for u, (_, d) in UNITS.items())
    + " ELSE '' END)")

THINGS_SQL = f"""
    SELECT o.id AS id, coalesce(o.name, o.id) AS name, o.kind || ' ' || o.id AS description,
           o.attributes || jsonb_build_object('kind', o.kind, 'dataset', o.dataset_id) AS properties,
           ST_SetSRID(ST_MakePoint(ST_X(ST_Centroid(o.footprint)), ST_Y(ST_Centroid(o.footprint)),
                                   coalesce(o.zmin, 0)), 4326) AS location,
           o.footprint AS feature, 'application/geo+json'::text AS encoding_type, 0 AS rank, o.id AS key,
           (SELECT d.created_at FROM datasets d WHERE d.id = o.dataset_id) AS time
      FROM twin_objects o WHERE EXISTS (SELECT 1 FROM sensors s WHERE s.object_id = o.id)
    UNION ALL
    SELECT {_text(THING_OF_SENSOR)} || s.id, coalesce(s.name, s.id), s.kind || ' sensor ' || s.id,
           jsonb_build_object('kind', s.kind, 'sensor', s.id), s.position, s.position,
           'application/geo+json'::text, 1, s.id, s.updated_at
      FROM sensors s WHERE NOT EXISTS (SELECT 1 FROM twin_objects o WHERE o.id = s.object_id)"""
DATASTREAMS_SQL = f"""
    SELECT s.id, coalesce(s.name, s.id) AS name, s.kind || ' sensor ' || s.id AS description, s.kind, s.unit,
           {UNIT_JSON} AS unit_of_measurement,
           CASE WHEN s.kind = ANY({BOOLEAN_KINDS}) THEN {_text(TRUTH)} ELSE {_text(MEASUREMENT)} END
             AS observation_type,
           s.attributes AS properties, s.position AS observed_area, s.object_id,
           coalesce(o.id, {_text(THING_OF_SENSOR)} || s.id) AS thing_id
      FROM sensors s LEFT JOIN twin_objects o ON o.id = s.object_id"""
SENSORS_SQL = "SELECT * FROM (VALUES " + ", ".join(
    f"({_text(k.name)}, {_text(k.name.replace('_', ' ') + ' device')}, "
    f"{_text(f'{k.name} device reporting {k.unit}, offline after {k.offline_after_s:g} s of silence')}, "
    f"'text/html', {_text('urn:citytwin:device-kind:' + k.name)})"
    for k in KINDS.values()) + ") AS v (id, name, description, encoding_type, metadata)"
PROPERTIES_SQL = "SELECT * FROM (VALUES " + ", ".join(
    f"({_text(k)}, {_text(PROPERTY_NAMES.get(k, k))}, {_text('urn:citytwin:observed-property:' + k)}, "
    f"{_text(f'what {k} sensors measure')})" for k in KINDS) + ") AS v (id, name, definition, description)"
OBSERVATION_ID = "r.sensor_id || '~' || (extract(epoch FROM r.time) * 1000000)::bigint::text"
"""An Observation's id in SQL: its datastream, `~`, and its time in Unix microseconds."""
OBSERVATIONS_SQL = f"""
    SELECT r.sensor_id AS datastream_id, r.time AS phenomenon_time, r.value AS result, r.received_at,
           {OBSERVATION_ID} AS id,
           coalesce(o.id, {_text(THING_OF_SENSOR)} || s.id) AS foi_id, s.kind, s.object_id
      FROM readings r JOIN sensors s ON s.id = r.sensor_id LEFT JOIN twin_objects o ON o.id = s.object_id"""
OBSERVATION_STREAMS_SQL = f"""
    SELECT s.id, s.kind, coalesce(o.id, {_text(THING_OF_SENSOR)} || s.id) AS foi_id
      FROM sensors s LEFT JOIN twin_objects o ON o.id = s.object_id WHERE s.id = ANY($1::text[])"""
"""What Observation rows share with their Datastream (its kind, its feature of interest), read once per page:
an Observation row is read as (datastream, time, result) alone, and its id is made from them."""


@dataclass(frozen=True)
class Column:
    """A property: the view column and its type (string, number, datetime, geometry, json)."""

    column: str
    type: str
    required: bool = False
    """Never NULL, so ordering by it needs no NULLS FIRST/LAST (which would keep an index from giving the
    order)."""


@dataclass(frozen=True)
class Navigation:
    """`source.column = target.column`; `many` for entity sets, `single` when a set holds one entity (a Thing's
    one Location), which filters may then follow like a to-one link."""

    target: str
    source_column: str
    target_column: str
    many: bool = False
    single: bool = False
    hint: str | None = None
    """A condition equivalent to the link that indexes can answer, with `{t}` (the target's alias), `{key}` (the
    source column's SQL) and `{sensor}` (the sensor id in a `sensor:` key): the Thing id a Datastream derives
    (`coalesce(object, 'sensor:' || id)`) is no index's, its parts are."""


@dataclass(frozen=True)
class Entity:
    name: str
    set_name: str
    sql: str
    properties: dict[str, Column]
    navigations: dict[str, Navigation]
    order: tuple[str, ...] = ("id",)
    """Columns that order the set by default and break ties (stable paging)."""
    hidden: tuple[str, ...] = field(default_factory=tuple)
    """Columns read but not shown (joins, the kind of a datastream)."""
    read: tuple[str, ...] | None = None
    """The columns a row is read with, when not all of them (the rest made in Python)."""

    @property
    def columns(self) -> list[str]:
        if self.read is not None:
            return list(self.read)
        return list(dict.fromkeys([*(c.column for c in self.properties.values()), *self.hidden, *self.order]))


THING_HINT = "({t}.object_id = {key} OR {t}.id = {sensor})"
OBSERVATION_HINT = "({t}.object_id = {key} OR {t}.datastream_id = {sensor})"
THINGS_ORDER = ("rank", "key")
"""Things (Locations, FeaturesOfInterest) come objects first, then sensors of their own, each by its table's key:
both branches of the view read in index order, so a page needs no sort of every sensor."""


def _ids() -> dict[str, Column]:
    return {"id": Column("id", "string", True), "@iot.id": Column("id", "string", True)}


ENTITIES: dict[str, Entity] = {e.set_name: e for e in (
    Entity("Thing", "Things", THINGS_SQL,
           {**_ids(), "name": Column("name", "string"), "description": Column("description", "string"),
            "properties": Column("properties", "json")},
           {"Locations": Navigation("Locations", "id", "id", many=True, single=True),
            "HistoricalLocations": Navigation("HistoricalLocations", "id", "id", many=True, single=True),
            "Datastreams": Navigation("Datastreams", "id", "thing_id", many=True, hint=THING_HINT)},
           order=THINGS_ORDER),
    Entity("Location", "Locations", THINGS_SQL,
           {**_ids(), "name": Column("name", "string"), "description": Column("description", "string"),
            "encodingType": Column("encoding_type", "string"),
            "location": Column("location", "geometry"), "properties": Column("properties", "json")},
           {"Things": Navigation("Things", "id", "id", many=True, single=True),
            "HistoricalLocations": Navigation("HistoricalLocations", "id", "id", many=True, single=True)},
           order=THINGS_ORDER),
    Entity("HistoricalLocation", "HistoricalLocations", THINGS_SQL,
           {**_ids(), "time": Column("time", "datetime", True)},
           {"Thing": Navigation("Things", "id", "id"),
            "Locations": Navigation("Locations", "id", "id", many=True, single=True)}, order=THINGS_ORDER),
    Entity("Datastream", "Datastreams", DATASTREAMS_SQL,
           {**_ids(), "name": Column("name", "string"), "description": Column("description", "string"),
            "unitOfMeasurement": Column("unit_of_measurement", "json"),
            "observationType": Column("observation_type", "string"),
            "observedArea": Column("observed_area", "geometry"), "properties": Column("properties", "json")},
           {"Thing": Navigation("Things", "thing_id", "id"), "Sensor": Navigation("Sensors", "kind", "id"),
            "ObservedProperty": Navigation("ObservedProperties", "kind", "id"),
            "Observations": Navigation("Observations", "id", "datastream_id", many=True)},
           hidden=("kind", "thing_id", "object_id")),
    Entity("Sensor", "Sensors", SENSORS_SQL,
           {**_ids(), "name": Column("name", "string"), "description": Column("description", "string"),
            "encodingType": Column("encoding_type", "string"), "metadata": Column("metadata", "string")},
           {"Datastreams": Navigation("Datastreams", "id", "kind", many=True)}),
    Entity("ObservedProperty", "ObservedProperties", PROPERTIES_SQL,
           {**_ids(), "name": Column("name", "string"), "definition": Column("definition", "string"),
            "description": Column("description", "string")},
           {"Datastreams": Navigation("Datastreams", "id", "kind", many=True)}),
    Entity("Observation", "Observations", OBSERVATIONS_SQL,
           {**_ids(), "phenomenonTime": Column("phenomenon_time", "datetime", True),
            "resultTime": Column("phenomenon_time", "datetime", True), "result": Column("result", "number", True)},
           {"Datastream": Navigation("Datastreams", "datastream_id", "id"),
            "FeatureOfInterest": Navigation("FeaturesOfInterest", "foi_id", "id")},
           order=("datastream_id", "phenomenon_time"), hidden=("datastream_id", "foi_id", "kind", "object_id"),
           read=("datastream_id", "phenomenon_time", "result")),
    Entity("FeatureOfInterest", "FeaturesOfInterest", THINGS_SQL,
           {**_ids(), "name": Column("name", "string"), "description": Column("description", "string"),
            "encodingType": Column("encoding_type", "string"),
            "feature": Column("feature", "geometry"), "properties": Column("properties", "json")},
           {"Observations": Navigation("Observations", "id", "foi_id", many=True, hint=OBSERVATION_HINT)},
           order=THINGS_ORDER),
)}


def sensor_of(key: str) -> str:
    """SQL: the sensor id in a `sensor:` Thing key (`key` an SQL expression), else NULL."""
    return f"(CASE WHEN left({key}, {len(THING_OF_SENSOR)}) = {_text(THING_OF_SENSOR)} THEN substr({key}, " \
           f"{len(THING_OF_SENSOR) + 1}) END)"


def observation_id(sensor_id: str, time_us: int) -> str:
    """An Observation's id: its datastream and its phenomenon time in Unix microseconds, `GAS-1~1764662400000000`
    (device codes hold no `~`; a sensor has one reading per instant)."""
    return f"{sensor_id}~{time_us}"


def micros(time: datetime) -> int:
    """Unix microseconds of a time (as `to_us`, in a third of its time: a page may hold 10,000)."""
    delta = time - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def split_observation_id(text: str) -> tuple[str, int] | None:
    sensor, sep, us = text.rpartition("~")
    if not sep or not sensor or not re.fullmatch(r"-?\d{1,19}", us):
        return None
    return sensor, int(us)
