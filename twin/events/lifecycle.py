"""The event lifecycle as a state machine: reported → assigned → handling → verifying → closed, cancelled from
any open status, reassignment while assigned, and reopening from verifying back to handling."""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("reported", "assigned", "handling", "verifying", "closed", "cancelled")
FINAL = frozenset({"closed", "cancelled"})
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "reported": ("assigned", "cancelled"),
    "assigned": ("assigned", "handling", "cancelled"),  # assigned → assigned hands it to someone else
    "handling": ("verifying", "cancelled"),
    "verifying": ("closed", "handling", "cancelled"),  # verifying → handling reopens it
    "closed": (),
    "cancelled": (),
}


class IllegalTransition(ValueError):
    """A transition the lifecycle does not allow from the event's status."""

    def __init__(self, status: str, to: str) -> None:
        self.status, self.to, self.allowed = status, to, TRANSITIONS.get(status, ())
        allowed = ", ".join(self.allowed) or "none: the event is " + status
        super().__init__(f"an event that is {status} cannot go to {to}; allowed: {allowed}")


class TransitionError(ValueError):
    """A transition request that is malformed (unknown status, missing assignee, bad note)."""


@dataclass(frozen=True)
class Step:
    """One accepted transition: what the history records."""

    action: str
    from_status: str
    to_status: str
    assignee: str | None


def action_of(status: str, to: str) -> str:
    if status == "verifying" and to == "handling":
        return "reopened"
    if status == "assigned" and to == "assigned":
        return "reassigned"
    return to


def step(status: str, to: str, assignee: str | None, current_assignee: str | None = None) -> Step:
    """Check a transition; the step to record. Assigning needs an assignee; later steps keep the current one."""
    if to not in STATUSES:
        raise TransitionError(f"unknown status {to!r}; statuses: {', '.join(STATUSES)}")
    if to not in TRANSITIONS.get(status, ()):
        raise IllegalTransition(status, to)
    if to == "assigned" and not assignee:
        raise TransitionError("assigning needs an assignee (a unit or person)")
    if assignee is not None and to != "assigned":
        raise TransitionError("an assignee is given only when assigning")
    return Step(action_of(status, to), status, to, assignee if to == "assigned" else current_assignee)
