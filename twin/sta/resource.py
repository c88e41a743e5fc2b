"""Resource paths: `Things`, `Things('house.b')`, `Things('house.b')/Datastreams`, `Datastreams('GAS-1')/Thing`,
`Observations('GAS-1~1764662400000000')/result/$value`, `Things('house.b')/Datastreams/$ref` (the entities' links
alone). Ids are quoted strings (`''` for a quote); a bare number
is read as the same id written as text. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin.sta.filter import FilterError
from twin.sta.model import ENTITIES, Entity

SEGMENT = re.compile(r"([A-Za-z]+)(?:\((?:'((?:[^']|'')*)'|(\d{1,19}))\))?")


class NotFoundError(LookupError):
    """A path naming no entity set or property: 404."""


@dataclass(frozen=True)
class Step:
    entity: Entity
    id: str | None = None
    via: str | None = None
    """The navigation property from the step before."""


@dataclass(frozen=True)
class Resource:
    steps: tuple[Step, ...]
    member: str | None = None
    raw_value: bool = False
    ref: bool = False
    """`…/$ref`: the entities' `@iot.selfLink`s alone."""

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def is_collection(self) -> bool:
        last = self.last
        if last.id is not None or self.member is not None:
            return False
        if last.via is None:
            return True
        previous = self.steps[-2].entity
        return previous.navigations[last.via].many


def quote_id(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_path(path: str) -> Resource:
    """A resource path below the service root; FilterError for a malformed one, NotFoundError for a name that is
    not there."""
    if "\x00" in path:
        raise FilterError("the path must not hold NUL characters")
    parts = [p for p in re.split(r"/(?=(?:[^']|'[^']*')*$)", path.strip("/"))]
    steps: list[Step] = []
    prop: str | None = None
    raw = ref = False
    for index, part in enumerate(parts):
        if part == "$ref" and steps and prop is None:
            if index != len(parts) - 1:
                raise NotFoundError("nothing comes after $ref")
            ref = True
            continue
        if prop is not None:
            if part == "$value" and index == len(parts) - 1:
                raw = True
                continue
            raise NotFoundError(f"nothing under the property {prop!r} but $value")
        match = SEGMENT.fullmatch(part)
        if match is None:
            raise FilterError(f"cannot read the path segment {part[:80]!r} (an entity set, Name('id') or a "
                              "property)")
        name, quoted, number = match.groups()
        ident = quoted.replace("''", "'") if quoted is not None else number
        if not steps:
            entity = ENTITIES.get(name)
            if entity is None:
                raise NotFoundError(f"no entity set {name!r}; there are {', '.join(ENTITIES)}")
            steps.append(Step(entity, ident))
            continue
        previous = steps[-1]
        navigation = previous.entity.navigations.get(name)
        if navigation is not None:
            if previous.id is None:
                raise FilterError(f"name one {previous.entity.name} before navigating to {name}")
            if ident is not None and not navigation.many:
                raise FilterError(f"{name} is one entity; it takes no id")
            steps.append(Step(ENTITIES[navigation.target], ident, name))
            continue
        if name in previous.entity.properties and ident is None:
            if previous.id is None and (previous.via is None
                                        or steps[-2].entity.navigations[previous.via].many):
                raise FilterError(f"name one {previous.entity.name} before reading its {name}")
            prop = name
            continue
        raise NotFoundError(f"{previous.entity.name} has no property or navigation {name!r}")
    return Resource(tuple(steps), prop, raw, ref)
