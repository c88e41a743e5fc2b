"""Iterator shapes → georeferenced, colour-split meshes, many shapes at a time.

The iterator hands over raw buffers per shape; a few hundred of them are concatenated and processed with one
set of numpy calls: georeferencing, inside-out shells turned outward, degenerate faces dropped, flat normals
(shared by the corners of coplanar neighbours) and the split into parts, one per (shape, surface colour).
Vertices come out grouped by part, so each part is a slice of the batch's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ingest_bim.georef import Georef

Rgba = tuple[float, float, float, float]
DEFAULT_RGBA: Rgba = (0.8, 0.8, 0.78, 1.0)
UP_Z = 0.3  # a face whose unit normal has more z than this is part of the element's plan


@dataclass(frozen=True)
class RawShape:
    """One iterator result, copied out of the iterator: step id, GlobalId, class, buffers, colour per material."""

    step_id: int
    guid: str
    ifc_class: str
    vertices: bytes  # float64 xyz, model metres (world coordinates)
    faces: bytes  # int32 vertex triples
    material_ids: bytes  # int32 per face, index into `colours`
    colours: list[Rgba]


@dataclass(frozen=True)
class MeshBatch:
    """Shapes that kept at least one triangle, their parts, and what objects and floors need of them.

    Part `p` is shape `part_shape[p]` in colour `colours[part_colour[p]]`: vertices
    `vertex_start[p]:vertex_start[p + 1]`, triangles `triangle_start[p]:triangle_start[p + 1]`, indices local
    to the part.
    """

    shapes: list[RawShape]
    zmin: NDArray[np.float64]  # per shape, heights of its vertices
    zmax: NDArray[np.float64]
    model_vertices: list[NDArray[np.float64]]  # per shape, model metres
    up_faces: list[NDArray[np.float64]]  # per shape, (K, 3, 2) model xy of faces looking up
    colours: list[Rgba]
    part_shape: NDArray[np.int64]
    part_colour: NDArray[np.int64]
    vertex_start: NDArray[np.int64]
    triangle_start: NDArray[np.int64]
    positions: NDArray[np.float64]  # lon, lat, h
    normals: NDArray[np.float32]  # ENU
    triangles: NDArray[np.uint32]


def _split(values: NDArray[np.int64], count: int) -> NDArray[np.int64]:
    """Start offsets (count + 1 of them) of a sorted array of group numbers."""
    return np.searchsorted(values, np.arange(count + 1)).astype(np.int64)


def mesh_batch(raws: list[RawShape], georef: Georef) -> MeshBatch:
    """Process shapes (each with at least one face) in one go; shapes without a usable triangle are dropped."""
    vertex_counts = np.array([len(r.vertices) // 24 for r in raws], dtype=np.int64)
    face_counts = np.array([len(r.faces) // 12 for r in raws], dtype=np.int64)
    vertex_offset = np.concatenate([[0], np.cumsum(vertex_counts)])
    vertices = np.frombuffer(b"".join(r.vertices for r in raws), dtype=np.float64).reshape(-1, 3)
    face_shape = np.repeat(np.arange(len(raws)), face_counts)
    faces = np.frombuffer(b"".join(r.faces for r in raws), dtype=np.int32).reshape(-1, 3)
    faces = faces + vertex_offset[face_shape, None]

    # colour of every face: each shape's material table mapped into one table for the batch
    colour_index: dict[Rgba, int] = {}
    lookup: list[int] = []
    material_base = np.zeros(len(raws), dtype=np.int64)
    material_count = np.zeros(len(raws), dtype=np.int64)
    material_ids = []
    for i, raw in enumerate(raws):
        material_base[i], material_count[i] = len(lookup), len(raw.colours)
        lookup.extend(colour_index.setdefault(c, len(colour_index)) for c in raw.colours)
        ids = np.frombuffer(raw.material_ids, dtype=np.int32)
        material_ids.append(ids if len(ids) == face_counts[i] else np.zeros(face_counts[i], dtype=np.int32))
    local = np.concatenate(material_ids).astype(np.int64)
    valid = (local >= 0) & (local < material_count[face_shape])
    if not valid.all():  # no material, or an index past the table: the default colour
        lookup.append(colour_index.setdefault(DEFAULT_RGBA, len(colour_index)))
    table = np.asarray(lookup, dtype=np.int64)
    face_colour = table[np.where(valid, material_base[face_shape] + local, len(lookup) - 1)]
    colours = list(colour_index)

    # shells wound inward (a closed mesh with negative volume about its centre) are turned outward
    centre = np.add.reduceat(vertices, vertex_offset[:-1], axis=0) / np.maximum(vertex_counts, 1)[:, None]
    a, b, c = (vertices[faces[:, k]] - centre[face_shape] for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c))
    net = np.bincount(face_shape, volume, len(raws))
    gross = np.bincount(face_shape, np.abs(volume), len(raws))
    inward = net < -0.25 * gross
    if inward.any():
        flip = inward[face_shape]
        faces[flip] = faces[flip][:, [0, 2, 1]]

    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    cross = np.cross(b - a, c - a)
    length = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    keep = length > 1e-12
    group = face_shape * len(colours) + face_colour  # one part per (shape, colour)
    order = np.argsort(np.where(keep, group, -1), kind="stable")[np.count_nonzero(~keep):]
    faces, group, normals = faces[order], group[order], cross[order] / length[order, None]

    # corners that share a vertex, a part and (to 1/1000) a normal become one output vertex
    corner_vertex = faces.reshape(-1)
    corner_normal = np.repeat(normals, 3, axis=0)
    corner_group = np.repeat(group, 3)
    _, part_vertex = np.unique((corner_group << 32) | corner_vertex, return_inverse=True)
    code = (np.round(corner_normal * 1000).astype(np.int64) + 1024) & 0x7FF
    key = (part_vertex.reshape(-1) << 33) | (code[:, 0] << 22) | (code[:, 1] << 11) | code[:, 2]
    unique, inverse = np.unique(key, return_inverse=True)
    first = np.zeros(len(unique), dtype=np.int64)
    first[inverse.reshape(-1)] = np.arange(len(key))
    out_group = corner_group[first]

    parts, part_of_face = np.unique(group, return_inverse=True)
    vertex_start = np.searchsorted(out_group, np.append(parts, np.iinfo(np.int64).max)).astype(np.int64)
    triangle_start = np.searchsorted(group, np.append(parts, np.iinfo(np.int64).max)).astype(np.int64)
    triangles = (inverse.reshape(-1, 3) - vertex_start[part_of_face.reshape(-1), None]).astype(np.uint32)

    # per shape: heights, model vertices and the faces that look up; shapes without a triangle left are dropped
    geodetic = georef.to_geodetic(vertices)
    kept_shapes = np.unique(parts // len(colours))
    renumber = np.full(len(raws), -1, dtype=np.int64)
    renumber[kept_shapes] = np.arange(len(kept_shapes))
    heights = geodetic[:, 2]
    safe = np.minimum(vertex_offset[:-1], max(len(heights) - 1, 0))
    zmin, zmax = np.minimum.reduceat(heights, safe), np.maximum.reduceat(heights, safe)
    face_of_shape = group // len(colours)
    up = normals[:, 2] > UP_Z
    up_shape = face_of_shape[up]
    up_xy = vertices[faces[up]][:, :, :2]
    up_start = _split(up_shape, len(raws))
    return MeshBatch(
        shapes=[raws[i] for i in kept_shapes], zmin=zmin[kept_shapes], zmax=zmax[kept_shapes],
        model_vertices=[vertices[vertex_offset[i]:vertex_offset[i + 1]] for i in kept_shapes],
        up_faces=[up_xy[up_start[i]:up_start[i + 1]] for i in kept_shapes], colours=colours,
        part_shape=renumber[parts // len(colours)], part_colour=parts % len(colours),
        vertex_start=vertex_start, triangle_start=triangle_start,
        positions=geodetic[corner_vertex[first]], normals=georef.normals_to_enu(corner_normal[first]),
        triangles=triangles)
