"""Walkable floors of ingested buildings: stored with their dataset, read back as GeoJSON per storey."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import shapely
from sqlalchemy import Connection, Engine, text

from ingest_bim.walkable import Floors
from twin.repository import NotFound


def _ewkb(geometry: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)


def _geojson(geometry: shapely.Geometry) -> Any:
    return orjson.loads(shapely.to_geojson(shapely.set_precision(geometry, 1e-9)))


def write_floors(conn: Connection, dataset_id: str, floors: Floors) -> None:
    """Insert a dataset's floors and connections (inside the dataset's transaction), each table in one batch."""
    if floors.floors:
        conn.execute(
            text("INSERT INTO building_floors (storey_id, dataset_id, building_id, name, ordinal, elevation, height,"
                 " source, walkable, spaces) VALUES (:storey, :dataset, :building, :name, :ordinal, :elevation,"
                 " :height, :source, ST_GeomFromEWKB(decode(:walkable, 'hex')), CAST(:spaces AS jsonb))"),
            [{"storey": f.storey_id, "dataset": dataset_id, "building": f.building_id, "name": f.name,
              "ordinal": f.ordinal, "elevation": f.elevation, "height": f.height, "source": f.source,
              "walkable": _ewkb(f.walkable),
              "spaces": orjson.dumps([{**s, "geometry": _geojson(s["geometry"])} for s in f.spaces]).decode()}
             for f in floors.floors],
        )
    if floors.connections:
        conn.execute(
            text("INSERT INTO building_connections (id, dataset_id, building_id, kind, storey_id, to_storey_id,"
                 " from_space, to_space, width, geometry, attributes) VALUES (:id, :dataset, :building, :kind,"
                 " :storey, :to_storey, :from_space, :to_space, :width, ST_GeomFromEWKB(decode(:geometry, 'hex')),"
                 " CAST(:attributes AS jsonb))"),
            [{"id": c.id, "dataset": dataset_id, "building": c.building_id, "kind": c.kind, "storey": c.storey_id,
              "to_storey": c.to_storey_id, "from_space": c.from_space, "to_space": c.to_space, "width": c.width,
              "geometry": _ewkb(c.geometry), "attributes": orjson.dumps(c.attributes).decode()}
             for c in floors.connections],
        )


def _feature(geometry: Any, properties: dict[str, Any], feature_id: str | None = None) -> dict[str, Any]:
    feature: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": properties}
    if feature_id:
        feature["id"] = feature_id
    return feature


def read_floors(engine: Engine, building_id: str) -> dict[str, Any]:
    """Per storey a GeoJSON FeatureCollection: walkable area, spaces, doors, exits and stairs touching it."""
    with engine.connect() as conn:
        floors = conn.execute(
            text("SELECT storey_id, name, ordinal, elevation, height, source, spaces, "
                 "ST_AsGeoJSON(walkable, 9)::json AS walkable, ST_Area(walkable::geography) AS area "
                 "FROM building_floors WHERE building_id = :b ORDER BY ordinal"),
            {"b": building_id},
        ).mappings().all()
        connections = conn.execute(
            text("SELECT id, kind, storey_id, to_storey_id, from_space, to_space, width, attributes, "
                 "ST_AsGeoJSON(geometry, 9)::json AS geometry FROM building_connections WHERE building_id = :b "
                 "ORDER BY kind, id"),
            {"b": building_id},
        ).mappings().all()
    if not floors:
        raise NotFound(f"no walkable floors for building {building_id!r} (is it an IFC IfcBuilding object id?)")
    return floors_document(building_id, floors, connections)


def floors_document(building_id: str, floors: Iterable[Mapping[Any, Any]],
                    connections: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """The floors document from the building's storeys (in order; each with storey_id, name, ordinal, elevation,
    height, source, spaces, walkable as GeoJSON and its area in m²) and connections (ordered by kind and id; each
    with id, kind, storey_id, to_storey_id, from_space, to_space, width, attributes, geometry as GeoJSON): per
    storey a FeatureCollection of its walkable area, its spaces and every connection touching it."""
    connections = list(connections)
    collections = []
    for floor in floors:
        storey = floor["storey_id"]
        features = [_feature(floor["walkable"], {"kind": "walkable", "source": floor["source"],
                                                 "area": round(float(floor["area"]), 3)})]
        features += [_feature(s["geometry"], {"kind": "space", "name": s.get("name"),
                                              "long_name": s.get("long_name"), "area": s.get("area")}, s["id"])
                     for s in floor["spaces"]]
        for c in connections:
            if storey not in (c["storey_id"], c["to_storey_id"]):
                continue
            features.append(_feature(c["geometry"], {
                "kind": c["kind"], "storey": c["storey_id"], "to_storey": c["to_storey_id"],
                "from_space": c["from_space"], "to_space": c["to_space"], "width": c["width"], **c["attributes"]},
                c["id"]))
        collections.append({"type": "FeatureCollection", "storey": storey, "name": floor["name"],
                            "ordinal": floor["ordinal"], "elevation": floor["elevation"],
                            "height": floor["height"], "features": features})
    return {"building": building_id, "floors": collections}
