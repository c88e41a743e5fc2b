"""CityGML 1.0, 2.0 and 3.0 buildings → twin objects and semantic layer features (see `ingest_gis.citymodel`).

The file is streamed with `lxml.etree.iterparse`: each top-level city object member is read when its end tag
arrives and then dropped, so memory holds the member being read (and what the parser has read ahead) plus the
vertices. Buildings and their parts (`consistsOfBuildingPart`, 3.0 `buildingPart`) become objects with their
simple properties and generic attributes as attributes, `gml:name` as name and `measuredHeight` (3.0:
`con:height/con:Height/con:value`) as measured height; object ids are `gml:id`s. Geometry: `lod{0..4}Solid`,
`MultiSurface`, `Geometry`, `lod0FootPrint`/`lod0RoofEdge`, and thematic surfaces (`boundedBy`, 3.0 `boundary`:
RoofSurface, WallSurface, GroundSurface … with their openings), whose polygons carry the semantics; solids
referring to them by `xlink:href` reuse them. Polygons, polygon patches and triangles with `gml:posList`,
`gml:pos` or `gml:coordinates`, holes included. One LoD per object, chosen as for CityJSON (`--lod`, default
best). Other city objects (roads, vegetation, relief …) are counted in a warning, not read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree
from pyproj.exceptions import CRSError

from ingest_gis.citycrs import parse_crs, resolve_crs
from ingest_gis.cityjson import LOD_CHOICES, choose_lod
from ingest_gis.citymodel import CityIngestResult, CityModel, CityObject, assemble
from ingest_gis.crs_guess import settle_projected
from ingest_gis.footprints import parse_number
from ingest_gis.records import IngestError, ProgressCallback, no_progress
from ingest_gis.surfaces import SurfaceBuilder

GML_IDS = ("{http://www.opengis.net/gml}id", "{http://www.opengis.net/gml/3.2}id")
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
POLYGONS = frozenset({"Polygon", "PolygonPatch", "Triangle", "Rectangle"})
EXTERIORS, INTERIORS = frozenset({"exterior", "outerBoundaryIs"}), frozenset({"interior", "innerBoundaryIs"})
MEMBERS = frozenset({"cityObjectMember", "featureMember", "featureMembers", "member"})
PART_PROPERTIES = frozenset({"consistsOfBuildingPart", "buildingPart"})
BOUNDARIES = frozenset({"boundedBy", "boundary"})
OPENINGS = frozenset({"opening"})
LOD0_SEMANTICS = {"lod0FootPrint": "GroundSurface", "lod0RoofEdge": "RoofSurface"}
GENERIC = {"stringAttribute": str, "intAttribute": int, "doubleAttribute": float, "dateAttribute": str,
           "uriAttribute": str, "measureAttribute": float, "StringAttribute": str, "IntAttribute": int,
           "DoubleAttribute": float, "DateAttribute": str, "UriAttribute": str, "MeasureAttribute": float}
NUMERIC = frozenset({"measuredHeight", "storeysAboveGround", "storeysBelowGround"})
STREAMED_TAGS = ("{*}CityModel", "{*}cityObjectMember", "{*}featureMember", "{*}featureMembers", "{*}member",
                 "{*}boundedBy")
_LOD = re.compile(r"^lod(\d)")


def local(element: Any) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def gml_id(element: Any) -> str | None:
    return element.get(GML_IDS[0]) or element.get(GML_IDS[1])


@dataclass(frozen=True)
class CityGmlOptions:
    """How to read a CityGML file."""

    name: str
    crs: str | None = None
    lod: str = "best"


class _Reader:
    """Turns building elements into `CityObject`s over one growing vertex list."""

    def __init__(self, lod: str) -> None:
        self.lod = lod
        self.builder = SurfaceBuilder()
        self.semantic: list[str | None] = []
        self.shell: list[int] = []
        self.shells = 0
        self.chunks: list[np.ndarray] = []
        self.vertex_count = 0
        self.objects: list[CityObject] = []
        self.srs_names: set[str] = set()
        self.unresolved = 0
        self.off_lod = Counter[str]()

    def ring(self, element: Any) -> list[int]:
        """A LinearRing's vertex indices, without the closing point."""
        for child in element.iter():
            dim = int(child.get("srsDimension") or 3)
            name = local(child)
            if name == "posList":
                values = np.array((child.text or "").split(), dtype=np.float64)
                break
            if name == "pos":
                values = np.array(" ".join(p.text or "" for p in element.iter() if local(p) == "pos").split(),
                                  dtype=np.float64)
                break
            if name == "coordinates":
                values = np.array((child.text or "").replace(",", " ").split(), dtype=np.float64)
                dim = 3 if len((child.text or "").split()[0].split(",")) == 3 else 2
                break
        else:
            return []
        points = values.reshape(-1, dim)
        if dim == 2:
            points = np.column_stack([points, np.zeros(len(points))])
        if len(points) > 1 and np.array_equal(points[0], points[-1]):
            points = points[:-1]
        self.chunks.append(points[:, :3])
        self.vertex_count += len(points)
        return list(range(self.vertex_count - len(points), self.vertex_count))

    def polygon(self, element: Any, semantic: str | None, shell: int, ids: dict[str, list[int]]) -> None:
        rings: list[list[int]] = []
        for child in element:
            name = local(child)
            if name in EXTERIORS or name in INTERIORS:
                ring = next((r for r in child if local(r) == "LinearRing"), None)
                if ring is not None:
                    indices = self.ring(ring)
                    if name in EXTERIORS:
                        rings.insert(0, indices)
                    else:
                        rings.append(indices)
        if self.builder.add(rings):
            self.semantic.append(semantic)
            self.shell.append(shell)
            if (key := gml_id(element)) is not None:
                ids[key] = [self.builder.count - 1]

    def geometry(self, element: Any, semantic: str | None, ids: dict[str, list[int]]) -> None:
        """Every polygon under a geometry property; each Solid's exterior is one shell. Solids may refer to
        polygons (or surfaces holding them) drawn by thematic surfaces: those join the solid's shell."""
        first = self.builder.count
        containers: list[str] = []
        solids = [e for e in element.iter() if local(e) == "Solid"]
        for solid in solids or [None]:
            shell = -1
            if solid is not None:
                shell, self.shells = self.shells, self.shells + 1
            for e in (solid if solid is not None else element).iter():
                name = local(e)
                if name in INTERIORS and solid is not None and e.getparent() is solid:
                    break  # inner shells (cavities) are not drawn
                if name in POLYGONS:
                    if (key := gml_id(e)) is None or key not in ids:
                        self.polygon(e, semantic, shell, ids)
                elif (href := e.get(XLINK_HREF)) is not None:
                    found = ids.get(href.lstrip("#"))
                    if found is None:
                        self.unresolved += 1
                    elif shell >= 0:
                        for s in found:
                            self.shell[s] = shell
                elif (key := gml_id(e)) is not None and semantic is not None:
                    containers.append(key)
        for key in containers:
            ids.setdefault(key, list(range(first, self.builder.count)))

    def building(self, element: Any, parent: str | None) -> None:
        key = gml_id(element) or f"{local(element)}-{len(self.objects) + 1}"
        sources: list[tuple[str, Any, str | None]] = []  # (lod, element, semantic)
        parts: list[Any] = []
        attributes: dict[str, Any] = {}
        name, measured = None, None
        for child in element:
            prop = local(child)
            if (match := _LOD.match(prop)) is not None:
                sources.append((match.group(1), child, LOD0_SEMANTICS.get(prop)))
            elif prop in BOUNDARIES:
                for surface in child:
                    self.thematic(surface, local(surface), sources)
            elif prop in PART_PROPERTIES:
                parts.extend(p for p in child if local(p).startswith("Building"))
            elif prop == "name" and child.text and name is None:
                name = child.text.strip()
            elif prop in GENERIC or prop == "genericAttribute":
                self.generic(child, attributes)
            elif prop == "height":  # 3.0: con:height/con:Height/con:value, kept as measuredHeight
                value = next((parse_number(v.text) for v in child.iter() if local(v) == "value"), None)
                if value is not None and measured is None:
                    measured = attributes["measuredHeight"] = value
            elif len(child) == 0 and child.text and child.text.strip():
                _add_attribute(attributes, prop, child.text.strip())
            elif prop == "address":
                attributes["address"] = " ".join(t.strip() for t in child.itertext() if t.strip())
        if name:
            attributes.setdefault("name", name)
        if measured is None:
            measured = parse_number(attributes.get("measuredHeight"))
        chosen = choose_lod([lod for lod, _, _ in sources], self.lod)
        if chosen is not None and self.lod != "best" and int(chosen) != int(self.lod):
            self.off_lod[chosen] += 1
        first = self.builder.count
        ids: dict[str, list[int]] = {}
        for lod, source, semantic in sorted(sources, key=lambda s: s[2] is None):  # thematic surfaces first
            if lod == chosen:
                self.geometry(source, semantic, ids)
        self.srs_names.update(e.get("srsName") for e in element.iter() if e.get("srsName"))
        self.objects.append(CityObject(key, local(element), attributes, name, parent, chosen, first,
                                       self.builder.count, measured))
        for part in parts:
            self.building(part, key)

    def thematic(self, surface: Any, semantic: str, sources: list[tuple[str, Any, str | None]]) -> None:
        for child in surface:
            prop = local(child)
            if (lod := _LOD.match(prop)) is not None:
                sources.append((lod.group(1), child, semantic))
            elif prop in OPENINGS:
                for opening in child:
                    self.thematic(opening, local(opening), sources)

    @staticmethod
    def generic(element: Any, attributes: dict[str, Any]) -> None:
        for attr in [element, *element] if local(element) in GENERIC else list(element):
            cast = GENERIC.get(local(attr))
            if cast is None:
                continue
            key = attr.get("name") or next((c.text for c in attr if local(c) == "name"), None)
            text = next((c.text for c in attr if local(c) == "value"), None)
            if key and text is not None:
                number = parse_number(text) if cast is not str else None
                attributes[key] = text.strip() if number is None else (int(number) if cast is int else number)


