"""The IFC mesh spool: each element comes back as one mesh coloured per vertex, its parts in colour order."""

from __future__ import annotations

import numpy as np

from ingest_bim.meshing import MeshBatch, RawShape
from ingest_bim.spool import FeatureSpool
from tiles.geodesy import EnuFrame

RED, GREY = (0.9, 0.1, 0.1, 1.0), (0.5, 0.5, 0.5, 1.0)


def _batch(shapes: int, part_shape: list[int], part_colour: list[int], vertices: list[int]) -> MeshBatch:
    """Parts of one triangle fan each; vertex x is the vertex's number in the batch, so order can be checked."""
    total = sum(vertices)
    vertex_start = np.concatenate([[0], np.cumsum(vertices)]).astype(np.int64)
    triangles = [np.array([[0, i, i + 1] for i in range(1, n - 1)], dtype=np.uint32) for n in vertices]
    raws = [RawShape(i, f"g{i}", "IfcWall", b"", b"", b"", []) for i in range(shapes)]
    empty = np.zeros(shapes)
    return MeshBatch(
        shapes=raws, zmin=empty, zmax=empty, model_vertices=[np.zeros((0, 3))] * shapes,
        up_faces=[np.zeros((0, 3, 2))] * shapes, colours=[RED, GREY],
        part_shape=np.array(part_shape, dtype=np.int64), part_colour=np.array(part_colour, dtype=np.int64),
        vertex_start=vertex_start,
        triangle_start=np.concatenate([[0], np.cumsum([len(t) for t in triangles])]).astype(np.int64),
        positions=np.column_stack([np.arange(total, dtype=np.float64), np.zeros(total), np.zeros(total)]),
        normals=np.tile(np.array([0, 0, 1], dtype=np.float32), (total, 1)),
        triangles=np.concatenate(triangles) if triangles else np.zeros((0, 3), dtype=np.uint32))


def test_an_element_of_two_colours_is_one_mesh_with_its_parts_in_colour_order() -> None:
    # shape 0: a red part (vertices 0–3) and a grey part (4–6); shape 1: one red part (7–9)
    batch = _batch(2, [0, 0, 1], [0, 1, 0], [4, 3, 3])
    with FeatureSpool() as spool:
        spool.add_batch(batch, ["d.g0", "d.g1"], ["structure", "structure"], [{"GlobalId": "g0"}, {"GlobalId": "g1"}])
        spool.add_batch(_batch(0, [], [], []), [], [], [])  # a batch whose shapes all lost their triangles
        first, second = spool.layer_features("structure")
        assert spool.layers == ["structure"] and [first.id, second.id] == ["d.g0", "d.g1"]
        mesh = first.mesh
        assert spool.frame == EnuFrame(4.5, 0.0, 0.0)  # the centre of every vertex spooled (longitudes 0–9)
        lon = spool.frame.to_geodetic(mesh.positions)[:, 0]  # positions come back in that frame
        np.testing.assert_allclose(lon, [4, 5, 6, 0, 1, 2, 3], atol=1e-9)  # grey (0.5 …) sorts before red (0.9 …)
        np.testing.assert_allclose(mesh.normals, spool.frame.normals_from_local(lon, np.zeros(7), batch.normals[:7]))
        assert mesh.colors is not None
        assert mesh.colors.tolist() == [[128, 128, 128, 255]] * 3 + [[230, 26, 26, 255]] * 4
        assert mesh.triangles.tolist() == [[0, 1, 2], [3, 4, 5], [3, 5, 6]]  # indices within the element
        np.testing.assert_allclose(spool.frame.to_geodetic(second.mesh.positions)[:, 0], [7, 8, 9], atol=1e-9)
        assert second.mesh.triangles.tolist() == [[0, 1, 2]]
        assert second.properties == {"GlobalId": "g1"}
