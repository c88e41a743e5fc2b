"""Twin objects and datasets."""

from __future__ import annotations

from fastapi import APIRouter

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.repository import get_object, list_datasets

router = APIRouter()


@router.get("/objects/{object_id}", tags=["objects"])
def read_object(object_id: str, engine: EngineDep) -> OrjsonResponse:
    """One twin object with its footprint as GeoJSON and all of its attributes."""
    return OrjsonResponse(get_object(engine, object_id))


@router.get("/datasets", tags=["objects"])
def datasets(engine: EngineDep) -> OrjsonResponse:
    return OrjsonResponse(list_datasets(engine))
