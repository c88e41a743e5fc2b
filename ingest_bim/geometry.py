"""Element geometry from ifcopenshell's multicore iterator, streamed one product at a time.

Each shape arrives in world coordinates (model metres). It is georeferenced at once and split by surface style
into parts that carry their colour, so the tile writer can batch a building by material. Normals are flat (per
face, shared by the vertices of coplanar neighbours) and computed from the winding, so triangles and normals
always agree.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.geom
import numpy as np
from numpy.typing import NDArray

from ingest_bim.georef import Georef

NOT_DRAWN = ("IfcOpeningElement", "IfcOpeningStandardCase", "IfcVirtualElement", "IfcAnnotation",
             "IfcGrid", "IfcAlignment")
DEFAULT_RGBA = (0.8, 0.8, 0.78, 1.0)
GLASS_TINT = np.array([0.72, 0.82, 0.88])
Rgba = tuple[float, float, float, float]


@dataclass(frozen=True)
class Part:
    """The faces of one element that share a surface style: lon/lat/h vertices, ENU normals, CCW triangles."""

    rgba: Rgba
    positions: NDArray[np.float64]
    normals: NDArray[np.float32]
    triangles: NDArray[np.uint32]


@dataclass(frozen=True)
class ElementShape:
    """One product's georeferenced geometry, and its outline in model metres for footprints."""

    step_id: int
    guid: str
    ifc_class: str
    parts: list[Part]
    model_vertices: NDArray[np.float64]  # welded vertices, model metres (world coordinates)
    up_triangles: NDArray[np.float64]  # (K, 3, 2) model xy of upward faces (the element's plan)
    zmin: float
    zmax: float


def iterator_settings() -> ifcopenshell.geom.settings:
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("weld-vertices", True)
    settings.set("apply-default-materials", True)
    return settings


def make_iterator(model: ifcopenshell.file, cores: int | None = None) -> ifcopenshell.geom.iterator | None:
    """The multicore geometry iterator over every drawn product, or None when nothing has geometry."""
    iterator = ifcopenshell.geom.iterator(iterator_settings(), model, cores or multiprocessing.cpu_count(),
                                          exclude=list(NOT_DRAWN))
    return iterator if iterator.initialize() else None


def _rgba(material: object) -> Rgba:
    """A style's colour; transparent surfaces are drawn opaque, tinted toward the sky by their transparency."""
    try:
        diffuse = material.diffuse  # type: ignore[attr-defined]
        rgb = np.array([diffuse.r(), diffuse.g(), diffuse.b()], dtype=np.float64)
        transparency = float(material.transparency)  # type: ignore[attr-defined]
    except Exception:
        return DEFAULT_RGBA
    if not np.all(np.isfinite(rgb)):
        return DEFAULT_RGBA
    if not np.isfinite(transparency) or transparency <= 0:
        transparency = 0.0
    rgb = rgb * (1 - transparency) + GLASS_TINT * transparency
    return (round(float(rgb[0]), 2), round(float(rgb[1]), 2), round(float(rgb[2]), 2),
            round(1.0 - transparency, 2))


def _flat(vertices: NDArray[np.float64], faces: NDArray[np.int64]
          ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Drop degenerate faces; vertex index and flat normal per corner, shared where both agree.

    Returns (vertex of each output vertex, its normal, triangles into the output, kept faces, their normals).
    """
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    cross = np.cross(b - a, c - a)
    length = np.linalg.norm(cross, axis=1)
    keep = length > 1e-12
    faces, normals = faces[keep], cross[keep] / length[keep, None]
    corner_vertex = faces.reshape(-1)
    corner_normal = np.repeat(normals, 3, axis=0)
    # one int64 key per corner: the vertex and its normal quantized to 1/1000 (11 bits a component)
    code = (np.round(corner_normal * 1000).astype(np.int64) + 1024) & 0x7FF
    key = (corner_vertex << 33) | (code[:, 0] << 22) | (code[:, 1] << 11) | code[:, 2]
    unique, inverse = np.unique(key, return_inverse=True)
    first = np.zeros(len(unique), dtype=np.int64)
    first[inverse.reshape(-1)] = np.arange(len(key))
    return unique >> 33, corner_normal[first], inverse.reshape(-1, 3), faces, normals


def shape_of(shape: object, georef: Georef) -> ElementShape | None:
    """Convert one iterator result; None when it has no usable triangle."""
    geometry = shape.geometry  # type: ignore[attr-defined]
    vertices = np.frombuffer(geometry.verts_buffer, dtype=np.float64).reshape(-1, 3)
    faces = np.frombuffer(geometry.faces_buffer, dtype=np.int32).reshape(-1, 3).astype(np.int64)
    if not len(faces):
        return None
    material_ids = np.frombuffer(geometry.material_ids_buffer, dtype=np.int32)
    if len(material_ids) != len(faces):
        material_ids = np.zeros(len(faces), dtype=np.int32)
    colours = [_rgba(m) for m in geometry.materials] or [DEFAULT_RGBA]
    geodetic = georef.to_geodetic(vertices)
    parts: list[Part] = []
    up: list[NDArray[np.float64]] = []
    for material in np.unique(material_ids):
        chosen = faces[material_ids == material]
        corner_vertex, corner_normal, triangles, kept, face_normals = _flat(vertices, chosen)
        if not len(triangles):
            continue
        up.append(vertices[kept[face_normals[:, 2] > 0.3]][:, :, :2])
        rgba = colours[material] if 0 <= material < len(colours) else DEFAULT_RGBA
        parts.append(Part(rgba, geodetic[corner_vertex], georef.normals_to_enu(corner_normal),
                          triangles.astype(np.uint32)))
    if not parts:
        return None
    heights = geodetic[:, 2]
    return ElementShape(int(shape.id), str(shape.guid), str(shape.type), parts, vertices,  # type: ignore[attr-defined]
                        np.concatenate(up) if up else np.zeros((0, 3, 2)), float(heights.min()),
                        float(heights.max()))


def iterate_shapes(model: ifcopenshell.file, georef: Georef, cores: int | None = None) -> Iterator[ElementShape]:
    """Stream georeferenced element shapes as the iterator produces them."""
    iterator = make_iterator(model, cores)
    if iterator is None:
        return
    while True:
        converted = shape_of(iterator.get(), georef)
        if converted is not None:
            yield converted
        if not iterator.next():
            break
