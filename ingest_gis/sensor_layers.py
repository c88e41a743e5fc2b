"""Sensor layers → sensor descriptions (plain dicts in the form `POST /sensors` takes), row by row.

CSV (UTF-8, a header row; `,` or `;` separated): `id`, `kind`, `lon`, `lat` (or `x`, `y` in `--crs`), `h`,
`object_id`, `name`, `unit`, `thresholds` (a JSON rule); every other non-empty column becomes an attribute (numbers
read as numbers). Point layers (GeoJSON, GeoPackage, Shapefile, anything GDAL reads): the point is the position
(its Z the height unless an `h` field gives one), fields as in CSV. Positions are reprojected to WGS84 lon/lat.
A row that cannot be read is an error with its row number (CSV: the line; layers: the feature, from 1); the rest
are read. Which field holds the id, kind and bound object can be chosen (`id_attr`, `kind_attr`, `object_attr`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from ingest_gis.records import IngestError

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
KNOWN = ("name", "unit", "h", "thresholds")


@dataclass(frozen=True)
class SensorLayerOptions:
    id_attr: str = "id"
    kind_attr: str = "kind"
    object_attr: str = "object_id"
    crs: str | None = None
    layer: str | None = None


@dataclass
class SensorRows:
    """What a file holds: (row number, sensor description) pairs, (row number, reason) errors, the source CRS."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    source_crs: str = "EPSG:4326"


class RowError(ValueError):
    """One row that cannot become a sensor description."""


def _crs(option: str | None, layer_crs: Any) -> CRS:
    if option:
        try:
            return CRS.from_user_input(int(option) if option.isdigit() else option)
        except CRSError as exc:
            raise IngestError(f"--crs {option!r} is not a CRS pyproj knows: {exc}") from exc
    return CRS.from_user_input(layer_crs) if layer_crs is not None else CRS.from_epsg(4326)


def _to_wgs84(crs: CRS) -> Transformer | None:
    return None if crs.equals(CRS.from_epsg(4326)) else Transformer.from_crs(crs, 4326, always_xy=True)


def _number(text: Any, what: str) -> float:
    if isinstance(text, bool):
        raise RowError(f"{what} must be a number, got {text!r}")
    try:
        value = float(text.strip().replace(",", ".") if isinstance(text, str) else text)
    except (TypeError, ValueError):
        raise RowError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise RowError(f"{what} must be finite, got {text!r}")
    return value


def _cell(text: str) -> Any:
    """A CSV cell as an attribute value: integers and decimals as numbers, anything else as text."""
    stripped = text.strip()
    for convert in (int, float):
        try:
            value = convert(stripped)
        except ValueError:
            continue
        if isinstance(value, int) or math.isfinite(value):
            return value
    return stripped


def _place(x: float, y: float, transformer: Transformer | None) -> tuple[float, float]:
    if transformer is None:
        return x, y
    lon, lat = transformer.transform(x, y)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise RowError(f"position ({x}, {y}) cannot be reprojected to WGS84")
    return float(lon), float(lat)


def _describe(values: dict[str, Any], options: SensorLayerOptions, xy: tuple[float, float] | None,
              z: float | None, transformer: Transformer | None) -> dict[str, Any]:
    """The sensor description of one row's values (empty values already left out)."""
    values = dict(values)
    sensor: dict[str, Any] = {}
    for key, attr in (("id", options.id_attr), ("kind", options.kind_attr)):
        value = values.pop(attr, None)
        if value is None or value == "":
            raise RowError(f"{attr} is missing")
        sensor[key] = str(value).strip()
    bound = values.pop(options.object_attr, None)
    if bound is not None:
        sensor["object_id"] = str(bound).strip()
    for key in ("name", "unit"):
        if key in values:
            sensor[key] = str(values.pop(key)).strip()
    h = _number(values.pop("h"), "h") if "h" in values else z
    rule = values.pop("thresholds", None)
    if rule is not None:
        try:
            sensor["thresholds"] = orjson.loads(rule) if isinstance(rule, str) else rule
        except orjson.JSONDecodeError as exc:
            raise RowError(f"thresholds is not JSON: {exc}") from None
    if xy is not None:
        lon, lat = _place(*xy, transformer)
        sensor["position"] = [lon, lat, h if h is not None else 0.0]
    if values:
        sensor["attributes"] = values
    return sensor


