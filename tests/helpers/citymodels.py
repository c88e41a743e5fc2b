"""A small LoD2 house authored by hand, written as CityJSON 1.0/1.1/2.0 and CityGML 1.0/2.0/3.0.

Building `B1` is a flat-roofed block of 20 × 20 × 6 m around an 8 × 8 m courtyard (a hole in roof and ground);
its BuildingPart `B1-P` is an 8 × 6 m gable house (eaves 3 m, ridge 5 m) against its east side. Rings are wound
counter-clockwise seen from outside. Both also have a LoD1 box. Coordinates are RD New + NAP (EPSG:7415) metres
in Delft.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray

from tiles.geodesy import EnuFrame
from tiles.model import Feature

ORIGIN = (85000.0, 447000.0, 0.0)
Ring = list[tuple[float, float, float]]


def _walls(ring: list[tuple[float, float]], top: float) -> list[Ring]:
    """Quads on each edge of a ring that has the solid on its left seen from above."""
    pairs = zip(ring, ring[1:] + ring[:1], strict=True)
    return [[(ax, ay, 0.0), (bx, by, 0.0), (bx, by, top), (ax, ay, top)] for (ax, ay), (bx, by) in pairs]


def lod2_faces() -> dict[str, list[tuple[str, list[Ring]]]]:
    """Per object: (semantic type, [exterior, *holes]) surfaces."""
    outer = [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)]  # counter-clockwise from above
    court = [(6.0, 6.0), (6.0, 14.0), (14.0, 14.0), (14.0, 6.0)]  # clockwise from above
    block: list[tuple[str, list[Ring]]] = [
        ("GroundSurface", [[(x, y, 0.0) for x, y in reversed(outer)], [(x, y, 0.0) for x, y in reversed(court)]]),
        ("RoofSurface", [[(x, y, 6.0) for x, y in outer], [(x, y, 6.0) for x, y in court]]),
        *(("WallSurface", [w]) for w in _walls(outer, 6.0) + _walls(court, 6.0)),
    ]
    part: list[tuple[str, list[Ring]]] = [
        ("GroundSurface", [[(20.0, 0.0, 0.0), (20.0, 6.0, 0.0), (28.0, 6.0, 0.0), (28.0, 0.0, 0.0)]]),
        ("WallSurface", [[(20.0, 0.0, 0.0), (28.0, 0.0, 0.0), (28.0, 0.0, 3.0), (20.0, 0.0, 3.0)]]),
        ("WallSurface", [[(28.0, 0.0, 0.0), (28.0, 6.0, 0.0), (28.0, 6.0, 3.0), (28.0, 3.0, 5.0), (28.0, 0.0, 3.0)]]),
        ("WallSurface", [[(28.0, 6.0, 0.0), (20.0, 6.0, 0.0), (20.0, 6.0, 3.0), (28.0, 6.0, 3.0)]]),
        ("WallSurface", [[(20.0, 6.0, 0.0), (20.0, 0.0, 0.0), (20.0, 0.0, 3.0), (20.0, 3.0, 5.0), (20.0, 6.0, 3.0)]]),
        ("RoofSurface", [[(20.0, 0.0, 3.0), (28.0, 0.0, 3.0), (28.0, 3.0, 5.0), (20.0, 3.0, 5.0)]]),
        ("RoofSurface", [[(28.0, 6.0, 3.0), (20.0, 6.0, 3.0), (20.0, 3.0, 5.0), (28.0, 3.0, 5.0)]]),
    ]
    return {"B1": block, "B1-P": part}


def lod1_faces() -> dict[str, list[Ring]]:
    """A closed box per object, as plain surfaces without semantics."""
    def box(x0: float, y0: float, x1: float, y1: float, top: float) -> list[Ring]:
        ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return [[(x, y, 0.0) for x, y in reversed(ring)], [(x, y, top) for x, y in ring], *_walls(ring, top)]
    return {"B1": box(0, 0, 20, 20, 6.0), "B1-P": box(20, 0, 28, 6, 4.0)}


ATTRIBUTES = {"B1": {"function": "residential", "yearOfConstruction": 1931, "measuredHeight": 6.0,
                     "name": "Courtyard block"},
              "B1-P": {"function": "garage", "roofType": "gabled"}}
VOLUMES = {"B1": (400 - 64) * 6.0, "B1-P": 8 * 6 * 3.0 + 8 * 6 * 2 / 2}


def cityjson_house(version: str = "2.0", inside_out: bool = False) -> dict[str, Any]:
    """The house as a CityJSON document of `version` (1.0: numeric LoDs, URN CRS, no transform)."""
    vertices: list[tuple[float, float, float]] = []
    index: dict[tuple[float, float, float], int] = {}

    def ids(ring: Ring) -> list[int]:
        ring = ring[::-1] if inside_out else ring
        out = []
        for p in ring:
            q = (p[0] + ORIGIN[0], p[1] + ORIGIN[1], p[2] + ORIGIN[2])
            out.append(index.setdefault(q, len(index)))
            if len(index) > len(vertices):
                vertices.append(q)
        return out

    semantic_types = ["GroundSurface", "RoofSurface", "WallSurface"]
    objects: dict[str, Any] = {}
    for key, faces in lod2_faces().items():
        lod2 = {"type": "Solid", "lod": 2.2 if version == "1.0" else "2.2",
                "boundaries": [[[ids(r) for r in rings] for _, rings in faces]],
                "semantics": {"surfaces": [{"type": t} for t in semantic_types],
                              "values": [[semantic_types.index(t) for t, _ in faces]]}}
        lod1 = {"type": "Solid", "lod": 1 if version == "1.0" else "1",
                "boundaries": [[[ids(r)] for r in lod1_faces()[key]]]}
        objects[key] = {"type": "Building" if key == "B1" else "BuildingPart", "attributes": ATTRIBUTES[key],
                        "geometry": [lod1, lod2]}
    objects["B1"]["children"] = ["B1-P"]
    objects["B1-P"]["parents"] = ["B1"]
    doc: dict[str, Any] = {"type": "CityJSON", "version": version, "CityObjects": objects,
                           "metadata": {"referenceSystem": "urn:ogc:def:crs:EPSG::7415" if version == "1.0"
                                        else "https://www.opengis.net/def/crs/EPSG/0/7415"}}
    if version == "1.0":
        doc["vertices"] = [list(v) for v in vertices]
    else:
        doc["transform"] = {"scale": [0.001, 0.001, 0.001], "translate": list(ORIGIN)}
        doc["vertices"] = [[round((c - o) * 1000) for c, o in zip(v, ORIGIN, strict=True)] for v in vertices]
    return doc


NAMESPACES = {
    "1.0": ("http://www.opengis.net/citygml/1.0", "http://www.opengis.net/citygml/building/1.0",
            "http://www.opengis.net/gml", "http://www.opengis.net/citygml/generics/1.0"),
    "2.0": ("http://www.opengis.net/citygml/2.0", "http://www.opengis.net/citygml/building/2.0",
            "http://www.opengis.net/gml", "http://www.opengis.net/citygml/generics/2.0"),
    "3.0": ("http://www.opengis.net/citygml/3.0", "http://www.opengis.net/citygml/building/3.0",
            "http://www.opengis.net/gml/3.2", "http://www.opengis.net/citygml/generics/3.0"),
}


def _pos_list(ring: Ring) -> str:
    closed = [*ring, ring[0]]
    return " ".join(f"{x + ORIGIN[0]:.3f} {y + ORIGIN[1]:.3f} {z + ORIGIN[2]:.3f}" for x, y, z in closed)


def _polygon(rings: list[Ring], polygon_id: str) -> str:
    exterior = f"<gml:exterior><gml:LinearRing><gml:posList srsDimension=\"3\">{_pos_list(rings[0])}" \
               "</gml:posList></gml:LinearRing></gml:exterior>"
    holes = "".join(f"<gml:interior><gml:LinearRing><gml:posList>{_pos_list(r)}</gml:posList></gml:LinearRing>"
                    "</gml:interior>" for r in rings[1:])
    return f'<gml:Polygon gml:id="{polygon_id}">{exterior}{holes}</gml:Polygon>'


def _gml_building(key: str, version: str, tag: str) -> str:
    faces = lod2_faces()[key]
    bldg = "con" if version == "3.0" else "bldg"
    boundary = "boundary" if version == "3.0" else "bldg:boundedBy"
    surfaces = "".join(
        f"<{boundary}><{bldg}:{semantic}><{'' if version == '3.0' else 'bldg:'}lod2MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{_polygon(rings, f'{key}-s{i}')}</gml:surfaceMember></gml:MultiSurface>"
        f"</{'' if version == '3.0' else 'bldg:'}lod2MultiSurface></{bldg}:{semantic}></{boundary}>"
        for i, (semantic, rings) in enumerate(faces))
    refs = "".join(f'<gml:surfaceMember xlink:href="#{key}-s{i}"/>' for i in range(len(faces)))
    solid_tag = "lod2Solid" if version == "3.0" else "bldg:lod2Solid"
    solid = f"<{solid_tag}><gml:Solid><gml:exterior><gml:Shell>{refs}</gml:Shell></gml:exterior></gml:Solid>" \
            f"</{solid_tag}>"
    lod1_tag = "lod1Solid" if version == "3.0" else "bldg:lod1Solid"
    lod1 = "".join(f"<gml:surfaceMember>{_polygon([r], f'{key}-b{i}')}</gml:surfaceMember>"
                   for i, r in enumerate(lod1_faces()[key]))
    lod1 = f"<{lod1_tag}><gml:Solid><gml:exterior><gml:Shell>{lod1}</gml:Shell></gml:exterior></gml:Solid>" \
           f"</{lod1_tag}>"
    attributes = ATTRIBUTES[key]
    simple = f"<bldg:function>{attributes['function']}</bldg:function>"
    if "roofType" in attributes:
        simple += f"<bldg:roofType>{attributes['roofType']}</bldg:roofType>"
    if "yearOfConstruction" in attributes:
        simple += f"<bldg:yearOfConstruction>{attributes['yearOfConstruction']}</bldg:yearOfConstruction>"
    if "measuredHeight" in attributes:
        simple += ("<con:height><con:Height><con:highReference>highestRoofEdge</con:highReference>"
                   "<con:lowReference>lowestGroundPoint</con:lowReference><con:status>measured</con:status>"
                   f"<con:value uom=\"m\">{attributes['measuredHeight']}</con:value></con:Height></con:height>"
                   if version == "3.0" else
                   f"<bldg:measuredHeight uom=\"#m\">{attributes['measuredHeight']}</bldg:measuredHeight>")
    name = f"<gml:name>{attributes['name']}</gml:name>" if "name" in attributes else ""
    generic = ('<genericAttribute><gen:StringAttribute><gen:name>source</gen:name><gen:value>survey</gen:value>'
               '</gen:StringAttribute></genericAttribute>' if version == "3.0" else
               '<gen:stringAttribute name="source"><gen:value>survey</gen:value></gen:stringAttribute>')
    part = ""
    if key == "B1":
        part_property = "bldg:buildingPart" if version == "3.0" else "bldg:consistsOfBuildingPart"
        part = f"<{part_property}>{_gml_building('B1-P', version, 'bldg:BuildingPart')}</{part_property}>"
    if version == "3.0":  # 3.0 orders name, generic attributes, boundaries, geometry, then building properties
        body = f"{name}{generic}{surfaces}{lod1}{solid}{simple}{part}"
    else:
        body = f"{name}{generic}{simple}{lod1}{solid}{surfaces}{part}"
    return f'<{tag} gml:id="{key}">{body}</{tag}>'


def citygml_house(version: str = "2.0", srs_name: str = "urn:ogc:def:crs:EPSG::7415") -> str:
    """The house as a CityGML document of `version`, the CRS named once on the model's envelope."""
    core, bldg, gml, gen = NAMESPACES[version]
    con = ' xmlns:con="http://www.opengis.net/citygml/construction/3.0"' if version == "3.0" else ""
    envelope = (f'<gml:boundedBy><gml:Envelope srsName="{srs_name}" srsDimension="3">'
                f"<gml:lowerCorner>{ORIGIN[0]} {ORIGIN[1]} 0</gml:lowerCorner>"
                f"<gml:upperCorner>{ORIGIN[0] + 28} {ORIGIN[1] + 20} 6</gml:upperCorner></gml:Envelope>"
                "</gml:boundedBy>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<CityModel xmlns="{core}" xmlns:bldg="{bldg}" '
            f'xmlns:gml="{gml}" xmlns:gen="{gen}" xmlns:xlink="http://www.w3.org/1999/xlink"{con}>'
            f"{envelope}<cityObjectMember>{_gml_building('B1', version, 'bldg:Building')}</cityObjectMember>"
            "</CityModel>\n")


