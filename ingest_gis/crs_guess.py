"""The projected grid a city model meant when its CRS name resolves to a geographic CRS but its coordinates are
plainly projected metres.

City models exported from databases often name their CRS by the database's short SRS name — a bare datum such as
`Amersfoort`, `DHDN`, `ETRS89` or `NAD83` — whose EPSG match is the geographic CRS (degrees), while the coordinates
are metres of a grid on that datum (RD New, Gauss-Krüger, UTM …). The candidates are the projected CRSs in metres
on the same geodetic CRS (pyproj's database, `query_crs_info` over the datum's area of use); a candidate fits when
the data, inversely projected with it, lies inside its area of use. Exactly one fit (after folding together CRSs
that place the data identically, such as the N-E and E-N variants of one grid) is taken, with a warning. Several
fits — UTM zones, whose eastings repeat from zone to zone, or overlapping national grids — or none are refused,
naming the candidates for `--crs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.crs import CompoundCRS
from pyproj.database import query_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import CRSError, ProjError

from ingest_gis.citycrs import SourceCrs
from ingest_gis.records import IngestError

LISTED = 12
"""Candidates named in a refusal; more are counted."""


@dataclass(frozen=True)
class Candidate:
    code: str
    name: str
    crs: CRS
    placed: tuple[float, ...]
    """The sample points' lon/lat under this CRS, rounded to ≈1 cm: equal tuples place the data identically."""

    @property
    def label(self) -> str:
        return f"EPSG:{self.code} ({self.name})"


def _looks_projected(x: NDArray[np.float64], y: NDArray[np.float64]) -> bool:
    return bool(len(x)) and (float(np.abs(x).max()) > 180 or float(np.abs(y).max()) > 90)


def _samples(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """The corners and the centre of the data's box."""
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    return [x0, x1, x0, x1, (x0 + x1) / 2], [y0, y0, y1, y1, (y0 + y1) / 2]


def _inside(lon: float, lat: float, bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    across = west > east  # an area of use over the antimeridian
    return south <= lat <= north and ((lon >= west or lon <= east) if across else west <= lon <= east)


def fitting_candidates(geographic: CRS, x: NDArray[np.float64], y: NDArray[np.float64]) -> list[Candidate]:
    """Projected CRSs in metres on `geographic`'s datum whose area of use holds the data, equivalent ones folded
    (the one whose first axis points east kept)."""
    area = geographic.area_of_use
    if area is None:
        return []
    sample_x, sample_y = _samples(x, y)
    infos = query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS, allow_deprecated=False,
                           area_of_interest=AreaOfInterest(*area.bounds), contains=False)
    found: dict[tuple[float, ...], Candidate] = {}
    seen: set[str] = set()
    for info in infos:
        if info.code in seen or info.area_of_use is None:
            continue
        seen.add(info.code)
        try:
            crs = CRS.from_authority(info.auth_name, info.code)
            base = crs.geodetic_crs
            if base is None or not base.equals(geographic, ignore_axis_order=True):
                continue
            if any(axis.unit_name != "metre" for axis in crs.axis_info):
                continue
            lon, lat = Transformer.from_crs(crs, base, always_xy=True).transform(sample_x, sample_y, errcheck=True)
        except (CRSError, ProjError):
            continue
        if not all(_inside(a, b, info.area_of_use.bounds) for a, b in zip(lon, lat, strict=True)):
            continue
        placed = tuple(round(v, 7) for v in (*lon, *lat))
        candidate = Candidate(info.code, info.name, crs, placed)
        kept = found.get(placed)
        if kept is None or (_east_first(crs) and not _east_first(kept.crs)):
            found[placed] = candidate
    return sorted(found.values(), key=lambda c: int(c.code) if c.code.isdigit() else 0)


def _east_first(crs: CRS) -> bool:
    return bool(crs.axis_info) and crs.axis_info[0].direction.lower() == "east"


def _with_heights(source: SourceCrs, projected: CRS) -> CRS:
    """The projected CRS with the declared CRS's heights: its vertical part, or ellipsoidal heights for a 3D one."""
    if source.vertical is not None:
        return CompoundCRS(f"{projected.name} + {source.vertical.name}", [projected, source.vertical])
    return projected.to_3d() if source.vertical_treatment == "ellipsoidal" else projected


def settle_projected(source: SourceCrs, x: NDArray[np.float64], y: NDArray[np.float64], *, declared: str,
                     chosen: bool, warnings: list[str], where: str) -> SourceCrs:
    """`source`, or the one projected CRS on its datum that fits the data when `source` is geographic and the data
    are projected metres. `chosen` (the user's `--crs`) is never replaced: a misfit is refused with the
    candidates."""
    geographic = source.horizontal
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if not geographic.is_geographic or not _looks_projected(x, y):
        return source
    datum = geographic.datum.name if geographic.datum else geographic.name
    named = f"--crs {declared} is" if chosen else f"{where} declares the CRS {declared!r},"
    whose = f"{where}'s" if chosen else "its"
    problem = (f"{named} the geographic CRS {source.name} ({geographic.name}, degrees), but {whose} coordinates are "
               f"projected metres (x {x.min():.0f} to {x.max():.0f}, y {y.min():.0f} to {y.max():.0f})")
    candidates = fitting_candidates(geographic, x, y)
    if len(candidates) == 1 and not chosen:
        picked = candidates[0]
        warnings.append(f"{problem}; they are read in {picked.label}, the only projected CRS on the {datum} datum "
                        "whose area of use holds them (pass --crs to choose another)")
        return SourceCrs(_with_heights(source, picked.crs))
    if not candidates:
        raise IngestError(f"{problem}, and no projected CRS on the {datum} datum holds them in its area of use; "
                          "pass --crs EPSG with the projected CRS they are in")
    listed = ", ".join(c.label for c in candidates[:LISTED])
    more = f" and {len(candidates) - LISTED} more" if len(candidates) > LISTED else ""
    counted = "1 projected CRS on the {d} datum holds" if len(candidates) == 1 else \
        f"{len(candidates)} projected CRSs on the {{d}} datum hold"
    raise IngestError(f"{problem}; {counted.format(d=datum)} them in their area of use: {listed}{more}; pass the "
                      "right one with --crs")
