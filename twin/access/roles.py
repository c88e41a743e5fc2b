"""Roles and what each may do: the pure policy every path applies.

`viewer` reads; `operator` also works events, acknowledges alarms and runs drills; `admin` also ingests, manages
sensors, plans, configuration and keys. `device` stands apart: it posts readings for the sensors its key is
bound to and nothing else. A route declares the role it needs; `PUBLIC` routes (health, the viewer's own files)
need none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PUBLIC = "public"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    DEVICE = "device"


KEY_ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.DEVICE)
"""The roles a key can have."""
LADDER = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
"""Each rung holds what the ones below it may do."""


def satisfies(have: Role, need: Role) -> bool:
    """Whether a key of role `have` may use a route that needs `need` (an admin may post any readings too)."""
    if need is Role.PUBLIC or have is need:
        return True
    if need is Role.DEVICE:
        return have is Role.ADMIN
    return have in LADDER and LADDER[have] >= LADDER[need]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sends a request: a verified key (`key_id`, role, bound sensors), anonymous, or everyone in open mode."""

    role: Role | None
    key_id: str | None = None
    sensors: frozenset[str] = frozenset()
    open: bool = False

    def may(self, need: Role) -> bool:
        if self.open or need is Role.PUBLIC:
            return True
        return self.role is not None and satisfies(self.role, need)

    def may_any(self, needs: tuple[Role, ...]) -> bool:
        return any(self.may(need) for need in needs)

    @property
    def sensor_limit(self) -> frozenset[str] | None:
        """The sensors this principal may post readings for, or None for any (an admin key, open access)."""
        return self.sensors if self.role is Role.DEVICE and not self.open else None

OPEN = Principal(None, open=True)
"""No admin key exists: every route is open (the loopback default)."""
ANONYMOUS = Principal(None)
"""Keys are in force and the request carries none."""
PUBLIC_READER = Principal(Role.VIEWER)
"""Keys are in force, the request carries none, and reading is public (`CITYTWIN_PUBLIC_READ=true`)."""
