"""Where an IFC model stands on the Earth: the georeferencing read from the file, or given by the user.

Sources, in the order they are tried (the first usable one wins, skipped ones leave a warning):

1. IFC4/IFC4X3 `IfcMapConversion` (+ `IfcMapConversionScaled` factors) to an `IfcProjectedCRS`;
2. IFC4X3 `IfcRigidOperation` to an `IfcProjectedCRS` (lengths) or an `IfcGeographicCRS` (angles);
3. IFC2X3 `ePSet_MapConversion` + `ePSet_ProjectedCRS` on the `IfcProject` or an `IfcSite` (`epset.py`);
4. `IfcSite` RefLatitude/RefLongitude/RefElevation at the site's placement origin, turned by the model's TrueNorth.

User overrides: `crs` (an EPSG code or any CRS pyproj reads) replaces the map conversion's CRS, or, when the file
has no map conversion, says the model's coordinates already are coordinates in that CRS; `origin` puts the model
origin at lon, lat, height (or at easting, northing, height when `crs` is given too); `rotation` is the angle in
degrees, counter-clockwise, from east (grid east with a CRS) to the model's x axis — the angle IfcMapConversion
encodes in XAxisAbscissa/XAxisOrdinate — and replaces whatever rotation the chosen source has.

The unit subtlety of `IfcMapConversion.Scale`: by the standard, model coordinates × Scale = map coordinates, so a
model in millimetres on a map in metres says Scale 0.001. Some files (the IFC4X3 sample
`geographic-referencing-utm.ifc` among them) write the reciprocal, 1000, and many write 1 and leave the unit
change implied. We therefore compare the declared Scale with the ratio of the two units: within a factor of two
of it, Scale is read as written (model → map, the standard); otherwise as whichever of its reciprocal (map →
model) or a grid scale factor on top of the unit change lands closer to the unit ratio. The reading used is
recorded, with a warning when it is the reciprocal.

Heights: OrthogonalHeight and RefElevation are stored as given, as heights above the ellipsoid; no geoid model
is applied (CityTwin places everything on Cesium's ellipsoid, where footprints stand at 0 m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
from numpy.typing import NDArray

from ingest_bim.epset import find_epsets
from ingest_bim.mapcrs import horizontal, is_projected, read_crs, vertical_note
from ingest_gis.records import IngestError
from tiles.geodesy import EnuFrame

if TYPE_CHECKING:  # pyproj loads with the first map CRS (`mapcrs.read_crs`): a model placed by its site needs none
    from pyproj import CRS

SITE_DISAGREEMENT_M = 300.0  # a map conversion and the IfcSite reference further apart than this are reported
OVERRIDE_HINT = ("give --origin LON,LAT,H (where the model's origin stands) or --crs EPSG (when the model's "
                 "coordinates are map coordinates), and --rotation DEG if its x axis is not east")


@dataclass(frozen=True)
class GeorefOptions:
    """User overrides; every field left None lets the file decide."""

    crs: str | None = None
    origin: tuple[float, float, float] | None = None
    rotation: float | None = None


@dataclass(frozen=True)
class _Projected:
    crs: CRS
    eastings: float
    northings: float
    height: float
    theta: float  # radians, counter-clockwise from grid east to the model x axis
    scale: tuple[float, float, float]  # map units per model metre along x, y, z
    height_unit: float  # metres per map unit (heights)


@dataclass(frozen=True)
class _Tangent:
    lon: float
    lat: float
    height: float
    theta: float  # radians, counter-clockwise from east to the model x axis
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # model metres of the reference point


@dataclass
class Georef:
    """Model metres (world coordinates of the geometry iterator) → lon, lat, ellipsoidal height."""

    source: str
    crs: str
    method: _Projected | _Tangent
    parameters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._transformer = None
        if isinstance(self.method, _Projected):
            from pyproj import CRS, Transformer

            self._transformer = Transformer.from_crs(horizontal(self.method.crs), CRS.from_epsg(4326), always_xy=True)
        self._frame = (EnuFrame(self.method.lon, self.method.lat, self.method.height)
                       if isinstance(self.method, _Tangent) else None)
        self.enu_rotation = self._measure_rotation()

    def to_geodetic(self, xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, 3) model metres → (N, 3) lon°, lat°, height m."""
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        m = self.method
        c, s = math.cos(m.theta), math.sin(m.theta)
        if isinstance(m, _Projected):
            x, y = xyz[:, 0] * m.scale[0], xyz[:, 1] * m.scale[1]
            east = m.eastings + c * x - s * y
            north = m.northings + s * x + c * y
            assert self._transformer is not None
            if len(east) == 1:  # pyproj's scalar path for one point
                lon, lat = (np.array([v]) for v in self._transformer.transform(float(east[0]), float(north[0])))
            else:
                lon, lat = self._transformer.transform(east, north)
            height = (m.height + xyz[:, 2] * m.scale[2]) * m.height_unit
            return np.column_stack([lon, lat, height])
        local = xyz - np.asarray(m.offset)
        enu = np.column_stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1], local[:, 2]])
        assert self._frame is not None
        return self._frame.to_geodetic(enu)

    def origin(self) -> tuple[float, float, float]:
        lon, lat, h = self.to_geodetic(np.zeros((1, 3)))[0]
        return float(lon), float(lat), float(h)

    def _measure_rotation(self) -> NDArray[np.float64]:
        """The 3×3 rotation taking model directions to the ENU frame at the model origin (incl. convergence)."""
        pts = self.to_geodetic(np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]))
        frame = EnuFrame(float(pts[0, 0]), float(pts[0, 1]), float(pts[0, 2]))
        d = frame.from_geodetic(pts[:, 0], pts[:, 1], pts[:, 2])
        phi = math.atan2(d[1, 1] - d[0, 1], d[1, 0] - d[0, 0])
        c, s = math.cos(phi), math.sin(phi)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def normals_to_enu(self, normals: NDArray[np.floating]) -> NDArray[np.float32]:
        """Model-axis unit vectors → each vertex's ENU axes (a building is small: one rotation serves all)."""
        return (np.asarray(normals, dtype=np.float64) @ self.enu_rotation.T).astype(np.float32)

    def summary(self) -> dict[str, Any]:
        lon, lat, h = self.origin()
        return {"source": self.source, "crs": self.crs, "origin": [round(lon, 9), round(lat, 9), round(h, 4)],
                "rotation_deg": round(math.degrees(self.method.theta), 6), **self.parameters}