def _add_attribute(attributes: dict[str, Any], key: str, text: str) -> None:
    """A simple property as an attribute; a repeated one (several `function`s) becomes a list."""
    value: Any = text
    if key in NUMERIC and (number := parse_number(text)) is not None:
        value = number if key == "measuredHeight" or not number.is_integer() else int(number)
    if key not in attributes:
        attributes[key] = value
    elif isinstance(attributes[key], list):
        attributes[key].append(value)
    else:
        attributes[key] = [attributes[key], value]


def read_citygml(path: str | Path, options: CityGmlOptions,
                 on_progress: ProgressCallback = no_progress) -> CityIngestResult:
    """Stream a CityGML file's buildings into twin objects and layer features (no I/O besides reading `path`)."""
    path = Path(path)
    if options.lod not in LOD_CHOICES:
        raise IngestError(f"--lod must be one of {', '.join(LOD_CHOICES)}, not {options.lod!r}")
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    reader = _Reader(options.lod)
    others: Counter[str] = Counter()
    root: Any = None
    size = max(path.stat().st_size, 1)
    try:
        with path.open("rb") as stream:
            for event, element in etree.iterparse(stream, events=("start", "end"), tag=STREAMED_TAGS,
                                                  huge_tree=True, remove_comments=True):
                if root is None:
                    root = element
                    continue
                if event != "end" or element.getparent() is not root:
                    continue
                if local(element) in MEMBERS:
                    for city_object in element:
                        if local(city_object) == "Building":
                            reader.building(city_object, None)
                        elif local(city_object):
                            others[local(city_object)] += 1
                else:  # the model's boundedBy: its envelope may carry the only srsName
                    reader.srs_names.update(e.get("srsName") for e in element.iter() if e.get("srsName"))
                element.clear()
                while element.getprevious() is not None:
                    del root[0]
                on_progress("read", min(stream.tell(), size), size)
    except etree.XMLSyntaxError as exc:
        raise IngestError(f"{path.name} is not well-formed XML: {exc}") from exc
    except (ValueError, IndexError) as exc:
        raise IngestError(f"{path.name} has malformed geometry: {exc}") from exc
    if root is None:
        raise IngestError(f"{path.name} is not CityGML: it has no CityModel element")
    version = next((v for v in ("1.0", "2.0", "3.0") if f"/citygml/{v}}}" in str(root.tag)), "?")
    if not any(o.type == "Building" for o in reader.objects):
        found = ", ".join(f"{n} {t}" for t, n in sorted(others.items())) or "no city objects"
        raise IngestError(f"{path.name} has no buildings ({found})")
    warnings: list[str] = []
    crs = resolve_crs(_one_srs(reader.srs_names, path.name), options.crs, warnings, path.name)
    if others:
        warnings.append("only buildings are read from CityGML; left out: "
                        + ", ".join(f"{n} {t}" for t, n in sorted(others.items())))
    if reader.off_lod:
        warnings.append(f"{sum(reader.off_lod.values())} objects have no LoD{options.lod} geometry and keep their "
                        "nearest: " + ", ".join(f"{n} LoD{lod}" for lod, n in sorted(reader.off_lod.items())))
    if reader.unresolved:
        warnings.append(f"{reader.unresolved} xlink references to surfaces outside their building were ignored")
    vertices = np.concatenate(reader.chunks) if reader.chunks else np.zeros((0, 3))
    declared = options.crs or str(_one_srs(reader.srs_names, path.name))
    crs = settle_projected(crs, vertices[:, 0], vertices[:, 1], declared=declared, chosen=bool(options.crs),
                           warnings=warnings, where=path.name)
    if note := crs.vertical_note():
        warnings.append(note)
    model = CityModel(vertices, reader.builder.build(), reader.semantic, np.asarray(reader.shell, dtype=np.int64),
                      reader.objects)
    records, features, summary = assemble(model, options.name, crs, warnings, on_progress)
    if not features:
        raise IngestError(f"{path.name} has no building surfaces in the chosen LoD")
    summary = {"version": f"CityGML {version}", "lod": options.lod, "vertical": crs.summary(),
               "lods": dict(sorted(Counter(o.lod for o in reader.objects if o.lod).items())), **summary}
    return CityIngestResult(records, features, crs.name, warnings, tile_class="cityobject", summary=summary)


def _one_srs(names: set[str], where: str) -> str | None:
    """The file's srsName; several spellings of one CRS are fine, different CRSs are not."""
    if len(names) <= 1:
        return next(iter(names), None)
    try:
        crs = {parse_crs(n) for n in names}
    except CRSError:
        crs = set()
    if len(crs) != 1:
        raise IngestError(f"{where} mixes srsNames {sorted(names)}; one CRS per file is supported")
    return sorted(names)[0]
