"""An IFC file → the floors document `twin.buildings.read_floors` serves, without a database: the IFC ingest's
walkable analysis run on the file, its storeys and connections handed to the same `floors_document` that lays out
what read_floors reads back (walkable first, then spaces, then every connection touching the storey, ordered by
kind and id)."""

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
from twin.buildings import floors_document as layout

_GEOD = Geod(ellps="WGS84")


def _geojson(geometry: shapely.Geometry) -> Any:
    return orjson.loads(shapely.to_geojson(shapely.set_precision(geometry, 1e-9)))


def floors_document(floors: Floors, building_id: str | None = None) -> dict[str, Any]:
    """The read_floors document of one building of `floors` (the first building when none is named)."""
    building = building_id or (floors.floors[0].building_id if floors.floors else "")
    storeys = [{"storey_id": f.storey_id, "name": f.name, "ordinal": f.ordinal, "elevation": f.elevation,
                "height": f.height, "source": f.source, "walkable": _geojson(f.walkable),
                "area": abs(_GEOD.geometry_area_perimeter(f.walkable)[0]),
                "spaces": [{**s, "geometry": _geojson(s["geometry"])} for s in f.spaces]}
               for f in sorted((f for f in floors.floors if f.building_id == building), key=lambda f: f.ordinal)]
    connections = [{"id": c.id, "kind": c.kind, "storey_id": c.storey_id, "to_storey_id": c.to_storey_id,
                    "from_space": c.from_space, "to_space": c.to_space, "width": c.width,
                    "attributes": c.attributes, "geometry": _geojson(c.geometry)}
                   for c in sorted((c for c in floors.connections if c.building_id == building),
                                   key=lambda c: (c.kind, c.id))]
    return layout(building, storeys, connections)


def ifc_floors(path: str | Path, name: str = "drill") -> dict[str, Any]:
    """The floors document of the (first) building of the IFC file at `path`, ingested as dataset `name`."""
    with FeatureSpool() as spool:
        result = read_ifc(path, name, GeorefOptions(), spool)
    return floors_document(result.floors)
