"""An object's live context for `/objects/{id}` and `/objects/{id}/context`: the sensors on it and under it
(storeys, spaces, parts) with latest values and alarms, its worst alarm level and its open events."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import Engine, text

from twin.live import views

_FAMILY = text("""WITH RECURSIVE tree AS (SELECT id FROM twin_objects WHERE id = :id
                  UNION SELECT o.id FROM twin_objects o JOIN tree t ON o.parent_id = t.id) SELECT id FROM tree""")


def live_context(request: Request, engine: Engine, object_id: str) -> dict[str, Any] | None:
    """None when the live layer is not running."""
    live = getattr(request.app.state, "live", None)
    if live is None:
        return None
    with engine.connect() as conn:
        family = {row[0] for row in conn.execute(_FAMILY, {"id": object_id})} | {object_id}
    state = live.hub.state
    found = views.object_live(state, family)
    found["events"] = sorted((e for e in state.events.values() if e.get("object_id") in family
                              and e.get("source") != "drill"), key=lambda e: str(e["reported_at"]))
    return found