def parse_origin(text: str) -> tuple[float, float, float]:
    """`LON,LAT[,H]` → a tuple; raises IngestError with the expected form."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or not all(math.isfinite(p) for p in parts):
        raise IngestError(f"--origin {text!r} must be LON,LAT or LON,LAT,H (numbers)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else 0.0


def _length_scale(unit: ifcopenshell.entity_instance | None, default: float) -> float:
    if unit is None:
        return default
    try:
        return float(ifcopenshell.util.unit.get_unit_scale(unit))
    except Exception:  # an odd unit definition: keep the default rather than fail the ingest
        return default


def resolve_scale(declared: float | None, unit_ratio: float) -> tuple[float, str]:
    """Map units per model unit, and how the declared Scale was read (see the module docstring)."""
    value = declared if declared and declared > 0 else 1.0
    candidates = [(value, "as written (model × Scale = map)"),
                  (1.0 / value, "as its reciprocal (map × Scale = model)"),
                  (value * unit_ratio, "as a grid scale factor on top of the unit change")]
    if abs(math.log(value / unit_ratio)) <= math.log(2):
        return candidates[0]  # the standard reading whenever it is plausible
    return min(candidates[1:], key=lambda c: abs(math.log(c[0] / unit_ratio)))


def _theta(abscissa: float | None, ordinate: float | None) -> float:
    if not abscissa and not ordinate:
        return 0.0
    return math.atan2(float(ordinate or 0.0), float(abscissa or 0.0))


def _angle_unit(model: ifcopenshell.file) -> float:
    try:
        return float(ifcopenshell.util.unit.calculate_unit_scale(model, "PLANEANGLEUNIT"))
    except Exception:
        return 1.0


def _true_north(model: ifcopenshell.file) -> float:
    """Radians counter-clockwise from east to the model x axis, from the 3D model context's TrueNorth."""
    for context in model.by_type("IfcGeometricRepresentationContext", include_subtypes=False):
        north = getattr(context, "TrueNorth", None)
        if context.ContextType in (None, "Model") and north is not None:
            a, b = [*north.DirectionRatios, 0.0, 0.0][:2]
            if a or b:
                return math.atan2(a, b)  # north (a, b) in model axes: x axis is at atan2(a, b) from east
    return 0.0


