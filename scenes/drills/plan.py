"""The drill plan (预案) format: one incident, its hazard's parameters, the run's time mode and one or more schemes
(evacuation, force deployment, injects over time). Documented in docs/drills.md; parsed from JSON or YAML into
frozen models, every wrong field named by its path. Checking the plan against the twin (do its spaces, exits and
stations exist?) is `scenes.drills.checks`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scenes.drills.errors import PlanError

HAZARDS = ("fire", "gas_leak", "water_logging")
IDENT = r"^[A-Za-z0-9_$][A-Za-z0-9_$.:\-]{0,199}$"
"""Ids of plans, schemes and units, and of twin objects (IFC GlobalIds use `_` and `$`)."""
MAX_DURATION_S = 6 * 3600
MAX_PEOPLE = 50_000

Ident = Annotated[str, Field(pattern=IDENT)]
StoreyKey = Annotated[str, Field(pattern=r"^(\*|" + IDENT[1:-1] + r")$")]
Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION_S)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeMode(_Model):
    """Real time paces the run at `speed` × the wall clock; accelerated computes as fast as it can."""

    mode: Literal["real_time", "accelerated"] = "accelerated"
    speed: Annotated[float, Field(gt=0, le=1000)] = 1.0
    frame_interval_s: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    duration_s: Annotated[float, Field(gt=0, le=MAX_DURATION_S)] = 900.0


class Incident(_Model):
    kind: Literal["fire", "gas_leak", "water_logging"]
    building: Ident | None = None
    space: Ident | None = None
    location: tuple[float, float, float] | tuple[float, float] | None = None
    start_s: Seconds = 0.0

    @field_validator("location")
    @classmethod
    def _on_earth(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
            raise ValueError("location is [lon, lat] or [lon, lat, height] in degrees and metres")
        return value


class Fire(_Model):
    growth: Literal["slow", "medium", "fast", "ultrafast"] | None = "fast"
    alpha_kw_s2: Annotated[float, Field(gt=0, le=1)] | None = None
    peak_kw: Annotated[float, Field(gt=0, le=200_000)] = 2500.0
    soot_yield: Annotated[float, Field(gt=0, le=1)] | None = None
    co_yield: Annotated[float, Field(gt=0, le=1)] | None = None


class Wind(_Model):
    speed_m_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    direction_deg: Annotated[float, Field(ge=0, lt=360)] = 270.0
    """The direction the wind blows from, clockwise from north (270 = a west wind)."""
    stability: Literal["A", "B", "C", "D", "E", "F"] = "D"
    sensor: Ident | None = None
    """A live wind sensor whose latest value (m/s) replaces `speed_m_s` when the run starts."""


class Gas(_Model):
    substance: Literal["methane", "propane", "hydrogen_sulphide", "chlorine", "ammonia"] = "methane"
    release_kg_s: Annotated[float, Field(gt=0, le=10_000)] = 1.0
    height_m: Annotated[float, Field(ge=0, le=500)] = 1.0
    wind: Wind = Wind()
    terrain: Literal["open", "urban"] = "urban"


class Rain(_Model):
    hyetograph: tuple[tuple[Seconds, Annotated[float, Field(ge=0, le=500)]], ...] = ((0.0, 80.0), (1800.0, 0.0))
    """Steps of (from second, rain mm/h)."""
    extent_m: Annotated[float, Field(gt=50, le=20_000)] = 1200.0
    cell_m: Annotated[float, Field(ge=1, le=100)] = 10.0
    manning_n: Annotated[float, Field(gt=0, le=1)] = 0.035
    drain_m3_s_per_inlet: Annotated[float, Field(ge=0, le=10)] = 0.05

    @field_validator("hyetograph")
    @classmethod
    def _ordered(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        times = [t for t, _ in value]
        if not value or times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("hyetograph is a non-empty list of [second, mm/h] in increasing time")
        return value


class PreMovement(_Model):
    """Seconds from the alarm to the first step, per person (SFPE Handbook: lognormal fits recorded drills)."""

    dist: Literal["fixed", "uniform", "normal", "lognormal"] = "lognormal"
    mean_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    sd_s: Annotated[float, Field(ge=0, le=3600)] = 20.0
    min_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    max_s: Annotated[float, Field(ge=0, le=3600)] = 600.0

    @model_validator(mode="after")
    def _bounds(self) -> PreMovement:
        if self.max_s < self.min_s:
            raise ValueError("max_s must not be below min_s")
        return self


class Evacuation(_Model):
    occupants: dict[Ident, Annotated[int, Field(le=MAX_PEOPLE)]] = {}
    """People per space id."""
    density: dict[StoreyKey, Annotated[float, Field(le=4)]] = {}
    """People per m² of walkable area per storey id (or `"*"` for every storey not named)."""
    premovement: PreMovement = PreMovement()
    exits: Literal["nearest"] | dict[Ident, Ident] = "nearest"
    """`nearest` by walking distance, or an assignment of space or storey ids to exit ids."""
    closed_stairs: tuple[Ident, ...] = ()
    speed_m_s: Annotated[float, Field(gt=0.2, le=3)] = 1.34

    @field_validator("occupants", "density")
    @classmethod
    def _not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        negative = sorted(k for k, n in value.items() if n < 0)
        if negative:
            raise ValueError(f"occupants cannot be negative (at {', '.join(negative)})")
        return value


class Unit(_Model):
    unit: Ident
    station: Ident
    """The twin object the unit leaves from (a fire station, hospital...)."""
    kind: Literal["fire_engine", "ladder", "ambulance", "police", "hazmat", "rescue"] = "fire_engine"
    depart_s: Seconds = 0.0


class Inject(_Model):
    at_s: Seconds
    action: Literal["block_exit", "open_exit", "close_space", "close_stair", "wind", "second_alarm", "rain"]
    exit: Ident | None = None
    space: Ident | None = None
    stair: Ident | None = None
    wind: Wind | None = None
    rain_mm_h: Annotated[float, Field(ge=0, le=500)] | None = None
    note: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _target(self) -> Inject:
        needs = {"block_exit": "exit", "open_exit": "exit", "close_space": "space", "close_stair": "stair",
                 "wind": "wind", "rain": "rain_mm_h"}.get(self.action)
        if needs is not None and getattr(self, needs) is None:
            raise ValueError(f"a {self.action} inject names its {needs}")
        return self


class Scheme(_Model):
    id: Ident
    name: Annotated[str, Field(max_length=200)] | None = None
    evacuation: Evacuation | None = None
    deployment: tuple[Unit, ...] = ()
    injects: tuple[Inject, ...] = ()


class Plan(_Model):
    id: Ident
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] | None = None
    incident: Incident
    time: TimeMode = TimeMode()
    fire: Fire | None = None
    gas: Gas | None = None
    rain: Rain | None = None
    schemes: Annotated[tuple[Scheme, ...], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        ids = [s.id for s in self.schemes]
        if len(set(ids)) != len(ids):
            raise ValueError("scheme ids must be unique")
        kind = self.incident.kind
        if kind == "fire" and (self.incident.building is None or self.incident.space is None):
            raise ValueError("a fire incident names its building and the space the fire starts in")
        if kind == "gas_leak" and self.incident.location is None:
            raise ValueError("a gas leak incident has a location [lon, lat(, height)]: where the gas escapes")
        if kind == "water_logging" and self.incident.location is None:
            raise ValueError("a water-logging incident has a location [lon, lat]: the centre of the area simulated")
        return self

    @property
    def hazard(self) -> str:
        return self.incident.kind

    def scheme(self, scheme_id: str) -> Scheme:
        for scheme in self.schemes:
            if scheme.id == scheme_id:
                return scheme
        raise PlanError(f"no scheme {scheme_id!r} in plan {self.id!r}; schemes: "
                        f"{', '.join(s.id for s in self.schemes)}", "scheme")

    def document(self) -> dict[str, Any]:
        """The plan as stored and returned: JSON with every default spelled out."""
        return self.model_dump(mode="json")


def _where(location: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else (f".{part}" if i else str(part))
                   for i, part in enumerate(location))


def parse_plan(raw: Any) -> Plan:
    """A plan from its decoded document, or PlanError naming the first wrong field and why."""
    if not isinstance(raw, dict):
        raise PlanError("a plan is a JSON/YAML object (see docs/drills.md)")
    try:
        return Plan.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        elif first["type"] == "missing":
            message = "is required"
        raise PlanError(message, _where(tuple(first["loc"]))) from None


def load_plan_text(text: str) -> Plan:
    """A plan from JSON or YAML text (JSON is YAML)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"not valid YAML or JSON: {str(exc).splitlines()[0]}") from None
    return parse_plan(raw)
