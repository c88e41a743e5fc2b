"""The coordinate system of a LAS/LAZ file: from its header (WKT or GeoTIFF keys) or from the user.

Horizontal units come with the CRS (pyproj converts feet, US survey feet and degrees). The vertical unit is read
from a compound or 3D CRS, else from the GeoTIFF `VerticalUnitsGeoKey`, else it is taken to be the horizontal
linear unit (files in feet have heights in feet). Heights are used as ellipsoidal: no geoid model is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pyproj import CRS
from pyproj.database import get_units_map
from pyproj.exceptions import CRSError

from ingest_gis.records import IngestError

VERTICAL_UNITS_GEOKEY = 4099
VERTICAL_CS_TYPE_GEOKEY = 4096


@dataclass(frozen=True)
class PointCrs:
    """Where a point cloud's X/Y/Z are: a horizontal CRS and the metres per Z unit."""

    horizontal: CRS
    z_to_metres: float
    source: str  # "header" or "--crs"
    label: str  # "EPSG:28992", or the name of a custom CRS
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"crs": self.label, "from": self.source, "z_to_metres": self.z_to_metres, "notes": self.notes}


@cache
def _linear_units() -> dict[str, tuple[str, float]]:
    """EPSG unit code → (name, metres per unit)."""
    return {u.code: (u.name, u.conv_factor) for u in get_units_map(auth_name="EPSG", category="linear").values()}


def parse_crs_argument(value: str) -> CRS:
    """`--crs`: an EPSG code (`28992`, `EPSG:28992`), WKT or a PROJ string."""
    text = value.strip()
    try:
        return CRS.from_epsg(int(text)) if text.isdigit() else CRS.from_user_input(text)
    except CRSError as exc:
        raise IngestError(f"--crs {value!r} is not a coordinate reference system pyproj knows: {exc}") from exc


def _label(crs: CRS) -> str:
    code = crs.to_epsg(min_confidence=90)
    return f"EPSG:{code}" if code else f"{crs.name} (custom WKT)"


def _geokeys(header: Any) -> dict[int, int]:
    """GeoTIFF keys stored inline (location 0) in the header's GeoKeyDirectory record."""
    for vlr in header.vlrs:
        if hasattr(vlr, "geo_keys"):
            return {int(k.id): int(k.value_offset) for k in vlr.geo_keys if int(k.tiff_tag_location) == 0}
    return {}


def _has_crs_records(header: Any) -> bool:
    records = list(header.vlrs) + list(header.evlrs or [])
    return any(getattr(r, "user_id", "") == "LASF_Projection" for r in records)


def _z_factor(crs: CRS, header: Any, notes: list[str]) -> tuple[CRS, float]:
    """The horizontal part of `crs` and the metres per Z unit."""
    if crs.is_compound:
        horizontal, vertical = crs.sub_crs_list[0], crs.sub_crs_list[1]
        axis = vertical.axis_info[0]
        notes.append(f"heights in {vertical.name} taken as ellipsoidal (no geoid model)")
        return horizontal, float(axis.unit_conversion_factor)
    if len(crs.axis_info) == 3:  # a 3D geographic or projected CRS carries its height axis
        return crs, float(crs.axis_info[2].unit_conversion_factor)
    keys = _geokeys(header)
    unit = keys.get(VERTICAL_UNITS_GEOKEY)
    if unit is not None and str(unit) in _linear_units():
        name, factor = _linear_units()[str(unit)]
        notes.append(f"vertical unit {name} from the GeoTIFF keys")
        if VERTICAL_CS_TYPE_GEOKEY in keys:
            notes.append("vertical datum taken as ellipsoidal (no geoid model)")
        return crs, float(factor)
    if crs.is_projected and crs.axis_info and crs.axis_info[0].unit_conversion_factor != 1.0:
        first = crs.axis_info[0]
        notes.append(f"no vertical unit given: heights taken in the horizontal unit ({first.unit_name})")
        return crs, float(first.unit_conversion_factor)
    return crs, 1.0


def resolve_point_crs(header: Any, override: str | None) -> PointCrs:
    """The CRS of a LAS header, or `override` (which wins over the header)."""
    notes: list[str] = []
    header_crs: CRS | None = None
    header_error = ""
    try:
        header_crs = header.parse_crs()
    except Exception as exc:  # laspy raises several kinds for malformed WKT/GeoTIFF records
        header_error = str(exc)
    if override:
        crs = parse_crs_argument(override)
        if header_crs is not None and not header_crs.equals(crs, ignore_axis_order=True):
            notes.append(f"header CRS {_label(header_crs)} replaced by --crs")
        source = "--crs"
    elif header_crs is not None:
        crs, source = header_crs, "header"
    elif header_error or _has_crs_records(header):
        raise IngestError("the file's CRS records cannot be read" + (f" ({header_error})" if header_error else "")
                          + "; give the CRS with --crs EPSG")
    else:
        raise IngestError("the file has no CRS in its header (no WKT or GeoTIFF keys); give it with --crs EPSG, "
                          "e.g. --crs 28992 for the Dutch RD New grid")
    if crs.is_geocentric:
        raise IngestError(f"{_label(crs)} is geocentric; point clouds must be in a projected or geographic CRS")
    horizontal, z_factor = _z_factor(crs, header, notes)
    return PointCrs(horizontal, z_factor, source, _label(crs), notes)
