"""Coordinate reference systems offered to clients (OGC API – Features Part 2) and their SQL.

Storage is EPSG:4326 with lon/lat axis order (what OGC calls CRS84). A client may ask for or send coordinates in
CRS84, in EPSG:4326 with its official latitude-first axis order, or in a projected CRS (Web Mercator, ETRS89 UTM
32N/33N); this module turns such coordinates into storage geometry and storage geometry into GeoJSON in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, literal, literal_column, or_

from twin.ogc.errors import QueryError
from twin.ogc.numbers import LON_LAT, MAX_PROJECTED, Bounds, check_coordinates, check_height, checked

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"


@dataclass(frozen=True)
class Crs:
    """One offered CRS: its URI, PostGIS SRID, whether latitude comes first, output precision, and the x/y box
    (in x-first order) within which coordinates given in it are taken."""

    uri: str
    srid: int
    lat_first: bool = False
    decimals: int = 7
    bounds: Bounds = LON_LAT

    @property
    def geographic(self) -> bool:
        return self.srid == 4326


CRS84 = Crs(CRS84_URI, 4326)
EPSG4326 = Crs(EPSG_URI.format(code=4326), 4326, lat_first=True)
MERCATOR_SQUARE: Bounds = (-MAX_PROJECTED, -MAX_PROJECTED, MAX_PROJECTED, MAX_PROJECTED)
UTM_STRIP: Bounds = (500_000 - 15e6, -MAX_PROJECTED, 500_000 + 15e6, MAX_PROJECTED)
"""Eastings 15,000 km either side of the central meridian: PROJ's transverse Mercator refuses points beyond
≈16,500 km (outside the projection domain), which PostGIS would raise as a server error."""
SUPPORTED: tuple[Crs, ...] = (
    CRS84,
    EPSG4326,
    Crs(EPSG_URI.format(code=3857), 3857, decimals=3, bounds=MERCATOR_SQUARE),
    Crs(EPSG_URI.format(code=25832), 25832, decimals=3, bounds=UTM_STRIP),
    Crs(EPSG_URI.format(code=25833), 25833, decimals=3, bounds=UTM_STRIP),
)
_BY_NAME = {c.uri: c for c in SUPPORTED}
_BY_NAME.update({f"EPSG:{c.srid}": c for c in SUPPORTED if c is not CRS84})
_BY_NAME.update({"CRS84": CRS84, "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84, "[EPSG:4326]": EPSG4326})


def crs_uris() -> list[str]:
    return [c.uri for c in SUPPORTED]


def parse_crs(value: str | None, parameter: str = "crs") -> Crs:
    """The CRS a parameter names (URI, `EPSG:n` or `CRS84`); CRS84 when absent."""
    if value is None or value == "":
        return CRS84
    crs = _BY_NAME.get(value.strip())
    if crs is None:
        raise QueryError(f"{parameter}={value!r} is not offered; use one of {', '.join(crs_uris())}")
    return crs


def geojson_sql(geometry: ColumnElement, crs: Crs) -> ColumnElement:
    """GeoJSON text of storage geometry in `crs` (axis order and precision of that CRS, no `crs` member).

    The SRID and precision are this module's own integers, written into the SQL rather than bound.
    """
    if crs.lat_first:
        geometry = func.ST_FlipCoordinates(geometry)
    elif not crs.geographic:
        geometry = func.ST_Transform(geometry, literal_column(str(int(crs.srid))))
    return func.ST_AsGeoJSON(geometry, literal_column(str(int(crs.decimals))), literal_column("0"))


def to_storage(geometry: ColumnElement, crs: Crs) -> ColumnElement:
    """Storage geometry (EPSG:4326 lon/lat) from a geometry whose coordinates are in `crs` (SRID unset)."""
    if crs is CRS84:
        return func.ST_SetSRID(geometry, 4326)
    if crs.lat_first:
        return func.ST_SetSRID(func.ST_FlipCoordinates(geometry), 4326)
    return func.ST_Transform(func.ST_SetSRID(geometry, crs.srid), 4326)


def parse_numbers(text: str, parameter: str) -> list[float]:
    """Comma-separated numbers, each finite and normal (`twin.ogc.numbers`)."""
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise QueryError(f"{parameter}={text!r} must be comma-separated numbers") from None
    for number in numbers:
        checked(parameter, number)
    return numbers


def bbox_condition(footprint: ColumnElement, zmin: ColumnElement, zmax: ColumnElement,
                   numbers: Sequence[float], crs: Crs) -> ColumnElement[bool]:
    """Objects whose footprint meets a 2D (4 numbers) or 3D (6 numbers, height range on zmin/zmax) box in `crs`."""
    if len(numbers) not in (4, 6):
        raise QueryError(f"bbox must have 4 or 6 numbers, got {len(numbers)}")
    three_d = len(numbers) == 6
    x1, y1, x2, y2 = (numbers[0], numbers[1], numbers[3], numbers[4]) if three_d else tuple(numbers)
    if crs.lat_first:
        x1, y1, x2, y2 = y1, x1, y2, x2
    check_coordinates("bbox corner", [(x1, y1), (x2, y2)], crs.bounds)
    if y1 > y2 or (x1 > x2 and not crs.geographic):
        raise QueryError(f"bbox {list(numbers)} has a lower corner above or right of its upper corner")
    if crs.geographic:
        boxes = [(x1, y1, x2, y2)] if x1 <= x2 else [(x1, y1, 180.0, y2), (-180.0, y1, x2, y2)]
        condition = or_(*(func.ST_Intersects(footprint, func.ST_MakeEnvelope(*b, 4326)) for b in boxes))
    else:
        segment = max(x2 - x1, y2 - y1) / 16 or 1.0
        envelope = func.ST_MakeEnvelope(x1, y1, x2, y2, crs.srid)
        condition = func.ST_Intersects(footprint, func.ST_Transform(func.ST_Segmentize(envelope, segment), 4326))
    if three_d:
        low, high = check_height("bbox minimum height", numbers[2]), check_height("bbox maximum height", numbers[5])
        if low > high:
            raise QueryError(f"bbox {list(numbers)} has a minimum height above its maximum height")
        condition = and_(condition, zmax >= literal(low), zmin <= literal(high))
    return condition
