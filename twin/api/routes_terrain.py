"""Terrain over HTTP: the ingested terrains, and heights from their DEM grids for other systems and simulators.

The tiles themselves (`/tilesets/{terrain}/layer.json`, `/tilesets/{terrain}/{z}/{x}/{y}.terrain`) go through
the tile route with its ETags and 304s like every tileset.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import text

from twin.api.deps import EngineDep
from twin.api.responses import OrjsonResponse
from twin.terrain.store import sample_heights

router = APIRouter(tags=["terrain"])
MAX_POINTS = 10_000
Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees (WGS84)")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees (WGS84)")]
TerrainName = Annotated[str | None, Query(max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                                          description="the terrain dataset (default: the newest with data there)")]


@router.get("/terrain")
def terrains(engine: EngineDep) -> OrjsonResponse:
    """Every ingested terrain: its `layer.json` URL (CesiumTerrainProvider.fromUrl takes its folder), coverage
    box, height range and deepest level."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT g.dataset_id, g.zmin, g.zmax, g.width, g.height, d.summary, "
            "ST_XMin(g.coverage) AS w, ST_YMin(g.coverage) AS s, ST_XMax(g.coverage) AS e, ST_YMax(g.coverage) AS n "
            "FROM terrain_grids g JOIN datasets d ON d.id = g.dataset_id ORDER BY g.created_at DESC")).all()
    return OrjsonResponse([{"id": r.dataset_id, "url": f"/tilesets/{r.dataset_id}/",
                            "layer_url": f"/tilesets/{r.dataset_id}/layer.json", "bbox": [r.w, r.s, r.e, r.n],
                            "zmin": r.zmin, "zmax": r.zmax, "grid": [r.width, r.height],
                            "max_zoom": r.summary.get("max_zoom")} for r in rows])


def _known(engine: EngineDep, terrain: str | None) -> None:
    if terrain is None:
        return
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM terrain_grids WHERE dataset_id = :d"), {"d": terrain}).first() is None:
            raise HTTPException(404, f"no terrain {terrain!r}")


@router.get("/terrain/height")
def height(engine: EngineDep, lon: Lon, lat: Lat, terrain: TerrainName = None) -> OrjsonResponse:
    """The terrain height (m above the WGS84 ellipsoid) at a point, bilinear from the stored DEM grid; 404 where
    no terrain has data."""
    _known(engine, terrain)
    heights, answered = sample_heights(engine, [lon], [lat], terrain)
    if not math.isfinite(heights[0]):
        raise HTTPException(404, f"no terrain{' ' + repr(terrain) if terrain else ''} has data at "
                                 f"lon {lon}, lat {lat}")
    return OrjsonResponse({"lon": lon, "lat": lat, "height": round(float(heights[0]), 3), "terrain": answered[0]})


class HeightsRequest(BaseModel):
    points: list[tuple[float, float]] = Field(min_length=1, max_length=MAX_POINTS,
                                              description="[lon, lat] pairs, degrees (WGS84)")
    terrain: str | None = Field(None, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

    @field_validator("points")
    @classmethod
    def on_the_earth(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (lon, lat) in enumerate(points):
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"point {i} ({lon}, {lat}) is not a lon/lat on the Earth")
        return points


@router.post("/terrain/heights")
def heights(engine: EngineDep, body: HeightsRequest) -> OrjsonResponse:
    """Heights at up to 10,000 points in one request; `null` where no terrain has data."""
    _known(engine, body.terrain)
    points = np.asarray(body.points, dtype=np.float64)
    values, answered = sample_heights(engine, points[:, 0], points[:, 1], body.terrain)
    out: list[Any] = [round(float(v), 3) if math.isfinite(v) else None for v in values]
    return OrjsonResponse({"heights": out, "terrains": answered})
