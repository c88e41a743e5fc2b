"""IFC → twin object records + spooled mesh parts + walkable floors, streaming the geometry.

Object ids are `<dataset>.<GlobalId>` (GlobalIds are unique in a model, the prefix keeps them unique across
datasets); the GlobalId itself is an attribute and a tile property. Footprints are EPSG:4326: the plan of the
element's upward faces for spaces, slabs, walls, doors and stairs, the convex hull of its vertices otherwise;
spatial-structure objects without geometry of their own take the hull of what they contain, and products with
no geometry at all stand as a point at their placement origin.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ifcopenshell
import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from ingest_bim.geometry import mesh_batches
from ingest_bim.georef import Georef, GeorefOptions, read_georef
from ingest_bim.meshing import MeshBatch
from ingest_bim.model import NOT_DRAWN, OpenedModel, open_geometry
from ingest_bim.semantics import ProductInfo, Semantics
from ingest_bim.spool import FeatureSpool
from ingest_bim.tileset import layer_of
from ingest_bim.walkable import Element, Floors, walkable_floors
from ingest_gis.records import IngestError, ObjectRecord, ProgressCallback, no_progress


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


def _plan(up_faces: NDArray[np.float64]) -> BaseGeometry | None:
    """Union of the upward faces in model xy (the element seen from above)."""
    if not len(up_faces):
        return None
    polygons = shapely.polygons(np.concatenate([up_faces, up_faces[:, :1]], axis=1))
    polygons = polygons[shapely.area(polygons) > 1e-8]
    if not len(polygons):
        return None
    merged = shapely.union_all(polygons, grid_size=1e-4)
    return merged if not merged.is_empty else None


def _hulls(batch: MeshBatch) -> NDArray[np.object_]:
    """Convex hull of each shape's vertices in model xy, for all shapes of a batch at once."""
    if not batch.shapes:
        return np.empty(0, dtype=object)
    offsets = np.cumsum([0] + [len(v) for v in batch.model_vertices])
    points = np.ascontiguousarray(np.concatenate(batch.model_vertices)[:, :2])
    return shapely.convex_hull(shapely.from_ragged_array(shapely.GeometryType.MULTIPOINT, points, (offsets,)))


def _hull_of(outlines: list[BaseGeometry]) -> BaseGeometry:
    """Convex hull of many outlines: GEOS takes the hull of a collection directly (no multipoint is built)."""
    return shapely.convex_hull(shapely.GeometryCollection(outlines))


def _all_to_lonlat(geometries: list[BaseGeometry], georef: Georef) -> NDArray[np.object_]:
    """Model xy geometries → lon/lat, all coordinates converted in one call."""
    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return georef.to_geodetic(np.column_stack([xy, np.zeros(len(xy))]))[:, :2]

    return shapely.transform(np.asarray(geometries, dtype=object), convert)


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """A hull of fewer than three distinct points is a line or point; keep it, but never an empty geometry."""
    return geometry if not geometry.is_empty else Point(0, 0)


@dataclass
class _Drawn:
    """What the geometry pass leaves per drawn element (keyed by GlobalId)."""

    hulls: dict[str, BaseGeometry] = field(default_factory=dict)  # model xy convex hull
    footprints: dict[str, BaseGeometry] = field(default_factory=dict)  # model xy: the plan, else the hull
    lonlat: dict[str, BaseGeometry] = field(default_factory=dict)  # the footprint in lon/lat
    heights: dict[str, tuple[float, float]] = field(default_factory=dict)
    stair_vertices: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    step_ids: dict[str, int] = field(default_factory=dict)
    lo: NDArray[np.float64] = field(default_factory=lambda: np.full(3, np.inf))
    hi: NDArray[np.float64] = field(default_factory=lambda: np.full(3, -np.inf))


