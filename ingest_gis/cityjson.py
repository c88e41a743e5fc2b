"""CityJSON 1.0, 1.1 and 2.0 → twin objects and semantic layer features (see `ingest_gis.citymodel`).

CityJSON is plain JSON, so it is read with orjson into flat numpy vertices (with `transform` applied) and the
surfaces are taken straight from the `boundaries` arrays (a CityJSON text sequence, `.city.jsonl`, is read as its
header plus one part per CityJSONFeature line): Solid, MultiSolid, CompositeSolid, MultiSurface and
CompositeSurface with holes, GeometryInstance through `geometry-templates`, surface semantics from `semantics`.
A reader library would build a Python object per geometry first; this one never does.

LoD: `--lod 1` (or 2, 3) takes the most detailed geometry of that LoD (2.2 over 2.0), `best` the most detailed
of all; an object without the asked LoD keeps its nearest lower one (else its lowest), counted in a warning.
Every city object type comes in (kind = its type in snake case); a file without any Building is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ingest_gis.citycrs import resolve_crs
from ingest_gis.citymodel import CityIngestResult, CityModel, CityObject, assemble
from ingest_gis.crs_guess import settle_projected
from ingest_gis.cycle_collector import cycle_collector_paused
from ingest_gis.footprints import parse_number
from ingest_gis.records import IngestError, ProgressCallback, no_progress
from ingest_gis.surfaces import SurfaceBuilder

VERSIONS = ("1.0", "1.1", "2.0")
LOD_CHOICES = ("0", "1", "2", "3", "best")
SURFACE_TYPES = ("MultiSurface", "CompositeSurface")
SOLID_TYPES = ("MultiSolid", "CompositeSolid")


@dataclass(frozen=True)
class CityJsonOptions:
    """How to read a CityJSON file."""

    name: str
    crs: str | None = None
    lod: str = "best"


def lod_text(value: Any) -> str:
    """A LoD as text: 2 → "2", 2.2 → "2.2", "1.3" stays."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"bad lod {value!r}")
    if isinstance(value, int | float):
        return f"{value:g}"
    float(value)
    return str(value)


def choose_lod(available: Sequence[str], wanted: str) -> str | None:
    """The LoD to take among `available` (see the module docstring)."""
    if not available:
        return None
    ordered = sorted(set(available), key=float)
    if wanted == "best":
        return ordered[-1]
    level = int(wanted)
    family = [v for v in ordered if int(float(v)) == level]
    lower = [v for v in ordered if float(v) < level]
    return (family or lower or ordered[:1])[-1]


