"""Point layers of resources (hydrants, fire stations, hospitals, shelters, cameras, pumps, valves …) → twin
objects with a small marker prism each. A mixed layer keeps its polygons as footprints in the same dataset; lines
are counted and skipped.

Kind of a point: the `--kind-attr` value (else the first non-empty of `kind`, `type`, `amenity`, `emergency`),
in snake case, OSM spellings mapped (`fire_hydrant` → `hydrant`); a point without one gets `--kind` (`poi`).
Cameras keep their attributes (`stream_url`, `heading`, `fov`, `range_m`) as they are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from pyproj import CRS
from shapely.geometry import MultiPoint, Point, Polygon

from ingest_gis.attributes import AttributeReader, boolean_fields
from ingest_gis.footprints import (
    FootprintOptions,
    _counted,
    _object_key,
    _pick,
    _resolve_crs,
    lod1_features,
    read_footprints,
    read_layer,
)
from ingest_gis.records import IngestError, IngestResult, ObjectRecord, ProgressCallback, no_progress

KIND_ATTRIBUTES = ("kind", "type", "amenity", "emergency")
KIND_ALIASES = {"fire_hydrant": "hydrant", "fire_station": "fire_station", "surveillance": "camera",
                "cctv": "camera", "emergency_shelter": "shelter"}
MARKER_SIZE_M = 2.0
MARKER_HEIGHT_M = 3.0
_SNAKE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class PointOptions:
    name: str
    kind_attr: str | None = None
    kind: str = "poi"
    crs: str | None = None
    layer: str | None = None


def kind_name(value: Any, default: str) -> str:
    """A kind value in snake case with OSM aliases mapped; `default` when empty."""
    text = _SNAKE.sub("_", str(value).strip().lower()).strip("_") if value is not None else ""
    if text in ("", "nan", "none"):
        return default
    return KIND_ALIASES.get(text, text)


def marker(lon: float, lat: float) -> Polygon:
    """A square of `MARKER_SIZE_M` around the point, in degrees."""
    import math

    half_lat = MARKER_SIZE_M / 2 / 111_320
    half_lon = half_lat / max(math.cos(math.radians(lat)), 1e-6)
    return shapely.box(lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat)


def _point(geometry: Any) -> Point | None:
    if isinstance(geometry, Point) and not geometry.is_empty:
        return geometry
    if isinstance(geometry, MultiPoint) and not geometry.is_empty:
        return geometry.geoms[0]
    return None


def read_points(path: str | Path, options: PointOptions, on_progress: ProgressCallback = no_progress
                ) -> IngestResult:
    """Read a point (or mixed) layer into twin objects and marker features."""
    path = Path(path)
    frame, info = read_layer(path, options.layer)
    warnings: list[str] = list(info["warnings"])
    crs = _resolve_crs(frame.crs, options.crs, warnings)
    frame = frame.set_crs(crs, allow_override=True)
    heights = [(g.z if isinstance(g, Point) and g.has_z else 0.0) if g is not None else 0.0 for g in frame.geometry]
    if not crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    kind_cols = [_pick(columns, options.kind_attr, (), "kind")] if options.kind_attr else \
        [c for c in KIND_ATTRIBUTES if c in columns]
    id_col = next((c for c in ("id", "@id", "osm_id", "full_id", "name_id", "ID") if c in columns), None)
    name_col = next((c for c in ("name", "NAME") if c in columns), None)
    reader = AttributeReader(boolean_fields(list(info["fields"]), list(info["dtypes"])))
    objects: list[ObjectRecord] = []
    skipped: Counter[str] = Counter()
    polygons = 0
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    for fid, geometry, row, h in zip(frame.index, frame.geometry, frame[columns].to_dict("records"), heights,
                                     strict=True):
        point = _point(geometry)
        if point is None:
            if geometry is not None and geometry.geom_type in ("Polygon", "MultiPolygon"):
                polygons += 1
            else:
                skipped[geometry.geom_type if geometry is not None else "no geometry"] += 1
            continue
        if not (-180 <= point.x <= 180 and -90 <= point.y <= 90):
            raise IngestError(f"coordinates fall outside the Earth in {crs.to_string()}: the layer's CRS is wrong "
                              "or missing; pass --crs EPSG")
        key = _object_key(row.get(id_col) if id_col else None, int(fid))
        if key in seen:
            key = f"{key}-{int(fid)}"
        seen.add(key)
        attributes = reader.row(row)
        kind = next((k for k in (kind_name(row.get(c), "") for c in kind_cols) if k), options.kind)
        kinds[kind] += 1
        name = str(attributes[name_col]) if name_col and name_col in attributes else None
        objects.append(ObjectRecord(f"{options.name}.{key}", kind, name, Point(point.x, point.y), float(h),
                                    float(h) + MARKER_HEIGHT_M, attributes))
    on_progress("read", len(frame), len(frame))
    features = lod1_features([ObjectRecord(o.id, o.kind, o.name, marker(*shapely.get_coordinates(o.footprint)[0]),
                                           o.zmin, o.zmax) for o in objects])
    if polygons:
        footprints = read_footprints(path, FootprintOptions(name=options.name, crs=options.crs, layer=options.layer))
        taken = {o.id for o in objects}
        extra = [o for o in footprints.objects if o.id not in taken]
        objects += extra
        features += [f for f in footprints.features if f.id in {o.id for o in extra}]
        warnings.append(f"{len(extra)} polygons of the layer were stored as footprints (kind building)")
        warnings.extend(w for w in footprints.warnings if "no usable polygon" not in w)
    if not objects:
        raise IngestError(f"{path.name} has no points ({_counted(skipped) or 'no features'})")
    if skipped:
        warnings.append(f"{skipped.total()} features were neither points nor polygons and were skipped: "
                        f"{_counted(skipped)}")
    warnings.extend(reader.warnings())
    return IngestResult(objects, features, crs.to_string(), warnings, tile_class="resource")