def _geometry_pass(batches: Iterator[MeshBatch], name: str, infos: dict[int, ProductInfo], georef: Georef,
                   spool: FeatureSpool, drawable: int, on_progress: ProgressCallback) -> _Drawn:
    """Spool every batch's parts as tile features and keep outlines, footprints and heights per element."""
    drawn = _Drawn()
    done = 0
    plans: dict[bytes, BaseGeometry | None] = {}  # by the faces' bytes: storeys repeat their walls, slabs, spaces
    for batch in batches:
        feature_ids, layers, properties, footprints = [], [], [], []
        for i, (shape, hull) in enumerate(zip(batch.shapes, _hulls(batch), strict=True)):
            info, guid = infos[shape.step_id], shape.guid
            feature_ids.append(f"{name}.{guid}")
            layers.append(layer_of(shape.ifc_class))
            properties.append({"GlobalId": guid, "class": shape.ifc_class, "storey": info.attributes.get("storey"),
                               "name": info.name, "storey_elevation": info.attributes.get("storey_elevation")})
            drawn.step_ids[guid] = shape.step_id
            drawn.hulls[guid] = hull
            drawn.heights[guid] = (float(batch.zmin[i]), float(batch.zmax[i]))
            footprint = hull
            if info.plan_class:
                key = batch.up_faces[i].tobytes()
                plan = plans[key] if key in plans else plans.setdefault(key, _plan(batch.up_faces[i]))
                footprint = plan if plan is not None else hull
                if info.stair_class:
                    drawn.stair_vertices[guid] = batch.model_vertices[i]
            footprints.append(footprint)
        drawn.footprints.update(zip((s.guid for s in batch.shapes), footprints, strict=True))
        drawn.lonlat.update(zip((s.guid for s in batch.shapes), _all_to_lonlat(footprints, georef), strict=True))
        spool.add_batch(batch, feature_ids, layers, properties)
        if len(batch.positions):
            drawn.lo = np.minimum(drawn.lo, batch.positions.min(axis=0))
            drawn.hi = np.maximum(drawn.hi, batch.positions.max(axis=0))
        done += len(batch.shapes)
        on_progress("geometry", min(done, drawable), drawable)
    return drawn