class _Reader:
    """Walks city objects into a `CityModel`; template instances append their own vertices."""

    def __init__(self, doc: dict[str, Any], lod: str) -> None:
        self.builder = SurfaceBuilder()
        self.semantic: list[str | None] = []
        self.shell: list[int] = []
        self.shells = 0
        self.lod = lod
        self.vertices: list[np.ndarray] = []
        self.vertex_count = 0
        self.part = np.zeros((0, 3))  # the vertices the objects being read refer to
        self.offset = 0  # where they start among all vertices
        templates = doc.get("geometry-templates") or {}
        self.templates = templates.get("templates", [])
        self.template_vertices = np.asarray(templates.get("vertices-templates", []), dtype=np.float64)
        self.off_lod = Counter[str]()
        self.ignored = Counter[str]()

    def geometry_lod(self, geometry: dict[str, Any]) -> str | None:
        if geometry.get("type") == "GeometryInstance":
            template = self.templates[geometry["template"]]
            return lod_text(template["lod"]) if "lod" in template else None
        return lod_text(geometry["lod"]) if "lod" in geometry else None

    def add_vertices(self, vertices: np.ndarray) -> None:
        """The vertices of the document, or of one CityJSONFeature of a sequence, for the objects that follow."""
        self.part, self.offset = vertices, self.vertex_count
        self.vertices.append(vertices)
        self.vertex_count += len(vertices)

    def add_object(self, key: str, obj: dict[str, Any]) -> CityObject:
        geometries = [g for g in obj.get("geometry") or [] if isinstance(g, dict)]
        lods = [self.geometry_lod(g) for g in geometries]
        chosen = choose_lod([v for v in lods if v is not None], self.lod)
        if chosen is not None and self.lod != "best" and int(float(chosen)) != int(self.lod):
            self.off_lod[chosen] += 1
        first = self.builder.count
        for geometry, lod in zip(geometries, lods, strict=True):
            if lod == chosen:
                self.add_geometry(geometry, self.offset)
        attributes = dict(obj.get("attributes") or {})
        if obj.get("address") and "address" not in attributes:
            attributes["address"] = obj["address"]
        name = attributes.get("name")
        parents = obj.get("parents") or [None]
        return CityObject(key, str(obj.get("type", "CityObject")), attributes,
                          name if isinstance(name, str) else None, parents[0], chosen, first, self.builder.count,
                          parse_number(attributes.get("measuredHeight")))

    def add_geometry(self, geometry: dict[str, Any], offset: int) -> None:
        kind = geometry.get("type")
        if kind == "GeometryInstance":
            self.add_instance(geometry)
            return
        boundaries = geometry.get("boundaries") or []
        semantics = geometry.get("semantics") or {}
        types = [s.get("type") for s in semantics.get("surfaces", [])]
        values = semantics.get("values")
        if kind in SURFACE_TYPES:
            self.add_surfaces(boundaries, values, types, -1, offset)
        elif kind == "Solid":
            self.add_solid(boundaries, values, types, offset)
        elif kind in SOLID_TYPES:
            for i, solid in enumerate(boundaries):
                self.add_solid(solid, values[i] if values else None, types, offset)
        else:
            self.ignored[str(kind)] += 1

    def add_solid(self, shells: list[Any], values: list[Any] | None, types: list[str | None], offset: int) -> None:
        for i, shell in enumerate(shells):
            self.add_surfaces(shell, values[i] if values else None, types, self.shells, offset)
            self.shells += 1

    def add_surfaces(self, surfaces: list[Any], values: list[Any] | None, types: list[str | None], shell: int,
                     offset: int) -> None:
        for i, rings in enumerate(surfaces):
            if offset:
                rings = [[v + offset for v in ring] for ring in rings]
            if self.builder.add(rings):
                value = values[i] if values else None
                self.semantic.append(types[value] if value is not None else None)
                self.shell.append(shell)

    def add_instance(self, geometry: dict[str, Any]) -> None:
        template = self.templates[geometry["template"]]
        matrix = np.asarray(geometry["transformationMatrix"], dtype=np.float64).reshape(4, 4)
        anchor = self.part[geometry["boundaries"][0]]
        local = np.column_stack([self.template_vertices, np.ones(len(self.template_vertices))]) @ matrix.T
        self.vertices.append(local[:, :3] + anchor)
        offset = self.vertex_count
        self.vertex_count += len(local)
        self.add_geometry({k: v for k, v in template.items() if k != "lod"}, offset)


