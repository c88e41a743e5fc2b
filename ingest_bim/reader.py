"""IFC → twin object records + spooled mesh parts + walkable floors, streaming the geometry.

Object ids are `<dataset>.<GlobalId>` (GlobalIds are unique in a model, the prefix keeps them unique across
datasets); the GlobalId itself is an attribute and a tile property. Footprints are EPSG:4326: the plan of the
element's upward faces for spaces, slabs, walls, doors and stairs, the convex hull of its vertices otherwise;
spatial-structure objects without geometry of their own take the hull of what they contain, and products with
no geometry at all stand as a point at their placement origin.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ingest_bim.geometry import NOT_DRAWN, ElementShape, iterate_shapes
from ingest_bim.georef import Georef, GeorefOptions, read_georef
from ingest_bim.model import open_model
from ingest_bim.semantics import Semantics
from ingest_bim.spool import FeatureSpool
from ingest_bim.tileset import layer_of
from ingest_bim.walkable import Element, Floors, walkable_floors
from ingest_gis.records import IngestError, ObjectRecord, ProgressCallback, no_progress

PLAN_CLASSES = ("IfcSpace", "IfcSlab", "IfcWall", "IfcDoor", "IfcStair", "IfcStairFlight", "IfcRamp",
                "IfcRampFlight", "IfcCovering")


@dataclass
class BimResult:
    """What one IFC ingest produced before tiling and storage."""

    objects: list[ObjectRecord]
    georef: Georef
    schema: str
    drawn: int  # products with geometry in the tiles
    extent: tuple[NDArray[np.float64], NDArray[np.float64]]  # lon/lat/h min and max of all vertices
    floors: Floors
    warnings: list[str] = field(default_factory=list)

    @property
    def source_crs(self) -> str:
        return self.georef.crs


def _plan(shape: ElementShape) -> Polygon | None:
    """Union of the upward faces in model xy (the element seen from above)."""
    tri = shape.up_triangles
    if not len(tri):
        return None
    polygons = shapely.polygons(np.concatenate([tri, tri[:, :1]], axis=1))
    polygons = polygons[shapely.area(polygons) > 1e-8]
    if not len(polygons):
        return None
    merged = shapely.union_all(polygons, grid_size=1e-4)
    return merged if not merged.is_empty else None


def _hull(points: NDArray[np.float64]) -> BaseGeometry:
    return MultiPoint(points[:, :2]).convex_hull


def _to_lonlat(geometry: BaseGeometry, georef: Georef) -> BaseGeometry:
    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        xyz = np.column_stack([xy, np.zeros(len(xy))])
        return georef.to_geodetic(xyz)[:, :2]

    return shapely.transform(geometry, convert)


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """A hull of fewer than three distinct points is a line or point; keep it, but never an empty geometry."""
    return geometry if not geometry.is_empty else Point(0, 0)


def read_ifc(path: str | Path, name: str, options: GeorefOptions, spool: FeatureSpool, *,
             cores: int | None = None, on_progress: ProgressCallback = no_progress) -> BimResult:
    """Read `path`; mesh parts go to `spool` as the iterator yields them. IngestError for unusable input."""
    path = Path(path)
    model = open_model(path)
    georef = read_georef(model, options)
    semantics = Semantics(model)
    products = model.by_type("IfcProduct")
    drawable = sum(1 for p in products if p.Representation is not None and p.is_a() not in NOT_DRAWN)
    if not drawable:
        raise IngestError(f"{path.name} has no product with geometry")

    hulls: dict[str, NDArray[np.float64]] = {}  # model xy points of each element's convex hull
    plans: dict[str, BaseGeometry] = {}
    heights: dict[str, tuple[float, float]] = {}
    extent_lo, extent_hi = np.full(3, np.inf), np.full(3, -np.inf)
    infos = {}
    step_ids: dict[str, int] = {}
    stair_vertices: dict[str, NDArray[np.float64]] = {}
    for done, shape in enumerate(iterate_shapes(model, georef, cores), start=1):
        product = model.by_id(shape.step_id)
        info = semantics.describe(product)
        infos[shape.guid] = info
        step_ids[shape.guid] = shape.step_id
        feature_id = f"{name}.{shape.guid}"
        storey_name = info.attributes.get("storey")
        properties: dict[str, str | float | int | None] = {
            "GlobalId": shape.guid, "class": shape.ifc_class, "storey": storey_name, "name": info.name,
            "storey_elevation": info.attributes.get("storey_elevation")}
        layer = layer_of(shape.ifc_class)
        for part in shape.parts:
            spool.add(layer, feature_id, properties, part)
            extent_lo = np.minimum(extent_lo, part.positions.min(axis=0))
            extent_hi = np.maximum(extent_hi, part.positions.max(axis=0))
        hull = _hull(shape.model_vertices)
        hulls[shape.guid] = np.asarray(hull.exterior.coords if isinstance(hull, Polygon) else hull.coords)
        if product.is_a() in PLAN_CLASSES or any(product.is_a(c) for c in PLAN_CLASSES):
            plan = _plan(shape)
            plans[shape.guid] = plan if plan is not None else hull
            if product.is_a("IfcStair") or product.is_a("IfcStairFlight") or product.is_a("IfcRamp"):
                stair_vertices[shape.guid] = shape.model_vertices
        heights[shape.guid] = (shape.zmin, shape.zmax)
        on_progress("geometry", done, drawable)
    drawn = len(heights)
    if not drawn:
        raise IngestError(f"{path.name} has no product whose geometry could be triangulated")

    # spatial containers and hosts gather their descendants' outlines and heights
    gathered: dict[str, list[NDArray[np.float64]]] = defaultdict(list)
    ranges: dict[str, list[float]] = {}
    for guid, points in hulls.items():
        node = semantics.parent.get(step_ids[guid])
        depth = 0
        while node is not None and node.is_a("IfcProduct") and depth < 64:
            gathered[node.GlobalId].append(points)
            lo, hi = heights[guid]
            r = ranges.setdefault(node.GlobalId, [lo, hi])
            r[0], r[1] = min(r[0], lo), max(r[1], hi)
            node, depth = semantics.parent.get(node.id()), depth + 1

    objects: list[ObjectRecord] = []
    elements: list[Element] = []
    for product in products:
        guid = product.GlobalId
        info = infos.get(guid) or semantics.describe(product)
        footprint: BaseGeometry
        if guid in plans:
            footprint = plans[guid]
        elif guid in hulls:
            footprint = _hull(hulls[guid])
        elif guid in gathered:
            footprint = _hull(np.concatenate(gathered[guid]))
        else:
            x, y, z = semantics.placement_origin(product)
            footprint = Point(x, y)
        if guid in heights:
            zmin, zmax = heights[guid]
        elif guid in ranges:
            zmin, zmax = ranges[guid]
        else:
            x, y, z = semantics.placement_origin(product)
            zmin = zmax = float(georef.to_geodetic(np.array([[x, y, z]]))[0, 2])
        attributes = dict(info.attributes)
        if product.is_a("IfcBuildingStorey"):
            x, y, z = semantics.placement_origin(product)
            attributes["height_above_ellipsoid"] = round(float(georef.to_geodetic(np.array([[x, y, z]]))[0, 2]), 4)
        objects.append(ObjectRecord(f"{name}.{guid}", info.ifc_class, info.name,
                                    _polygonal(_to_lonlat(footprint, georef)), zmin, zmax, attributes,
                                    f"{name}.{info.parent}" if info.parent else None))
        elements.append(Element(guid, info.ifc_class, info.name, info.storey, footprint, zmin, zmax,
                                attributes, stair_vertices.get(guid)))
    floors = walkable_floors(elements, model, semantics, georef, name)
    warnings = list(georef.warnings) + floors.warnings
    return BimResult(objects, georef, str(model.schema), drawn, (extent_lo, extent_hi), floors, warnings)


def describe_georef(result: BimResult) -> dict[str, Any]:
    return result.georef.summary()