def _dms(value: Any) -> float | None:
    if not value:
        return None
    parts = list(value) + [0] * (4 - len(value))
    d, m, s, us = (float(p) for p in parts[:4])
    return d + m / 60 + s / 3600 + us / 3.6e9


def _map_conversions(model: ifcopenshell.file) -> list[ifcopenshell.entity_instance]:
    if model.schema == "IFC2X3":
        return []
    operations = []
    for context in model.by_type("IfcGeometricRepresentationContext", include_subtypes=False):
        for op in getattr(context, "HasCoordinateOperation", None) or ():
            operations.append((0 if context.ContextType == "Model" else 1, op))
    return [op for _, op in sorted(operations, key=lambda o: o[0])]


class _Reader:
    """Tries the sources in order; collects warnings for the ones it skips."""

    def __init__(self, model: ifcopenshell.file, options: GeorefOptions) -> None:
        self.model = model
        self.options = options
        self.unit = float(ifcopenshell.util.unit.calculate_unit_scale(model))  # metres per project length unit
        self.warnings: list[str] = []

    def crs(self, name: str | None, what: str) -> CRS | None:
        if self.options.crs:
            return read_crs(self.options.crs, "--crs")
        if not name:
            self.warnings.append(f"{what} names no CRS; skipped (give --crs)")
            return None
        try:
            return read_crs(name, what)
        except IngestError as exc:
            self.warnings.append(f"{exc}; skipped (give --crs)")
            return None

    def projected(self, source: str, crs: CRS, e: float, n: float, h: float, theta: float,
                  declared_scale: float | None, factors: tuple[float, float, float], map_unit: float,
                  extra: dict[str, Any]) -> Georef:
        scale, reading = resolve_scale(declared_scale, self.unit / map_unit)
        if declared_scale not in (None, scale) and reading.startswith("as its reciprocal"):
            self.warnings.append(f"{source} Scale {declared_scale:g} read {reading}: the model is in "
                                 f"{self.unit:g} m units and the map in {map_unit:g} m units")
        per_metre = scale / self.unit
        params = {"eastings": e, "northings": n, "orthogonal_height": h, "declared_scale": declared_scale,
                  "scale_reading": reading, "map_units_per_metre": per_metre, **extra}
        method = _Projected(crs, e, n, h, self.rotation(theta), tuple(per_metre * f for f in factors),  # type: ignore[arg-type]
                            map_unit)
        return self.finish(Georef(source, crs.to_string(), method, params))

    def rotation(self, theta: float) -> float:
        """The source's rotation unless --rotation replaces it."""
        return theta if self.options.rotation is None else math.radians(self.options.rotation)

    def finish(self, georef: Georef) -> Georef:
        if self.options.rotation is not None:
            georef.parameters["rotation_from"] = "--rotation"
        georef.warnings = self.warnings
        return georef

    def map_conversion(self, op: ifcopenshell.entity_instance) -> Georef | None:
        target = op.TargetCRS
        if op.is_a("IfcMapConversion"):
            crs = self.crs(getattr(target, "Name", None), "IfcProjectedCRS")
            if crs is None:
                return None
            if not is_projected(crs):
                self.warnings.append("IfcMapConversion targets a CRS that is not projected; skipped")
                return None
            note = vertical_note(crs, getattr(target, "VerticalDatum", None))
            if note:
                self.warnings.append(note)
            factors = ((op.FactorX or 1.0, op.FactorY or 1.0, op.FactorZ or 1.0)
                       if op.is_a("IfcMapConversionScaled") else (1.0, 1.0, 1.0))
            map_unit = _length_scale(getattr(target, "MapUnit", None), _crs_unit(crs))  # no MapUnit: the CRS's
            return self.projected("IfcMapConversion", crs, float(op.Eastings), float(op.Northings),
                                  float(op.OrthogonalHeight or 0.0), _theta(op.XAxisAbscissa, op.XAxisOrdinate),
                                  op.Scale, factors, map_unit, {})
        if op.is_a("IfcRigidOperation"):
            first, second = op.FirstCoordinate, op.SecondCoordinate
            height = float(op.Height or 0.0)
            if target.is_a("IfcGeographicCRS") and first.is_a("IfcPlaneAngleMeasure"):
                angle = _angle_unit(self.model)
                lon, lat = math.degrees(first.wrappedValue * angle), math.degrees(second.wrappedValue * angle)
                tangent = _Tangent(lon, lat, height * self.unit, self.rotation(0.0))
                geo = Georef("IfcRigidOperation", "EPSG:4979", tangent,
                             {"longitude": lon, "latitude": lat, "height": height * self.unit})
                if self.options.crs:
                    self.warnings.append("--crs ignored: the model's IfcRigidOperation targets a geographic CRS")
                return self.finish(geo)
            crs = self.crs(getattr(target, "Name", None), "IfcProjectedCRS")
            if crs is None:
                return None
            map_unit = _length_scale(getattr(target, "MapUnit", None), _crs_unit(crs))
            # a rigid operation is distance-preserving: only the unit changes, whatever the units are
            method = _Projected(crs, float(first.wrappedValue), float(second.wrappedValue), height, self.rotation(0.0),
                                (1 / map_unit,) * 3, map_unit)
            return self.finish(Georef("IfcRigidOperation", crs.to_string(), method,
                                      {"eastings": first.wrappedValue, "northings": second.wrappedValue,
                                       "orthogonal_height": height}))
        self.warnings.append(f"{op.is_a()} is not a coordinate operation CityTwin reads; skipped")
        return None

    def epset(self) -> Georef | None:
        found = find_epsets(self.model)
        if found is None:
            return None
        conversion = found.conversion
        crs = self.crs(found.crs.get("Name"), "ePSet_ProjectedCRS")
        if crs is None:
            return None
        if not is_projected(crs):
            self.warnings.append(f"ePSet_ProjectedCRS {found.crs.get('Name')!r} is not a projected CRS; skipped")
            return None
        datum = found.crs.get("VerticalDatum")
        note = vertical_note(crs, str(datum) if datum else None)
        if note:
            self.warnings.append(note)
        extra = {"pset_on": found.conversion_on, "crs_pset_on": found.crs_on}
        return self.projected("ePSet_MapConversion", crs, float(conversion["Eastings"]),
                              float(conversion["Northings"]), float(conversion.get("OrthogonalHeight") or 0.0),
                              _theta(conversion.get("XAxisAbscissa"), conversion.get("XAxisOrdinate")),
                              conversion.get("Scale"), (1.0, 1.0, 1.0), found.map_unit(_crs_unit(crs)), extra)

    def site(self) -> Georef | None:
        for site in self.model.by_type("IfcSite"):
            lat, lon = _dms(site.RefLatitude), _dms(site.RefLongitude)
            if lat is None or lon is None:
                continue
            if lat == 0 and lon == 0:
                self.warnings.append("IfcSite RefLatitude/RefLongitude are both 0 (unset); skipped")
                continue
            offset = (0.0, 0.0, 0.0)
            if site.ObjectPlacement is not None:
                matrix = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)
                offset = tuple(float(v) * self.unit for v in matrix[:3, 3])  # type: ignore[assignment]
            elevation = float(site.RefElevation or 0.0) * self.unit
            theta = self.rotation(_true_north(self.model))
            method = _Tangent(lon, lat, elevation, theta, offset)
            return self.finish(Georef("IfcSite", "EPSG:4979", method,
                                      {"ref_latitude": lat, "ref_longitude": lon, "ref_elevation": elevation}))
        return None

    def override_origin(self) -> Georef:
        assert self.options.origin is not None
        a, b, h = self.options.origin
        theta = math.radians(self.options.rotation) if self.options.rotation is not None else _true_north(self.model)
        if self.options.crs:
            crs = read_crs(self.options.crs, "--crs")
            unit = 1.0 / _crs_unit(crs)
            method: _Projected | _Tangent = _Projected(crs, a, b, h / _crs_unit(crs), theta, (unit,) * 3,
                                                       _crs_unit(crs))
            return Georef("--origin", crs.to_string(), method, {"origin": [a, b, h]}, self.warnings)
        if not (-180 <= a <= 180 and -90 <= b <= 90):
            raise IngestError(f"--origin {a},{b},{h} is not LON,LAT,H (longitude −180…180, latitude −90…90)")
        return Georef("--origin", "EPSG:4979", _Tangent(a, b, h, theta), {"origin": [a, b, h]}, self.warnings)

    def override_crs(self) -> Georef:
        assert self.options.crs is not None
        crs = read_crs(self.options.crs, "--crs")
        theta = math.radians(self.options.rotation or 0.0)
        unit = _crs_unit(crs)
        method = _Projected(crs, 0.0, 0.0, 0.0, theta, (1 / unit,) * 3, unit)
        return Georef("--crs", crs.to_string(), method, {"model_coordinates_are": crs.to_string()}, self.warnings)