def _parse(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document, and the CityJSONFeatures when the file is a CityJSON text sequence (`.city.jsonl`)."""
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    data = path.read_bytes()
    try:
        return orjson.loads(data), []
    except orjson.JSONDecodeError as exc:
        error = exc
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:
        header = orjson.loads(lines[0]) if len(lines) > 1 else None
    except orjson.JSONDecodeError:
        header = None
    if not (isinstance(header, dict) and header.get("type") == "CityJSON"):
        raise IngestError(f"{path.name} is not valid JSON: {error}") from error
    features = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            feature = orjson.loads(line)
        except orjson.JSONDecodeError as bad:
            raise IngestError(f"{path.name} line {number} is not valid JSON: {bad}") from bad
        if not isinstance(feature, dict) or feature.get("type") != "CityJSONFeature":
            raise IngestError(f"{path.name} line {number} is not a CityJSONFeature")
        features.append(feature)
    return header, features


def _load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The checked document and its parts: objects with the vertices they refer to (one part, or one per
    CityJSONFeature of a sequence)."""
    doc, features = _parse(path)
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        found = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise IngestError(f"{path.name} is not a CityJSON file (type {found!r}, expected 'CityJSON')")
    version = str(doc.get("version", ""))
    if not any(version == v or version.startswith(v + ".") for v in VERSIONS):
        raise IngestError(f"{path.name} is CityJSON {version or 'without a version'}; "
                          f"supported are {', '.join(VERSIONS)}")
    parts = [doc, *features]
    if any(not isinstance(p.get("CityObjects"), dict) or not isinstance(p.get("vertices"), list) for p in parts):
        raise IngestError(f"{path.name} lacks the CityObjects or vertices member")
    return doc, parts


def _vertices(part: dict[str, Any], transform: dict[str, Any] | None, where: str) -> np.ndarray:
    try:
        vertices = np.asarray(part["vertices"], dtype=np.float64).reshape(-1, 3)
    except (ValueError, TypeError) as exc:
        raise IngestError(f"{where}: vertices must be [x, y, z] number triples ({exc})") from exc
    if transform:
        vertices = vertices * np.asarray(transform.get("scale", [1, 1, 1]), dtype=np.float64) \
            + np.asarray(transform.get("translate", [0, 0, 0]), dtype=np.float64)
    return vertices


def declared_crs(doc: dict[str, Any]) -> str | None:
    """`metadata.referenceSystem` (1.0–2.0), or the older `metadata.crs.epsg`."""
    metadata = doc.get("metadata") or {}
    system = metadata.get("referenceSystem")
    if system:
        return str(system)
    epsg = (metadata.get("crs") or {}).get("epsg")
    return str(epsg) if epsg else None


def read_cityjson(path: str | Path, options: CityJsonOptions,
                  on_progress: ProgressCallback = no_progress) -> CityIngestResult:
    """Read a CityJSON file into twin objects and vertex-coloured features (no I/O besides reading `path`)."""
    with cycle_collector_paused():
        return _read(Path(path), options, on_progress)


def _read(path: Path, options: CityJsonOptions, on_progress: ProgressCallback) -> CityIngestResult:
    if options.lod not in LOD_CHOICES:
        raise IngestError(f"--lod must be one of {', '.join(LOD_CHOICES)}, not {options.lod!r}")
    on_progress("read", 0, 1)
    doc, parts = _load(path)
    warnings: list[str] = []
    crs = resolve_crs(declared_crs(doc), options.crs, warnings, path.name)
    types = Counter(str(o.get("type")) for p in parts for o in p["CityObjects"].values() if isinstance(o, dict))
    if "Building" not in types:
        found = ", ".join(f"{n} {t}" for t, n in sorted(types.items())) or "no city objects"
        raise IngestError(f"{path.name} has no Building city objects ({found})")
    reader = _Reader(doc, options.lod)
    objects = []
    total, done = sum(len(p["CityObjects"]) for p in parts), 0
    for part in parts:
        reader.add_vertices(_vertices(part, doc.get("transform"), path.name))
        for key, obj in part["CityObjects"].items():
            try:
                objects.append(reader.add_object(str(key), obj))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                raise IngestError(f"{path.name}: city object {key!r} has malformed geometry ({exc!r})") from exc
            done += 1
            if done % 2000 == 0 or done == total:
                on_progress("read", done, total)
    if reader.off_lod:
        warnings.append(f"{sum(reader.off_lod.values())} objects have no LoD{options.lod} geometry and keep their "
                        "nearest: " + ", ".join(f"{n} LoD{lod}" for lod, n in sorted(reader.off_lod.items())))
    if reader.ignored:
        warnings.append("geometries without surfaces were left out: "
                        + ", ".join(f"{n} {t}" for t, n in sorted(reader.ignored.items())))
    vertices = np.concatenate(reader.vertices)
    crs = settle_projected(crs, vertices[:, 0], vertices[:, 1], declared=options.crs or str(declared_crs(doc)),
                           chosen=bool(options.crs), warnings=warnings, where=path.name)
    if note := crs.vertical_note():
        warnings.append(note)
    model = CityModel(vertices, reader.builder.build(), reader.semantic, np.asarray(reader.shell, dtype=np.int64),
                      objects)
    records, features, summary = assemble(model, options.name, crs, warnings, on_progress)
    if not features:
        raise IngestError(f"{path.name} has no city objects with surfaces in the chosen LoD")
    summary = {"version": str(doc["version"]), "lod": options.lod, "vertical": crs.summary(),
               "lods": dict(sorted(Counter(o.lod for o in objects if o.lod).items())), **summary}
    return CityIngestResult(records, features, crs.name, warnings, tile_class="cityobject", summary=summary)
