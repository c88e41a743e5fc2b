"""CRS of a city model: names as city models write them, the horizontal part for lon/lat, and what the heights are.

Accepted names: EPSG codes (`7415`, `EPSG:7415`), OGC URNs (`urn:ogc:def:crs:EPSG::7415`, compound
`urn:ogc:def:crs,crs:EPSG::28992,crs:EPSG::5709`), OGC URLs (`http(s)://www.opengis.net/def/crs/EPSG/0/7415`,
`…/gml/srs/epsg.xml#28992`), the German AdV names (`urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH`) and any name or WKT
pyproj knows (`Amersfoort / RD New + NAP height`).

Heights are never shifted: no geoid model is available offline, so gravity-related heights (NAP, DHHN, NAVD88 …)
are used as heights above the WGS84 ellipsoid, which puts a model on the ellipsoid like every other dataset of
the twin rather than at its true ellipsoidal height. `vertical_note` says so in the dataset's warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from ingest_gis.records import IngestError

_EPSG_TAIL = re.compile(r"(?:EPSG[:/](?:[\d.]*[:/])*|epsg\.xml#)(\d+)\s*$", re.IGNORECASE)
ADV_HORIZONTAL = {"ETRS89_UTM32": 25832, "ETRS89_UTM33": 25833, "DE_DHDN_3GK2": 31466, "DE_DHDN_3GK3": 31467,
                  "DE_DHDN_3GK4": 31468, "DE_DHDN_3GK5": 31469, "ETRS89_3GK3": 5677, "ETRS89_Lat-Lon": 4258}
ADV_VERTICAL = {"DE_DHHN92_NH": 5783, "DE_DHHN2016_NH": 7837, "DE_DHHN12_NOH": 7699}


def parse_crs(name: str | int) -> CRS:
    """A CRS from any of the names city models use; `CRSError` when none fits."""
    text = str(name).strip()
    if text.isdigit():
        return CRS.from_epsg(int(text))
    if text.lower().startswith("urn:adv:crs:"):
        parts = text[len("urn:adv:crs:"):].split("*")
        if parts[0] in ADV_HORIZONTAL:
            codes = [ADV_HORIZONTAL[parts[0]]] + [ADV_VERTICAL[p] for p in parts[1:2] if p in ADV_VERTICAL]
            return CRS.from_user_input("+".join(f"EPSG:{c}" for c in codes))
        raise CRSError(f"unknown AdV CRS name {text!r}")
    try:
        return CRS.from_user_input(text)
    except CRSError:
        match = _EPSG_TAIL.search(text)
        if match and "," not in text:
            return CRS.from_epsg(int(match.group(1)))
        raise


@dataclass(frozen=True)
class SourceCrs:
    """The declared CRS, its horizontal part (for lon/lat) and its vertical part, if any."""

    crs: CRS

    @cached_property
    def horizontal(self) -> CRS:
        if self.crs.is_compound:
            return self.crs.sub_crs_list[0]
        return self.crs.to_2d() if len(self.crs.axis_info) == 3 else self.crs

    @cached_property
    def vertical(self) -> CRS | None:
        return self.crs.sub_crs_list[1] if self.crs.is_compound else None

    @property
    def name(self) -> str:
        code = self.crs.to_epsg()
        return f"EPSG:{code}" if code else self.crs.name

    @cached_property
    def _to_lonlat(self) -> Transformer:
        return Transformer.from_crs(self.horizontal, CRS.from_epsg(4326), always_xy=True)

    def to_lonlat(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Horizontal coordinates (x first: easting or longitude) → lon, lat in degrees."""
        lon, lat = self._to_lonlat.transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    @property
    def vertical_treatment(self) -> str:
        """`gravity-related`, `ellipsoidal` or `undeclared`."""
        if self.vertical is not None:
            return "gravity-related"
        return "ellipsoidal" if len(self.crs.axis_info) == 3 else "undeclared"

    def vertical_note(self) -> str | None:
        """What was done with the heights, for the dataset's warnings (None when nothing needs saying)."""
        if self.vertical is not None:
            datum = self.vertical.datum.name if self.vertical.datum else self.vertical.name
            return (f"heights are {self.vertical.name} ({datum}), gravity-related heights; they are used unchanged "
                    "as heights above the WGS84 ellipsoid (no geoid model applied), so the model stands on the "
                    "ellipsoid like the twin's other datasets, off its true ellipsoidal height by the local geoid "
                    "height")
        if self.vertical_treatment == "undeclared":
            return f"{self.name} declares no vertical datum; heights are used as heights above the WGS84 ellipsoid"
        return None

    def summary(self) -> dict[str, str | None]:
        return {"crs": self.name, "horizontal": self.horizontal.name,
                "vertical": self.vertical.name if self.vertical is not None else None,
                "heights": self.vertical_treatment}


def resolve_crs(declared: str | None, option: str | None, warnings: list[str], where: str) -> SourceCrs:
    """The CRS to read with: `--crs` wins over the file's (with a warning when they differ)."""
    if option:
        try:
            crs = parse_crs(option)
        except CRSError as exc:
            raise IngestError(f"--crs {option!r} is not a CRS pyproj knows: {exc}") from exc
        if declared:
            try:
                own = parse_crs(declared)
            except CRSError:
                own = None
            if own is None or own != crs:
                warnings.append(f"--crs {option} overrides the CRS {declared!r} declared in {where}")
    elif declared:
        try:
            crs = parse_crs(declared)
        except CRSError as exc:
            raise IngestError(f"{where} declares the CRS {declared!r}, which is not one pyproj knows; "
                              "pass --crs EPSG") from exc
    else:
        raise IngestError(f"{where} declares no CRS: pass --crs EPSG, e.g. --crs 7415 (RD New + NAP)")
    if crs.is_compound and (len(crs.sub_crs_list) != 2 or not crs.sub_crs_list[1].is_vertical):
        raise IngestError(f"compound CRS {crs.name!r} is not a horizontal CRS plus a vertical one")
    if not (crs.is_compound or crs.is_projected or crs.is_geographic):
        raise IngestError(f"CRS {crs.name!r} is neither projected nor geographic; pass --crs EPSG")
    return SourceCrs(crs)