@dataclass
class IfcReading:
    """A model whose geometry is read and spooled; `finish` makes its objects and walkable floors."""

    path: Path
    name: str
    model: ifcopenshell.file
    georef: Georef
    semantics: Semantics
    products: Sequence[ifcopenshell.entity_instance]
    infos: dict[int, ProductInfo]
    drawn: _Drawn
    notes: list[str] = field(default_factory=list)  # from opening the file, first in the warnings

    def _containers(self) -> tuple[dict[str, list[BaseGeometry]], dict[str, list[float]]]:
        """Spatial containers and hosts gather their descendants' outlines and heights (elements grouped by their
        direct parent, so each chain of ancestors is walked once)."""
        by_parent: dict[int, list[str]] = defaultdict(list)
        parent, drawn = self.semantics.parent, self.drawn
        for guid, step_id in drawn.step_ids.items():
            node = parent.get(step_id)
            if node is not None:
                by_parent[node.id()].append(guid)
        gathered: dict[str, list[BaseGeometry]] = defaultdict(list)
        ranges: dict[str, list[float]] = {}
        for node_id, guids in by_parent.items():
            hulls = [drawn.hulls[g] for g in guids]
            lo = min(drawn.heights[g][0] for g in guids)
            hi = max(drawn.heights[g][1] for g in guids)
            node, depth = self.model.by_id(node_id), 0
            while node is not None and node.is_a("IfcProduct") and depth < 64:
                node_guid = node.GlobalId
                gathered[node_guid].extend(hulls)
                r = ranges.setdefault(node_guid, [lo, hi])
                r[0], r[1] = min(r[0], lo), max(r[1], hi)
                node, depth = parent.get(node.id()), depth + 1
        return gathered, ranges

    def finish(self) -> BimResult:
        """One object per product and the walkable floors."""
        georef, semantics, drawn = self.georef, self.semantics, self.drawn
        gathered, ranges = self._containers()
        undrawn: dict[str, BaseGeometry] = {}  # footprints of products without geometry of their own
        spans: list[tuple[float, float]] = []
        points: list[tuple[int, tuple[float, float, float]]] = []  # products standing at their placement origin
        for product in self.products:
            guid = self.infos[product.id()].guid
            if guid in drawn.heights:
                spans.append(drawn.heights[guid])
                continue
            if guid in gathered:
                undrawn[guid] = _hull_of(gathered[guid])
                spans.append((ranges[guid][0], ranges[guid][1]))
                continue
            at = semantics.placement_origin(product)
            undrawn[guid] = Point(at[0], at[1])
            points.append((len(spans), at))
            spans.append((0.0, 0.0))
        if points:  # their heights in one conversion
            heights = georef.to_geodetic(np.array([at for _, at in points]))[:, 2]
            for (index, _), height in zip(points, heights.tolist(), strict=True):
                spans[index] = (height, height)
        lonlat = dict(zip(undrawn, _all_to_lonlat(list(undrawn.values()), georef), strict=True))

        objects: list[ObjectRecord] = []
        elements: list[Element] = []
        for product, (zmin, zmax) in zip(self.products, spans, strict=True):
            info = self.infos[product.id()]
            guid = info.guid
            drawn_here = guid in drawn.footprints
            footprint = drawn.footprints[guid] if drawn_here else undrawn[guid]
            attributes = info.attributes
            if info.ifc_class == "IfcBuildingStorey":
                attributes = dict(attributes)
                origin = np.array([semantics.placement_origin(product)])
                attributes["height_above_ellipsoid"] = round(float(georef.to_geodetic(origin)[0, 2]), 4)
            geographic = drawn.lonlat[guid] if drawn_here else lonlat[guid]
            objects.append(ObjectRecord(f"{self.name}.{guid}", info.ifc_class, info.name, _polygonal(geographic),
                                        zmin, zmax, attributes, f"{self.name}.{info.parent}" if info.parent else None))
            elements.append(Element(guid, info.ifc_class, info.name, info.storey, footprint, zmin, zmax,
                                    attributes, drawn.stair_vertices.get(guid)))
        floors = walkable_floors(elements, self.model, semantics, georef, self.name)
        warnings = self.notes + list(georef.warnings) + floors.warnings
        return BimResult(objects, georef, str(self.model.schema), len(drawn.heights), (drawn.lo, drawn.hi), floors,
                         warnings)


def read_geometry(source: str | Path | OpenedModel, name: str, options: GeorefOptions, spool: FeatureSpool, *,
                  cores: int | None = None, on_progress: ProgressCallback = no_progress) -> IfcReading:
    """Stream the geometry of `source` (a path, or a model opened by `open_geometry`) into `spool`.

    IngestError for unusable input.
    """
    opened = source if isinstance(source, OpenedModel) else open_geometry(source, cores=cores)
    path, model = opened.path, opened.model
    georef = read_georef(model, options)
    products = model.by_type("IfcProduct")
    drawable = sum(1 for p in products if p.Representation is not None and p.is_a() not in NOT_DRAWN)
    if not drawable or opened.iterator is None:
        raise IngestError(f"{path.name} has no product with geometry")
    semantics = Semantics(model)
    infos = {product.id(): semantics.describe(product) for product in products}
    drawn = _geometry_pass(mesh_batches(opened.iterator, georef), name, infos, georef, spool, drawable, on_progress)
    opened.close(in_background=True)  # drained: its geometry is freed while the tiles and objects are made
    if not drawn.heights:
        raise IngestError(f"{path.name} has no product whose geometry could be triangulated")
    return IfcReading(path, name, model, georef, semantics, products, infos, drawn, opened.notes)


def read_ifc(path: str | Path, name: str, options: GeorefOptions, spool: FeatureSpool, *,
             cores: int | None = None, on_progress: ProgressCallback = no_progress) -> BimResult:
    """Read `path`: mesh parts go to `spool` as the iterator yields them, then objects and floors are made."""
    return read_geometry(path, name, options, spool, cores=cores, on_progress=on_progress).finish()


def describe_georef(result: BimResult) -> dict[str, Any]:
    return result.georef.summary()