def read_csv(path: Path, options: SensorLayerOptions) -> SensorRows:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot read {path.name} as UTF-8 text: {exc}") from exc
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    if options.id_attr not in header:
        raise IngestError(f"{path.name} has no {options.id_attr!r} column (columns: {', '.join(header) or 'none'})")
    reader.fieldnames = header
    lon_col, lat_col = ("lon", "lat") if "lon" in header else ("x", "y")
    crs = _crs(options.crs, None)
    result = SensorRows(source_crs=crs.to_string())
    transformer = _to_wgs84(crs)
    for record in reader:
        row_number = reader.line_num
        try:
            if None in record:
                raise RowError(f"{len(record[None])} more values than the header has columns")
            values = {k: v for k, v in record.items() if v is not None and v.strip() != ""}
            x, y = values.pop(lon_col, None), values.pop(lat_col, None)
            if (x is None) != (y is None):
                raise RowError(f"give both {lon_col} and {lat_col}, or neither")
            xy = (_number(x, lon_col), _number(y, lat_col)) if x is not None else None
            text_keys = {options.id_attr, options.kind_attr, options.object_attr, "thresholds", *KNOWN}
            values = {k: (v if k in text_keys else _cell(v)) for k, v in values.items()}
            result.rows.append((row_number, _describe(values, options, xy, None, transformer)))
        except RowError as exc:
            result.errors.append((row_number, str(exc)))
    return result


def read_points(path: Path, options: SensorLayerOptions) -> SensorRows:
    import pyogrio  # GDAL loads only for layers

    from ingest_gis.attributes import AttributeReader, boolean_fields

    try:
        frame = pyogrio.read_dataframe(path, layer=options.layer, datetime_as_string=True)
        info = pyogrio.read_info(path, layer=options.layer)
    except Exception as exc:  # GDAL raises many types for unreadable input
        raise IngestError(f"cannot read {path.name} as a vector layer: {exc}") from exc
    crs = _crs(options.crs, frame.crs)
    result = SensorRows(source_crs=crs.to_string())
    transformer = _to_wgs84(crs)
    reader = AttributeReader(boolean_fields(list(info["fields"]), list(info["dtypes"])))
    columns = [c for c in frame.columns if c != frame.geometry.name]
    for number, (geometry, record) in enumerate(zip(frame.geometry, frame[columns].to_dict("records"),
                                                    strict=True), start=1):
        try:
            xy: tuple[float, float] | None = None
            z: float | None = None
            if geometry is not None and not geometry.is_empty:
                if geometry.geom_type != "Point":
                    raise RowError(f"geometry is a {geometry.geom_type}; sensors are points")
                xy = (_number(geometry.x, "x"), _number(geometry.y, "y"))
                z = _number(geometry.z, "z") if geometry.has_z else None
            result.rows.append((number, _describe(reader.row(record), options, xy, z, transformer)))
        except RowError as exc:
            result.errors.append((number, str(exc)))
    return result


def read_sensor_layer(path: str | Path, options: SensorLayerOptions | None = None) -> SensorRows:
    """Every row of a CSV file or point layer as a sensor description, or the reason it is not one."""
    path = Path(path)
    options = options or SensorLayerOptions()
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    result = read_csv(path, options) if path.suffix.lower() in CSV_SUFFIXES else read_points(path, options)
    seen: dict[str, int] = {}
    kept: list[tuple[int, dict[str, Any]]] = []
    for number, sensor in result.rows:
        first = seen.setdefault(sensor["id"], number)
        if first != number:
            result.errors.append((number, f"id {sensor['id']!r} repeats row {first}"))
        else:
            kept.append((number, sensor))
    result.rows = kept
    result.errors.sort()
    return result
