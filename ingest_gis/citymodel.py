"""City models as both readers deliver them (objects over shared surfaces), turned into twin objects and features.

Each object becomes a twin object `<dataset>.<source id>` of kind `building`, `building_part`, `road` … (the
city-model type in snake case) with its attributes, `parent_id` from its parent (a BuildingPart's building), a
footprint (the union of its downward-facing surfaces seen from above, or its upward-facing ones for open
surfaces such as roads) in EPSG:4326, and its height range. A parent's footprint and height range also cover its
children, so a building is found wherever any of its parts is.

Each object with surfaces also becomes one tile feature (`name`, `height` — measured if given, else its extent —,
`lod`, `type`) whose mesh is coloured per vertex: buildings (and their parts, rooms …) as `roof`, `wall` and
`ground` by their surface semantics (a surface without semantics by its orientation: up, down or sideways),
other city objects by theme (`vegetation`, `water`, `transport`, `terrain`, `other`); see `LAYER_COLORS`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ingest_gis.citycrs import SourceCrs
from ingest_gis.records import IngestError, IngestResult, ObjectRecord, ProgressCallback
from ingest_gis.surfaces import Surfaces, inside_out_shells, triangulate
from tiles.geodesy import geodetic_to_ecef
from tiles.model import Feature, Mesh

LAYERS = ("roof", "wall", "ground", "vegetation", "water", "transport", "terrain", "other")
THEMES = {"PlantCover": "vegetation", "SolitaryVegetationObject": "vegetation", "WaterBody": "water",
          "Road": "transport", "Railway": "transport", "TransportSquare": "transport", "Waterway": "transport",
          "Bridge": "transport", "BridgePart": "transport", "BridgeInstallation": "transport",
          "BridgeConstructiveElement": "transport", "TINRelief": "terrain", "LandUse": "terrain"}
SEMANTIC_LAYERS = {"RoofSurface": "roof", "GroundSurface": "ground"}  # other semantic surfaces are walls
LAYER_COLORS = {"roof": (199, 92, 69, 255), "wall": (237, 232, 219, 255), "ground": (107, 102, 97, 255),
                "vegetation": (107, 168, 84, 255), "water": (82, 140, 217, 255), "transport": (158, 158, 163, 255),
                "terrain": (214, 204, 163, 255), "other": (189, 184, 199, 255)}
FACING = 0.1  # |up component| of a normal above which a surface without semantics is a roof or a ground
FOOTPRINT_FACING = 0.05
SNAP = 1e-9  # degrees
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def kind_of(city_type: str) -> str:
    """`BuildingPart` → `building_part`, `TINRelief` → `tin_relief`, `+NoiseBarrier` → `noise_barrier`."""
    return _CAMEL.sub("_", city_type.lstrip("+")).lower()


def is_building(city_type: str) -> bool:
    return city_type.lstrip("+").startswith("Building")


@dataclass
class CityObject:
    """One city object: its surfaces are `first_surface:stop_surface` of the model."""

    key: str
    type: str
    attributes: dict[str, Any]
    name: str | None = None
    parent: str | None = None
    lod: str | None = None
    first_surface: int = 0
    stop_surface: int = 0
    measured_height: float | None = None


@dataclass
class CityModel:
    """Vertices in the source CRS, surfaces over them, per-surface semantic type and shell (−1: none)."""

    vertices: NDArray[np.float64]
    surfaces: Surfaces
    semantic: list[str | None]
    shell: NDArray[np.int64]
    objects: list[CityObject]


@dataclass
class CityIngestResult(IngestResult):
    """An `IngestResult` with what the dataset summary says about the city model."""

    summary: dict[str, Any] = field(default_factory=dict)


def object_keys(keys: Sequence[str]) -> list[str]:
    """Source ids made safe for twin ids, unique (a clash gets `-2`, `-3` …)."""
    seen: set[str] = set()
    out = []
    for i, key in enumerate(keys):
        safe = _KEY_UNSAFE.sub("-", key).strip("-") or f"o{i}"
        candidate, n = safe, 1
        while candidate in seen:
            n += 1
            candidate = f"{safe}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _surface_layers(model: CityModel, surface_object: NDArray[np.int64], up: NDArray[np.float64]) -> NDArray:
    """Layer index (into LAYERS) of every surface."""
    by_facing = np.where(up > FACING, 0, np.where(up < -FACING, 2, 1))
    semantic = np.array([LAYERS.index(SEMANTIC_LAYERS.get(s, "wall")) if s else -1 for s in model.semantic],
                        dtype=np.int64)
    building_layers = np.where(semantic >= 0, semantic, by_facing)
    object_theme = np.array([-1 if is_building(o.type) else LAYERS.index(THEMES.get(o.type.lstrip("+"), "other"))
                             for o in model.objects], dtype=np.int64)
    theme = object_theme[surface_object] if len(surface_object) else np.zeros(0, np.int64)
    return np.where(theme >= 0, theme, building_layers)


def _footprint(polygons: list[Polygon]) -> BaseGeometry | None:
    if not polygons:
        return None
    # snapped to 1e-9° (≈0.1 mm), so that parts meeting along an edge merge without slivers
    shape: BaseGeometry = polygons[0] if len(polygons) == 1 else shapely.union_all(polygons, grid_size=SNAP)
    if not shape.is_valid:
        shape = shapely.make_valid(shape)
    parts = [p for p in getattr(shape, "geoms", [shape]) if isinstance(p, Polygon) and p.area > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def assemble(model: CityModel, dataset: str, crs: SourceCrs, warnings: list[str],
             on_progress: ProgressCallback) -> tuple[list[ObjectRecord], list[Feature], dict[str, Any]]:
    """Twin objects and layer features of a city model (see the module docstring)."""
    vertices, surfaces = model.vertices, model.surfaces
    if len(surfaces.corner_vertex) and (surfaces.corner_vertex.min() < 0
                                        or surfaces.corner_vertex.max() >= len(vertices)):
        raise IngestError("a surface refers to a vertex that does not exist")
    if not np.isfinite(vertices).all():
        raise IngestError("some vertex coordinates are not finite numbers")
    lon, lat = crs.to_lonlat(vertices[:, 0], vertices[:, 1]) if len(vertices) else (np.zeros(0), np.zeros(0))
    height = vertices[:, 2].copy()
    used = np.unique(surfaces.corner_vertex)
    if len(used) and not (np.isfinite(lon[used]).all() and np.abs(lon[used]).max() <= 180
                          and np.abs(lat[used]).max() <= 90):
        raise IngestError(f"coordinates fall outside the Earth in {crs.name}: the CRS is wrong; pass --crs EPSG")
    on_progress("mesh", 0, 1)
    ecef = geodetic_to_ecef(lon, lat, height)
    triangulation = triangulate(ecef, surfaces)
    inverted = inside_out_shells(ecef, surfaces, triangulation, model.shell)
    if inverted.any():
        triangulation = triangulation.flip((model.shell >= 0) & inverted[np.maximum(model.shell, 0)])
        warnings.append(f"{int(inverted.sum())} solids had their surfaces wound inwards and were turned outwards")
    on_progress("mesh", 1, 1)

    n_surfaces, n_objects = surfaces.count, len(model.objects)
    ring_count = np.diff(surfaces.ring_start)
    surface_corners = np.add.reduceat(ring_count, surfaces.surface_ring[:-1]) if n_surfaces else ring_count[:0]
    corner_start = surfaces.ring_start[surfaces.surface_ring]
    corner_surface = np.repeat(np.arange(n_surfaces), surface_corners)
    corner_vertex = surfaces.corner_vertex
    surface_object = np.repeat(np.arange(n_objects), [o.stop_surface - o.first_surface for o in model.objects])
    if len(surface_object) != n_surfaces:
        raise ValueError("objects must cover the surfaces in order")
    has_triangles = np.zeros(n_surfaces, dtype=bool)
    has_triangles[triangulation.triangle_surface] = True
    degenerate = n_surfaces - int(has_triangles.sum())
    if degenerate:
        warnings.append(f"{degenerate} degenerate surfaces (no area) were left out")

    # per-surface and per-corner normals in east-north-up terms
    first = corner_vertex[corner_start[:-1]] if n_surfaces else np.zeros(0, np.int64)
    lam, phi = np.radians(lon), np.radians(lat)
    normals = triangulation.normals
    up_axis = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    up = np.einsum("ij,ij->i", normals, up_axis[first])
    n = normals[corner_surface]
    cl, sl, cp, sp = (np.cos(lam)[corner_vertex], np.sin(lam)[corner_vertex], np.cos(phi)[corner_vertex],
                      np.sin(phi)[corner_vertex])
    corner_normals = np.column_stack([-sl * n[:, 0] + cl * n[:, 1],
                                      -sp * cl * n[:, 0] - sp * sl * n[:, 1] + cp * n[:, 2],
                                      cp * cl * n[:, 0] + cp * sl * n[:, 1] + sp * n[:, 2]]).astype(np.float32)
    layer = _surface_layers(model, surface_object, up)

    # footprints and height ranges per object
    zmin, zmax = np.full(n_objects, np.inf), np.full(n_objects, -np.inf)
    corner_object = surface_object[corner_surface]
    live = has_triangles[corner_surface]
    np.minimum.at(zmin, corner_object[live], height[corner_vertex[live]])
    np.maximum.at(zmax, corner_object[live], height[corner_vertex[live]])
    footprints = _footprints(model, surface_object, has_triangles, up, corner_surface, lon, lat, on_progress)

    # parents cover their children; objects without geometry anywhere below them are left out
    index = {o.key: i for i, o in enumerate(model.objects)}
    parent = [index.get(o.parent, -1) if o.parent else -1 for o in model.objects]

    def depth(i: int) -> int:
        d, seen = 0, {i}
        while parent[i] >= 0 and parent[i] not in seen:
            i = parent[i]
            seen.add(i)
            d += 1
        return d

    gathered: dict[int, list[BaseGeometry]] = {}
    for i in sorted(range(n_objects), key=depth, reverse=True):
        own = [footprints[i]] if footprints[i] is not None else []
        parts = own + gathered.pop(i, [])
        if len(parts) > 1:
            footprints[i] = _footprint([p for g in parts for p in getattr(g, "geoms", [g])])
        elif parts:
            footprints[i] = parts[0]
        if parent[i] >= 0 and footprints[i] is not None:
            gathered.setdefault(parent[i], []).append(footprints[i])
            zmin[parent[i]] = min(zmin[parent[i]], zmin[i])
            zmax[parent[i]] = max(zmax[parent[i]], zmax[i])

    keys = object_keys([o.key for o in model.objects])
    kept = [i for i in range(n_objects) if footprints[i] is not None]
    skipped = Counter(model.objects[i].type for i in range(n_objects) if footprints[i] is None)
    if skipped:
        warnings.append("left out for lack of usable geometry: " + ", ".join(f"{n} {t}" for t, n in
                                                                             sorted(skipped.items())))
    kept_set = set(kept)
    objects = []
    heights: dict[int, float] = {}
    for i in kept:
        o = model.objects[i]
        heights[i] = round(o.measured_height if o.measured_height is not None else float(zmax[i] - zmin[i]), 3)
        parent_id = f"{dataset}.{keys[parent[i]]}" if parent[i] in kept_set else None
        objects.append(ObjectRecord(f"{dataset}.{keys[i]}", kind_of(o.type), o.name, footprints[i],
                                    float(zmin[i]), float(zmax[i]), o.attributes, parent_id))

    features = _object_features(model, dataset, keys, triangulation, surface_object, layer, corner_surface,
                                np.column_stack([lon, lat, height])[corner_vertex], corner_normals, heights)
    drawn = Counter(layer[has_triangles].tolist())
    summary = {"types": dict(sorted(Counter(model.objects[i].type for i in kept).items())),
               "surfaces": {name: drawn[k] for k, name in enumerate(LAYERS) if drawn[k]},
               "triangles": len(triangulation.triangles)}
    return objects, features, summary


def _footprints(model: CityModel, surface_object: NDArray, has_triangles: NDArray, up: NDArray,
                corner_surface: NDArray, lon: NDArray, lat: NDArray,
                on_progress: ProgressCallback) -> list[BaseGeometry | None]:
    """Each object's outline seen from above: its downward-facing surfaces, else its upward-facing ones (open
    surfaces such as roads), else the hull of its vertical ones (a wall, a fence); None without surfaces."""
    surfaces, n_objects = model.surfaces, len(model.objects)
    down = has_triangles & (up < -FOOTPRINT_FACING)
    upward = has_triangles & (up > FOOTPRINT_FACING)
    has_down = np.bincount(surface_object[down], minlength=n_objects) > 0
    chosen = np.flatnonzero(np.where(has_down[surface_object], down, upward))
    polygons = np.empty(len(chosen), dtype=object)
    ring_count = np.diff(surfaces.surface_ring)[chosen]
    simple = np.flatnonzero(ring_count == 1)  # one ring: all built by shapely at once
    exterior = surfaces.surface_ring[chosen[simple]]
    starts, stops = surfaces.ring_start[exterior], surfaces.ring_start[exterior + 1]
    counts = stops - starts
    corners = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    vertex = surfaces.corner_vertex[corners]
    rings = shapely.linearrings(np.column_stack([lon[vertex], lat[vertex]]),
                                indices=np.repeat(np.arange(len(simple)), counts))
    polygons[simple] = shapely.polygons(rings)
    for k in np.flatnonzero(ring_count > 1).tolist():  # with holes
        s = int(chosen[k])
        xy = [np.column_stack([lon[r], lat[r]]) for r in
              (surfaces.corner_vertex[surfaces.ring_start[r]:surfaces.ring_start[r + 1]]
               for r in range(surfaces.surface_ring[s], surfaces.surface_ring[s + 1]))]
        polygons[k] = Polygon(xy[0], xy[1:])
    owner = surface_object[chosen]
    first, last = np.searchsorted(owner, np.arange(n_objects)), np.searchsorted(owner, np.arange(n_objects), "right")
    drawn = np.bincount(surface_object[has_triangles], minlength=n_objects) > 0
    footprints: list[BaseGeometry | None] = []
    for i in range(n_objects):
        shape = _footprint(list(polygons[first[i]:last[i]]))
        if shape is None and drawn[i]:
            span = np.flatnonzero(has_triangles[model.objects[i].first_surface:model.objects[i].stop_surface])
            idx = surfaces.corner_vertex[np.isin(corner_surface, span + model.objects[i].first_surface)]
            shape = shapely.convex_hull(shapely.multipoints(np.column_stack([lon[idx], lat[idx]])))
            if not isinstance(shape, Polygon) or shape.area == 0:
                shape = shape.buffer(1e-6)
        footprints.append(shape)
        if i % 5000 == 4999 or i == n_objects - 1:
            on_progress("objects", i + 1, n_objects)
    return footprints


def _object_features(model: CityModel, dataset: str, keys: list[str], triangulation: Any,
                     surface_object: NDArray, layer: NDArray, corner_surface: NDArray, positions: NDArray,
                     normals: NDArray, heights: dict[int, float]) -> list[Feature]:
    """One vertex-coloured mesh per object: views into arrays laid out object by object."""
    has_triangles = np.zeros(len(surface_object), dtype=bool)
    has_triangles[triangulation.triangle_surface] = True
    corner_object = np.where(has_triangles[corner_surface], surface_object[corner_surface], -1)
    corner_order = np.argsort(corner_object, kind="stable")
    corner_order = corner_order[corner_object[corner_order] >= 0]
    rank = np.full(len(corner_object), -1, dtype=np.int64)
    rank[corner_order] = np.arange(len(corner_order))
    drawn, corner_start = np.unique(corner_object[corner_order], return_index=True)
    corner_stop = np.append(corner_start[1:], len(corner_order))
    triangle_object = surface_object[triangulation.triangle_surface]
    triangle_order = np.argsort(triangle_object, kind="stable")
    triangles = rank[triangulation.triangles[triangle_order]]
    triangle_start = np.searchsorted(triangle_object[triangle_order], drawn)
    triangle_stop = np.append(triangle_start[1:], len(triangles))
    triangles = (triangles - np.repeat(corner_start, triangle_stop - triangle_start)[:, None]).astype(np.uint32)
    palette = np.array([LAYER_COLORS[name] for name in LAYERS], dtype=np.uint8)
    colors = palette[layer[corner_surface[corner_order]]]
    positions, normals = positions[corner_order], normals[corner_order]
    features = []
    for i, c0, c1, t0, t1 in zip(drawn.tolist(), corner_start.tolist(), corner_stop.tolist(),
                                 triangle_start.tolist(), triangle_stop.tolist(), strict=True):
        o = model.objects[i]
        mesh = Mesh(positions[c0:c1], normals[c0:c1], triangles[t0:t1], colors[c0:c1])
        features.append(Feature(f"{dataset}.{keys[i]}", mesh, {
            "name": o.name, "height": heights.get(i), "lod": o.lod, "type": o.type.lstrip("+")}))
    return features
