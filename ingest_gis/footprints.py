"""Building footprints with heights (GeoJSON, Shapefile, GeoPackage) → twin objects and LoD1 features.

Height of a building, in order: the height attribute (numbers or numeric strings such as "11.3" or "11.3 m"),
else levels × storey height, else `DEFAULT_HEIGHT` (counted in a warning). A footprint with Z values takes its
lowest Z as the base height; otherwise the base is 0 m. Geometry is reprojected to EPSG:4326 with pyproj.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from warnings import catch_warnings, simplefilter

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
import shapely.errors
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ingest_gis.attributes import AttributeReader, boolean_fields
from ingest_gis.lod1 import extrude_many
from ingest_gis.records import IngestError, IngestResult, ObjectRecord, ProgressCallback, no_progress
from tiles.model import Feature

DEFAULT_HEIGHT = 9.0
"""Metres given to a building with neither a usable height nor levels (three storeys)."""
DEFAULT_STOREY_HEIGHT = 3.0
HEIGHT_ATTRIBUTES = ("height", "building:height", "measuredHeight", "HEIGHT")
LEVELS_ATTRIBUTES = ("levels", "building:levels", "storeys", "LEVELS")
ID_ATTRIBUTES = ("id", "@id", "osm_id", "gml_id", "ID")
NAME_ATTRIBUTES = ("name", "NAME")
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?)\s*(m|meter|meters|metre|metres)?\s*$", re.IGNORECASE)
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class FootprintOptions:
    """How to read a footprint layer."""

    name: str
    height_attr: str | None = None
    levels_attr: str | None = None
    storey_height: float = DEFAULT_STOREY_HEIGHT
    crs: str | None = None
    layer: str | None = None


def parse_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string ("11.3", "11,3", "11.3 m"), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    else:
        match = _NUMBER.match(str(value))
        if not match:
            return None
        number = float(match.group(1).replace(",", "."))
    return number if math.isfinite(number) else None


def _pick(columns: list[str], explicit: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    if explicit:
        if explicit not in columns:
            raise IngestError(f"{what} attribute {explicit!r} is not in the layer; it has: {', '.join(columns)}")
        return explicit
    return next((c for c in candidates if c in columns), None)


def _resolve_crs(layer_crs: Any, option: str | None, warnings: list[str]) -> CRS:
    if option:
        try:
            crs = CRS.from_user_input(int(option) if option.isdigit() else option)
        except CRSError as exc:
            raise IngestError(f"--crs {option!r} is not a CRS pyproj knows: {exc}") from exc
        if layer_crs is not None and CRS.from_user_input(layer_crs) != crs:
            warnings.append(f"--crs {crs.to_string()} overrides the layer's own CRS {layer_crs}")
        return crs
    if layer_crs is None:
        raise IngestError("the layer has no CRS (no .prj, SRS or crs member): pass --crs EPSG, e.g. --crs 25833")
    return CRS.from_user_input(layer_crs)


def _polygonal(geometry: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """The valid polygonal part of a geometry, repaired if needed; None when nothing is left."""
    if geometry is None or geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon | MultiPolygon)]
    polygons = [p for part in parts for p in getattr(part, "geoms", [part]) if not p.is_empty]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _skipped_kind(geometry: BaseGeometry | None) -> str:
    """What a feature without a usable polygon had: its geometry type, or why it has none."""
    if geometry is None:
        return "no geometry"
    if geometry.is_empty:
        return f"empty {geometry.geom_type}"
    return "invalid polygon" if geometry.geom_type in ("Polygon", "MultiPolygon") else geometry.geom_type


def _counted(kinds: Counter[str]) -> str:
    """`3 Point, 1 LineString` — most frequent first."""
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


def _base_height(geometry: BaseGeometry) -> float:
    if not geometry.has_z:
        return 0.0
    z = shapely.get_coordinates(geometry, include_z=True)[:, 2]
    z = z[np.isfinite(z)]
    return float(z.min()) if len(z) else 0.0


def _object_key(value: Any, fallback: int) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    key = _KEY_UNSAFE.sub("-", text).strip("-")
    return key or f"f{fallback}"


def lod1_features(objects: list[ObjectRecord]) -> list[Feature]:
    """The LoD1 tile feature of each footprint object: its prism, with name and height to style by."""
    meshes = extrude_many([o.footprint for o in objects], [o.zmin for o in objects], [o.zmax for o in objects])
    return [Feature(o.id, mesh, {"name": o.name, "height": round(o.zmax - o.zmin, 3)})
            for o, mesh in zip(objects, meshes, strict=True)]


def read_layer(path: Path, layer: str | None) -> tuple[Any, dict[str, Any]]:
    """A vector layer read by GDAL (fids as index, dates as text) and its layer info; IngestError if it cannot be.
    A feature whose geometry GEOS cannot build (an unclosed ring, a ring of two points) is read without one, so
    the rest still ingest; `info["warnings"]` says which, with what GDAL reported while reading."""
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    with catch_warnings(record=True) as reported:
        simplefilter("always", RuntimeWarning)
        try:
            info = pyogrio.read_info(path, layer=layer)
            try:
                frame = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True, datetime_as_string=True)
                unbuilt: list[str] = []
            except shapely.errors.GEOSException:
                frame, unbuilt = _with_buildable_geometries(path, layer)
        except IngestError:
            raise
        except Exception as exc:  # GDAL raises many types for unreadable input
            raise IngestError(f"cannot read {path.name} as a vector layer: {exc}") from exc
    said = list(dict.fromkeys(str(w.message) for w in reported if issubclass(w.category, RuntimeWarning)))
    info["warnings"] = [f"GDAL reading {path.name}: {message}" for message in said]
    if unbuilt:
        shown = ", ".join(unbuilt[:10]) + (", …" if len(unbuilt) > 10 else "")
        info["warnings"].append(f"{len(unbuilt)} features have a geometry GEOS cannot build (an unclosed or "
                                f"too short ring, say) and were read without one: fid {shown}")
    return frame, info


def _with_buildable_geometries(path: Path, layer: str | None) -> tuple[Any, list[str]]:
    """The layer read again with each geometry built on its own: one GEOS cannot build becomes None (its fid
    listed)."""
    import geopandas

    frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, fid_as_index=True,
                                   datetime_as_string=True)
    meta, fids, wkb, _ = pyogrio.raw.read(path, layer=layer, columns=[], return_fids=True)
    if len(fids) != len(frame) or not (np.asarray(fids) == frame.index.to_numpy()).all():
        raise IngestError(f"cannot read {path.name} as a vector layer: its features changed while it was read")
    geometries = shapely.from_wkb(wkb, on_invalid="ignore")
    unbuilt = [str(f) for f, w, g in zip(fids, wkb, geometries, strict=True) if w is not None and g is None]
    return geopandas.GeoDataFrame(frame, geometry=geometries, crs=meta["crs"]), unbuilt


def read_footprints(
    path: str | Path, options: FootprintOptions, on_progress: ProgressCallback = no_progress
) -> IngestResult:
    """Read a footprint layer into twin objects and LoD1 tile features (no I/O besides reading `path`)."""
    path = Path(path)
    frame, info = read_layer(path, options.layer)
    if len(frame) == 0:
        raise IngestError(f"{path.name} has no features")
    geometry_types = set(frame.geometry.dropna().geom_type)
    if not geometry_types & {"Polygon", "MultiPolygon"}:
        found = ", ".join(sorted(geometry_types)) or "no geometry"
        why = "".join(f"; {w}" for w in info["warnings"])
        raise IngestError(f"{path.name} is not a polygon layer (found {found}); footprints must be polygons{why}")

    warnings: list[str] = list(info["warnings"])
    crs = _resolve_crs(frame.crs, options.crs, warnings)
    source_crs = crs.to_string()
    frame = frame.set_crs(crs, allow_override=True)
    base_heights = [_base_height(g) if g is not None else 0.0 for g in frame.geometry]
    if not crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    bounds = frame.total_bounds
    if not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
        raise IngestError(
            f"coordinates fall outside the Earth in {source_crs} (bounds {bounds.round(3).tolist()}): "
            "the layer's CRS is wrong or missing; pass --crs EPSG"
        )

    columns = [c for c in frame.columns if c != frame.geometry.name]
    height_col = _pick(columns, options.height_attr, HEIGHT_ATTRIBUTES, "height")
    levels_col = _pick(columns, options.levels_attr, LEVELS_ATTRIBUTES, "levels")
    id_col = next((c for c in ID_ATTRIBUTES if c in columns), None)
    name_col = next((c for c in NAME_ATTRIBUTES if c in columns), None)

    objects: list[ObjectRecord] = []
    defaulted = repaired = 0
    skipped: Counter[str] = Counter()
    reader = AttributeReader(boolean_fields(list(info["fields"]), list(info["dtypes"])))
    seen: set[str] = set()
    records = frame[columns].to_dict("records")
    total = len(frame)
    for i, (fid, geometry, row, base) in enumerate(
        zip(frame.index, frame.geometry, records, base_heights, strict=True)
    ):
        footprint = _polygonal(geometry)
        if footprint is None:
            skipped[_skipped_kind(geometry)] += 1
            continue
        if geometry is not None and not geometry.is_valid:
            repaired += 1
        footprint = shapely.force_2d(footprint)
        height = parse_number(row.get(height_col)) if height_col else None
        if height is None or height <= 0:
            levels = parse_number(row.get(levels_col)) if levels_col else None
            height = levels * options.storey_height if levels and levels > 0 else None
        if height is None:
            height = DEFAULT_HEIGHT
            defaulted += 1
        key = _object_key(row.get(id_col) if id_col else None, int(fid))
        if key in seen:
            key = f"{key}-{int(fid)}"
        seen.add(key)
        object_id = f"{options.name}.{key}"
        attributes = reader.row(row)
        name = str(attributes[name_col]) if name_col and name_col in attributes else None
        top = base + height
        objects.append(ObjectRecord(object_id, "building", name, footprint, base, top, attributes))
        if i % 1000 == 999 or i == total - 1:
            on_progress("read", i + 1, total)

    if not objects:
        raise IngestError(f"{path.name} has no usable polygon footprints ({_counted(skipped)})")
    features = lod1_features(objects)
    if defaulted:
        warnings.append(
            f"{defaulted} buildings had no usable height or levels and were given {DEFAULT_HEIGHT} m"
        )
    if repaired:
        warnings.append(f"{repaired} invalid footprints were repaired")
    if skipped:
        warnings.append(f"{skipped.total()} features had no usable polygon and were skipped: {_counted(skipped)}")
    warnings.extend(reader.warnings())
    return IngestResult(objects, features, source_crs, warnings, tile_class="building")
