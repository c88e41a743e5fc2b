"""Road lines (raw OSM ways or any line layer) → a routable network: lines split where they cross or share a
vertex, nodes shared by coordinate, speed from a speed-limit text or the road class, one-way direction.

Travel speed (km/h): the speed attribute when it parses (`"50"`, `"30 mph"`, `"50;30"` takes the first; `"none"`,
`"signals"`, `"walk"`, `"RU:urban"` fall back), else `CLASS_SPEED_KMH` of the class, else `DEFAULT_SPEED_KMH`.
Classes in `NOT_DRIVABLE` (footways, paths, cycleways, steps …) are left out and counted. One-way: `yes`, `true`,
`1` forward, `-1`/`reverse` backward; motorways and roundabouts (`junction=roundabout`) are one-way forward unless
tagged `no`. Bridges and tunnels are not told apart from the roads they cross (their crossings become junctions).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
import shapely
from pyproj import CRS, Geod
from shapely.geometry import LineString, MultiLineString
from shapely.strtree import STRtree

from ingest_gis.footprints import _pick, _resolve_crs
from ingest_gis.records import IngestError

CLASS_SPEED_KMH = {"motorway": 100, "trunk": 80, "primary": 60, "secondary": 50, "tertiary": 40,
                   "motorway_link": 60, "trunk_link": 50, "primary_link": 40, "secondary_link": 40,
                   "tertiary_link": 30, "unclassified": 30, "residential": 30, "road": 30, "living_street": 10,
                   "service": 20, "track": 15}
DEFAULT_SPEED_KMH = 30.0
NOT_DRIVABLE = frozenset({"footway", "path", "cycleway", "pedestrian", "steps", "bridleway", "corridor",
                          "proposed", "construction", "platform", "elevator"})
IMPLIED_ONEWAY = frozenset({"motorway"})
_SPEED = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_GEOD = Geod(ellps="WGS84")
NODE_DIGITS = 7
"""Node coordinates are rounded to 1e-7° (≈ 1 cm) to be shared."""


@dataclass(frozen=True)
class RoadOptions:
    name: str
    speed_attr: str | None = None
    class_attr: str | None = None
    oneway_attr: str | None = None
    crs: str | None = None
    layer: str | None = None


@dataclass(frozen=True)
class Edge:
    source: int
    target: int
    geometry: LineString
    length_m: float
    speed_kmh: float
    oneway: int  # 1 forward only, -1 backward only, 0 both ways
    road_class: str | None
    name: str | None
    source_id: str | None

    @property
    def cost_s(self) -> float:
        """Seconds forward; -1 when forbidden (pgRouting's convention)."""
        return -1.0 if self.oneway == -1 else self.length_m / (self.speed_kmh / 3.6)

    @property
    def reverse_cost_s(self) -> float:
        return -1.0 if self.oneway == 1 else self.length_m / (self.speed_kmh / 3.6)


@dataclass
class RoadNetwork:
    nodes: list[tuple[float, float]]
    edges: list[Edge]
    source_crs: str
    warnings: list[str] = field(default_factory=list)


def parse_speed(value: Any) -> float | None:
    """km/h from a speed-limit value ("50", "30 mph", "50;30", 80); None for "none", "signals" and the like."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value > 0 else None
    match = _SPEED.match(str(value).split(";")[0])
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    unit = (match.group(2) or "").lower()
    number *= 1.609344 if unit == "mph" else 1.852 if unit == "knots" else 1.0
    return number if 0 < number <= 300 else None


def parse_oneway(value: Any, road_class: str | None = None, junction: Any = None) -> int:
    text = str(value).strip().lower() if value is not None else ""
    if text in ("yes", "true", "1"):
        return 1
    if text in ("-1", "reverse"):
        return -1
    if text in ("no", "false", "0"):
        return 0
    implied = road_class in IMPLIED_ONEWAY or str(junction or "").strip().lower() in ("roundabout", "circular")
    return 1 if implied else 0


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _lines(geometry: Any) -> list[LineString]:
    if isinstance(geometry, LineString) and not geometry.is_empty:
        return [geometry]
    if isinstance(geometry, MultiLineString):
        return [g for g in geometry.geoms if not g.is_empty]
    return []


def split_lines(lines: list[LineString]) -> list[tuple[int, LineString]]:
    """Lines noded at every crossing and shared vertex (GEOS noding): (index of the input line, piece) pairs;
    a piece shared by overlapping inputs goes to the first of them."""
    if not lines:
        return []
    noded = shapely.node(shapely.MultiLineString([shapely.force_2d(line) for line in lines]))
    tree = STRtree(lines)
    out = []
    for piece in getattr(noded, "geoms", [noded]):
        if piece.length == 0:
            continue
        middle = piece.interpolate(0.5, normalized=True)
        hits = tree.query(middle, predicate="dwithin", distance=1e-9)
        if len(hits):
            out.append((int(min(hits)), piece))
    return out


def read_roads(path: str | Path, options: RoadOptions) -> RoadNetwork:
    """Read a road line layer into nodes and directed-cost edges."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    try:
        frame = pyogrio.read_dataframe(path, layer=options.layer or _road_layer(path))
    except Exception as exc:  # GDAL raises many types for unreadable input
        raise IngestError(f"cannot read {path.name} as a vector layer: {exc}") from exc
    warnings: list[str] = []
    crs = _resolve_crs(frame.crs, options.crs, warnings)
    frame = frame.set_crs(crs, allow_override=True)
    if not crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    class_col = _pick(columns, options.class_attr, ("highway", "class", "fclass", "type", "TYPE"), "class")
    speed_col = _pick(columns, options.speed_attr, ("maxspeed", "speed", "max_speed"), "speed")
    oneway_col = _pick(columns, options.oneway_attr, ("oneway", "ONEWAY", "one_way"), "oneway")
    junction_col = "junction" if "junction" in columns else None
    id_col = next((c for c in ("osm_id", "full_id", "id", "ID") if c in columns), None)
    name_col = next((c for c in ("name", "NAME") if c in columns), None)
    lines: list[LineString] = []
    rows: list[dict[str, Any]] = []
    left_out: Counter[str] = Counter()
    for geometry, row in zip(frame.geometry, frame[columns].to_dict("records"), strict=True):
        road_class = _text(row.get(class_col)) if class_col else None
        if road_class in NOT_DRIVABLE:
            left_out[road_class] += 1
            continue
        for line in _lines(geometry):
            lines.append(line)
            rows.append(row)
    if not lines:
        raise IngestError(f"{path.name} has no drivable road lines")
    nodes: dict[tuple[float, float], int] = {}

    def node(x: float, y: float) -> int:
        return nodes.setdefault((round(float(x), NODE_DIGITS), round(float(y), NODE_DIGITS)), len(nodes) + 1)

    edges = []
    for index, piece in split_lines(lines):
        row = rows[index]
        road_class = _text(row.get(class_col)) if class_col else None
        coords = shapely.get_coordinates(piece)
        speed = (parse_speed(row.get(speed_col)) if speed_col else None) or \
            float(CLASS_SPEED_KMH.get(road_class or "", DEFAULT_SPEED_KMH))
        edges.append(Edge(node(*coords[0]), node(*coords[-1]), piece, float(_GEOD.geometry_length(piece)), speed,
                          parse_oneway(row.get(oneway_col) if oneway_col else None, road_class,
                                       row.get(junction_col) if junction_col else None),
                          road_class, _text(row.get(name_col)) if name_col else None,
                          _text(row.get(id_col)) if id_col else None))
    if left_out:
        warnings.append(f"{left_out.total()} ways that are not drivable were left out: "
                        + ", ".join(f"{n} {k}" for k, n in left_out.most_common()))
    return RoadNetwork([(x, y) for (x, y), _ in sorted(nodes.items(), key=lambda item: item[1])], edges,
                       crs.to_string(), warnings)


def _road_layer(path: Path) -> str | None:
    """In a multi-layer source, the layer named like roads, else the first line layer, else GDAL's default."""
    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # single-layer formats may not list their layers
        return None
    if len(layers) <= 1:
        return None
    names = [str(name) for name, _ in layers]
    for wanted in ("roads", "road", "streets", "highways"):
        if wanted in names:
            return wanted
    return next((str(name) for name, kind in layers if kind and "LineString" in str(kind)), None)
