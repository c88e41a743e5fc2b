"""An IFC file → the floors document `twin.buildings.read_floors` serves, without a database: the IFC ingest's
walkable analysis run on the file, its floors and connections laid out per storey the way read_floors lays them
out (walkable first, then spaces, then every connection touching the storey, ordered by kind and id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import shapely
from pyproj import Geod

from ingest_bim.georef import GeorefOptions
from ingest_bim.reader import read_ifc
from ingest_bim.spool import FeatureSpool
from ingest_bim.walkable import Floors

_GEOD = Geod(ellps="WGS84")


def _geojson(geometry: shapely.Geometry) -> Any:
    return orjson.loads(shapely.to_geojson(shapely.set_precision(geometry, 1e-9)))


def _feature(geometry: Any, properties: dict[str, Any], feature_id: str | None = None) -> dict[str, Any]:
    feature: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": properties}
    if feature_id:
        feature["id"] = feature_id
    return feature


def floors_document(floors: Floors, building_id: str | None = None) -> dict[str, Any]:
    """The read_floors document of one building of `floors` (the first building when none is named)."""
    building = building_id or (floors.floors[0].building_id if floors.floors else "")
    storeys = sorted((f for f in floors.floors if f.building_id == building), key=lambda f: f.ordinal)
    connections = sorted((c for c in floors.connections if c.building_id == building), key=lambda c: (c.kind, c.id))
    collections = []
    for floor in storeys:
        area = abs(_GEOD.geometry_area_perimeter(floor.walkable)[0])
        features = [_feature(_geojson(floor.walkable), {"kind": "walkable", "source": floor.source,
                                                        "area": round(area, 3)})]
        features += [_feature(_geojson(s["geometry"]), {"kind": "space", "name": s.get("name"),
                                                        "long_name": s.get("long_name"), "area": s.get("area")},
                              s["id"]) for s in floor.spaces]
        for c in connections:
            if floor.storey_id not in (c.storey_id, c.to_storey_id):
                continue
            features.append(_feature(_geojson(c.geometry), {
                "kind": c.kind, "storey": c.storey_id, "to_storey": c.to_storey_id, "from_space": c.from_space,
                "to_space": c.to_space, "width": c.width, **c.attributes}, c.id))
        collections.append({"type": "FeatureCollection", "storey": floor.storey_id, "name": floor.name,
                            "ordinal": floor.ordinal, "elevation": floor.elevation, "height": floor.height,
                            "features": features})
    return {"building": building, "floors": collections}


def ifc_floors(path: str | Path, name: str = "drill") -> dict[str, Any]:
    """The floors document of the (first) building of the IFC file at `path`, ingested as dataset `name`."""
    with FeatureSpool() as spool:
        result = read_ifc(path, name, GeorefOptions(), spool)
    return floors_document(result.floors)
