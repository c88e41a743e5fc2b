"""Events over the live layer's pool and bus: report (with duplicate suggestions), transitions, merges, actors.
Every change is published as `{"k": "event", "event": <the full event>}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twin.events import store
from twin.events.lifecycle import TRANSITIONS, IllegalTransition, Step, TransitionError, step
from twin.events.reports import DUPLICATE_WINDOW, ReportError, has_nul, is_duplicate, parse_report
from twin.live.service import LiveService

ACTOR_KINDS = ("person", "unit", "system")


class EventNotFound(LookupError):
    pass


def _actor_text(body: dict[str, Any], name: str = "actor") -> str:
    actor = body.get(name)
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200 or "\x00" in actor:
        raise ReportError(f"{name} must name a known actor (1–200 characters; see GET /actors)")
    return actor.strip()


def _note(body: dict[str, Any]) -> str | None:
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000 or "\x00" in note):
        raise ReportError("note must be text of at most 2000 characters")
    return note


async def report(live: LiveService, body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Store a reported event; returns it and the open events it may duplicate (same kind, near, recent)."""
    parsed = parse_report(body)
    now = datetime.now(UTC)
    async with live.pool.acquire() as conn:
        candidates = await store.open_of_kind(conn, parsed.kind, *store.window(now, DUPLICATE_WINDOW), now)
        event = await store.insert_event(conn, parsed, now, parsed.reporter or "reporter")
    duplicates = [c for c in candidates if is_duplicate(parsed, now, c)]
    await live.bus.publish({"k": "event", "event": event})
    return event, duplicates


async def read(live: LiveService, event_id: int) -> dict[str, Any]:
    async with live.pool.acquire() as conn:
        event = await store.read_event(conn, event_id, datetime.now(UTC))
        if event is None:
            raise EventNotFound(f"no event {event_id}")
        event["history"] = await store.history(conn, event_id)
    return event


async def _known(conn: Any, actor: str, name: str = "actor") -> None:
    if not await store.actor_exists(conn, actor):
        raise ReportError(f"unknown {name} {actor!r}; register actors with PUT /actors/{{id}}")


async def transition(live: LiveService, event_id: int, body: Any) -> dict[str, Any]:
    """Move an event along its lifecycle: ReportError/TransitionError (400), IllegalTransition (409),
    EventNotFound (404)."""
    if not isinstance(body, dict):
        raise ReportError("a transition is a JSON object {\"to\", \"actor\", \"note\", \"assignee\"}")
    actor, note = _actor_text(body), _note(body)
    to = body.get("to")
    if not isinstance(to, str):
        raise TransitionError("to must name the status to go to")
    assignee = body.get("assignee")
    if assignee is not None:
        assignee = _actor_text(body, "assignee")
    now = datetime.now(UTC)
    async with live.pool.acquire() as conn, conn.transaction():
        await _known(conn, actor)
        if assignee is not None:
            await _known(conn, assignee, "assignee")
        event = await store.read_event(conn, event_id, now, lock=True)
        if event is None:
            raise EventNotFound(f"no event {event_id}")
        checked = step(event["status"], to, assignee, event["assignee"])
        changed = await store.apply_step(conn, event_id, checked, actor, note, now)
    await live.bus.publish({"k": "event", "event": changed})
    return changed


async def merge(live: LiveService, event_id: int, body: Any) -> dict[str, Any]:
    """Merge an event into another open one of the same kind (并案): it is cancelled with `merged_into` set, the
    other's history records it. Returns the event merged into."""
    if not isinstance(body, dict):
        raise ReportError("a merge is a JSON object {\"into\", \"actor\", \"note\"}")
    actor, note = _actor_text(body), _note(body)
    into = body.get("into")
    if not isinstance(into, int) or isinstance(into, bool) or into == event_id or not 0 < into < 2**63:
        raise ReportError("into must be the id of another event")
    now = datetime.now(UTC)
    async with live.pool.acquire() as conn, conn.transaction():
        await _known(conn, actor)
        first, second = sorted((event_id, into))  # lock in id order: two opposite merges cannot deadlock
        locked = {i: await store.read_event(conn, i, now, lock=True) for i in (first, second)}
        event, target = locked[event_id], locked[into]
        if event is None or target is None:
            raise EventNotFound(f"no event {event_id if event is None else into}")
        if target["status"] in ("closed", "cancelled"):
            raise IllegalTransition(target["status"], "merged")
        if target["kind"] != event["kind"]:
            raise ReportError(f"only events of one kind merge ({event['kind']} ≠ {target['kind']})")
        if "cancelled" not in TRANSITIONS.get(event["status"], ()):
            raise IllegalTransition(event["status"], "cancelled")
        merged = await store.apply_step(conn, event_id, Step("merged", event["status"], "cancelled",
                                                             event["assignee"]), actor, note, now, merged_into=into)
        await store.note(conn, into, actor, "merged_from", f"event {event_id} merged in" + (f": {note}" if note
                                                                                             else ""), now)
        target = await store.read_event(conn, into, now)
        assert target is not None
    await live.bus.publish({"k": "event", "event": merged})
    await live.bus.publish({"k": "event", "event": target})
    return {**target, "merged": merged}


async def put_actor(live: LiveService, actor_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ReportError("an actor is a JSON object {\"name\", \"kind\": person|unit, \"attributes\"}")
    _actor_text({"id": actor_id}, "id")
    kind = body.get("kind", "person")
    if kind not in ACTOR_KINDS:
        raise ReportError(f"unknown actor kind {kind!r}; one of: {', '.join(ACTOR_KINDS)}")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200 or "\x00" in name):
        raise ReportError("name must be text of at most 200 characters")
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict) or has_nul(attributes):
        raise ReportError("attributes must be a JSON object (no NUL characters)")
    async with live.pool.acquire() as conn:
        return await store.put_actor(conn, actor_id.strip(), name, kind, attributes)
