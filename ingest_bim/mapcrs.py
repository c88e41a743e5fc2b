"""Map CRS names as IFC files write them (`IfcProjectedCRS.Name`, `ePSet_ProjectedCRS.Name`, `--crs`).

Accepted: EPSG codes (`25832`, `EPSG:25832`, `EPSG 25832`), compound codes (`EPSG:5514+5705`,
`EPSG:5514 + EPSG:5705`, `5514+5705`), OGC URNs and URLs (compound URNs too) and any name or WKT pyproj knows,
compound names included (`GDA2020 / MGA zone 56 + AHD height`). A compound CRS is read through its horizontal
part; its heights are gravity-related and used unchanged as heights above the ellipsoid (no geoid model), which
`vertical_note` says for the dataset's warnings.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ingest_gis.records import IngestError

if TYPE_CHECKING:  # pyproj loads when a CRS is read: a model placed by its site's latitude needs none
    from pyproj import CRS

_CODE = r"(?:EPSG\s*[: ]?\s*)?(\d+)"
_COMPOUND_CODES = re.compile(rf"^\s*{_CODE}\s*\+\s*{_CODE}\s*$", re.IGNORECASE)
_SINGLE_CODE = re.compile(rf"^\s*{_CODE}\s*$", re.IGNORECASE)


def read_crs(name: str, what: str) -> CRS:
    """The CRS `name` stands for; IngestError naming `what` (the option or entity it came from) otherwise."""
    from pyproj.exceptions import CRSError

    from ingest_gis.citycrs import parse_crs

    text = name.strip()
    compound, single = _COMPOUND_CODES.match(text), _SINGLE_CODE.match(text)
    if compound:
        text = f"EPSG:{compound.group(1)}+{compound.group(2)}"
    elif single:
        text = f"EPSG:{single.group(1)}"
    try:
        crs = parse_crs(text)
    except CRSError as exc:
        raise IngestError(f"{what} {name!r} is not a coordinate reference system pyproj knows") from exc
    if crs.is_compound and (len(crs.sub_crs_list) != 2 or not crs.sub_crs_list[1].is_vertical):
        raise IngestError(f"{what} {name!r} is a compound CRS but not a horizontal CRS plus a vertical one")
    return crs


def horizontal(crs: CRS) -> CRS:
    """The part of `crs` that places eastings and northings (the CRS itself unless it is compound or 3D)."""
    if crs.is_compound:
        return crs.sub_crs_list[0]
    return crs.to_2d() if len(crs.axis_info) == 3 else crs


def is_projected(crs: CRS) -> bool:
    return horizontal(crs).is_projected


def vertical_note(crs: CRS, declared_datum: str | None = None) -> str | None:
    """What is done with heights of a compound CRS (or a declared vertical datum), for the warnings."""
    if crs.is_compound:
        vertical = crs.sub_crs_list[1]
        name = vertical.name
    elif declared_datum:
        name = declared_datum
    else:
        return None
    return (f"heights are {name}, gravity-related heights; they are used unchanged as heights above the WGS84 "
            "ellipsoid (no geoid model applied)")