def _crs_unit(crs: CRS) -> float:
    axis = crs.axis_info[0] if crs.axis_info else None
    return float(axis.unit_conversion_factor) if axis and axis.unit_conversion_factor else 1.0


def read_georef(model: ifcopenshell.file, options: GeorefOptions | None = None) -> Georef:
    """The georeferencing of `model` (see the module docstring); IngestError naming the options if none."""
    options = options or GeorefOptions()
    reader = _Reader(model, options)
    if options.origin is not None:
        return reader.override_origin()
    if options.crs and options.crs.strip():
        read_crs(options.crs, "--crs")  # fail early on a bad code
    for op in _map_conversions(model):
        georef = reader.map_conversion(op)
        if georef:
            return _cross_check(model, georef, reader)
    georef = reader.epset()
    if georef:
        return _cross_check(model, georef, reader)
    if options.crs:
        return reader.override_crs()
    georef = reader.site()
    if georef:
        return georef
    skipped = "; ".join(reader.warnings)
    raise IngestError("the model has no usable georeferencing (no IfcMapConversion, IfcRigidOperation, "
                      "ePSet_MapConversion or IfcSite RefLatitude/RefLongitude"
                      + (f": {skipped}" if skipped else "") + f"); {OVERRIDE_HINT}")


def _cross_check(model: ifcopenshell.file, georef: Georef, reader: _Reader) -> Georef:
    """Compare a map conversion with the IfcSite reference; beyond `SITE_DISAGREEMENT_M` the map conversion (the
    more precise and deliberate of the two) is followed, and the warnings give both positions."""
    site = _Reader(model, GeorefOptions()).site()
    if site is None:
        return georef
    from pyproj import Geod

    a, b = georef.origin(), site.origin()
    distance = float(Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2])
    georef.parameters["site_reference_distance_m"] = round(distance, 3)
    if distance > SITE_DISAGREEMENT_M:
        far = f"{distance / 1000:.1f} km" if distance >= 10_000 else f"{distance:.0f} m"
        georef.warnings.append(f"{georef.source} puts the model origin at lon {a[0]:.6f}, lat {a[1]:.6f} and the "
                               f"IfcSite RefLatitude/RefLongitude at lon {b[0]:.6f}, lat {b[1]:.6f}, {far} apart; "
                               f"{georef.source} was followed")
    return georef
