"""Element geometry from ifcopenshell's multicore iterator, streamed in batches of shapes.

The iterator (`ingest_bim.model.make_iterator`) computes shapes on its own threads as soon as it is initialised,
so the caller can start it, do
other work (reading the model's semantics) and then drain it. Each shape arrives in world coordinates (model
metres); its buffers are copied out with one colour per material and handed on in batches of a few hundred
shapes to `meshing.mesh_batch`, which georeferences them and splits them by surface colour. Only one batch of
meshes is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import ifcopenshell.geom
import numpy as np

from ingest_bim.georef import Georef
from ingest_bim.meshing import DEFAULT_RGBA, MeshBatch, RawShape, Rgba, mesh_batch

GLASS_TINT = np.array([0.72, 0.82, 0.88])
BATCH_VERTICES = 200_000  # vertices per batch (a shape larger than this is a batch of its own)
BATCH_SHAPES = 500


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


def raw_shapes(iterator: ifcopenshell.geom.iterator) -> Iterator[RawShape]:
    """Drain the iterator: each shape with faces, buffers copied, colours read once per distinct style."""
    colours: dict[str, Rgba] = {}
    while True:
        shape = iterator.get()
        geometry = shape.geometry
        faces = geometry.faces_buffer
        if faces:
            rgba = []
            for material in geometry.materials:
                name = material.name
                if name not in colours:
                    colours[name] = _rgba(material)
                rgba.append(colours[name])
            yield RawShape(int(shape.id), str(shape.guid), str(shape.type), geometry.verts_buffer, faces,
                           geometry.material_ids_buffer, rgba or [DEFAULT_RGBA])
        if not iterator.next():
            return


def mesh_batches(iterator: ifcopenshell.geom.iterator | None, georef: Georef) -> Iterator[MeshBatch]:
    """Georeferenced, colour-split meshes of every shape the iterator yields, a batch at a time."""
    if iterator is None:
        return
    batch: list[RawShape] = []
    vertices = 0
    for raw in raw_shapes(iterator):
        batch.append(raw)
        vertices += len(raw.vertices) // 24
        if vertices >= BATCH_VERTICES or len(batch) >= BATCH_SHAPES:
            yield mesh_batch(batch, georef)
            batch, vertices = [], 0
    if batch:
        yield mesh_batch(batch, georef)
