"""Twin objects and datasets."""

from __future__ import annotations

from fastapi import APIRouter, Request

from twin.api.deps import EngineDep
from twin.api.live_context import live_context
from twin.api.responses import OrjsonResponse
from twin.repository import get_object, list_datasets

router = APIRouter()


@router.get("/objects/{object_id}", tags=["objects"])
def read_object(object_id: str, request: Request, engine: EngineDep) -> OrjsonResponse:
    """One twin object with its footprint as GeoJSON and all of its attributes, and `live`: the sensors on it and
    under it with their latest values and alarms, its worst alarm level and its open events."""
    found = get_object(engine, object_id)
    found["live"] = live_context(request, engine, object_id)
    return OrjsonResponse(found)


@router.get("/datasets", tags=["objects"])
def datasets(engine: EngineDep) -> OrjsonResponse:
    return OrjsonResponse(list_datasets(engine))