def object_solid(features: list[Feature], object_id: str) -> trimesh.Trimesh:
    """The meshes of one object in every layer, welded into one solid in local metres."""
    parts = [f.mesh for f in features if f.id == object_id]
    frame = EnuFrame(float(parts[0].positions[0, 0]), float(parts[0].positions[0, 1]))
    meshes = [trimesh.Trimesh(frame.from_geodetic(*m.positions.T), m.triangles, process=False) for m in parts]
    solid = trimesh.util.concatenate(meshes)
    solid.merge_vertices(digits_vertex=4)
    return solid


def vertex_classes(feature: Feature) -> NDArray[np.str_]:
    """The colour class (roof, wall, ground, vegetation …) of every vertex of a feature, from its colours."""
    from ingest_gis.citymodel import LAYER_COLORS

    assert feature.mesh.colors is not None
    by_colour = {tuple(rgba): name for name, rgba in LAYER_COLORS.items()}
    return np.array([by_colour[tuple(int(c) for c in rgba)] for rgba in feature.mesh.colors])


def assert_colours_follow_facing(feature: Feature) -> set[str]:
    """Roof-coloured vertices face up, ground-coloured down, wall-coloured sideways; returns the classes seen."""
    classes, up = vertex_classes(feature), feature.mesh.normals[:, 2]
    assert (up[classes == "roof"] > 0.5).all() and (up[classes == "ground"] < -0.99).all()
    assert (np.abs(up[classes == "wall"]) < 1e-6).all()
    return set(classes.tolist())
