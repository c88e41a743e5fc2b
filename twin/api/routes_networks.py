"""Underground networks over HTTP: the networks, and which valves isolate a leaking pipe and what loses supply."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import text

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.networks.isolation import isolate
from twin.networks.store import load_graph

router = APIRouter(tags=["networks"])


@router.get("/networks")
def networks(engine: EngineDep) -> OrjsonResponse:
    """Every ingested network with its type, its tileset and its summary (pipes, nodes by kind, length)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, network_type, snap_m, summary FROM networks ORDER BY id")).all()
    return OrjsonResponse([{"id": r.id, "network_type": r.network_type, "snap_m": r.snap_m,
                            "tileset_url": f"/tilesets/{r.id}/tileset.json", **r.summary} for r in rows])


@router.get("/networks/{network_id}/isolate")
def isolate_pipe(engine: EngineDep, network_id: str,
                 pipe: Annotated[str, Query(min_length=1, max_length=200, description="the leaking pipe: its twin "
                                            "object id, or its id in the source without the network prefix")]
                 ) -> OrjsonResponse:
    """The valves to close to isolate `pipe`, the pipes drained between them, the pipes cut off beyond them and
    the objects (served by those pipes' service lines) that lose supply."""
    graph = load_graph(engine, network_id)
    if graph is None:
        raise HTTPException(404, f"no network {network_id!r}")
    pipe_id = pipe if pipe.startswith(f"{network_id}.") else f"{network_id}.{pipe}"
    try:
        answer = isolate(graph, pipe_id)
    except KeyError:
        raise HTTPException(404, f"network {network_id!r} has no pipe {pipe!r}") from None
    with engine.connect() as conn:
        valve_objects: dict[str, str | None] = dict(conn.execute(text(
            "SELECT id, object_id FROM network_nodes WHERE network_id = :n AND id = ANY(:ids)"),
            {"n": network_id, "ids": list(answer.valves)}).all())
        served: list[str] = conn.execute(text(
            "SELECT object_id FROM network_services WHERE network_id = :n AND pipe_id = ANY(:p) ORDER BY object_id"),
            {"n": network_id, "p": list(answer.unsupplied)}).scalars().all()  # type: ignore[assignment]
    return OrjsonResponse({
        "network": network_id, "pipe": pipe_id,
        "valves": [{"node": v, "object_id": valve_objects.get(v)} for v in answer.valves],
        "isolated_pipes": list(answer.segment), "cut_off_pipes": list(answer.cut_off),
        "objects_without_supply": list(served), "sources": answer.sources,
        **({"note": "the network has no source node: only the isolated pipes are known to lose supply"}
           if not answer.sources else {}),
    })
