"""Buildings from IFC: walkable floors for drills."""

from __future__ import annotations

from fastapi import APIRouter

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.buildings import read_floors

router = APIRouter()


@router.get("/buildings/{building_id}/floors", tags=["buildings"])
def floors(building_id: str, engine: EngineDep) -> OrjsonResponse:
    """Per storey a GeoJSON FeatureCollection: walkable area, spaces, doors (width, spaces linked), exits, stairs."""
    return OrjsonResponse(read_floors(engine, building_id))
