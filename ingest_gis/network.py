"""Underground utility networks (gas, water, drainage, power, heat, telecom): pipe lines and node points →
pipes and nodes of a graph, twin objects and tube meshes.

- Lines (GeoJSON, Shapefile, GeoPackage; LineString/MultiLineString) are the pipes; points in the same layer or in
  `nodes` layers are manholes, valves, junctions, tanks, sources … Kind of a point: its `kind`/`type`/`node_type`
  attribute, else the file name (`ky4_junctions.geojson` → `junction`).
- Diameter: `diameter_attr` (else the first of `diameter`, `dn`, `diam`, `DIAMETER`, `DN`), in `diameter_unit`
  (m, mm, cm or in); a pipe without one takes `default_diameter`, and with no default the ingest is refused.
- Depth: `depth_attr` (else `depth`, `cover_depth`, `DEPTH`): metres from the ground down to the pipe's centre
  line; else the type's default (`DEFAULT_DEPTH_M`). The ground is the terrain when a `ground` sampler is given,
  else 0 m (the ellipsoid), so a pipe's centre lies at ground − depth at every vertex.
- Connectivity: pipes are split where a valve lies on them (within `snap_m`), and pipe ends and nodes within
  `snap_m` of each other become one graph node (single linkage); other nodes join pipes only at their ends (a
  junction that merely lies on a pipe, as in EPANET models, is not connected to it). Zero-length links given as
  points (pumps) merge the junctions they stand on into one node. Pipes that cross without a shared node are not
  connected (they lie at different depths). Zero-length pipes (pumps given as points) are skipped and counted.
- Colour by type after the APWA uniform colour code for marking underground utilities (American Public Works
  Association, ANSI Z535.1 safety colours): gas yellow, power red, telecom orange, potable water blue, sewer and
  drainage green; heat (steam and hot water, APWA yellow like gas) a darker amber so both stay apart.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Geod
from shapely.geometry import LineString, MultiLineString, Point

from ingest_gis.attributes import AttributeReader, boolean_fields
from ingest_gis.footprints import _object_key, _pick, _resolve_crs, parse_number, read_layer
from ingest_gis.network_kinds import COLORS, DEFAULT_DEPTH_M, NETWORK_TYPES, NODE_COLOR, UNITS
from ingest_gis.network_tubes import shaft, tube
from ingest_gis.records import IngestError, IngestResult, ObjectRecord
from tiles.model import Feature

DIAMETER_ATTRIBUTES = ("diameter", "dn", "diam", "DIAMETER", "DN")
DEPTH_ATTRIBUTES = ("depth", "cover_depth", "DEPTH")
KIND_ATTRIBUTES = ("kind", "type", "node_type", "class")
ID_ATTRIBUTES = ("id", "name", "ID", "NAME", "fid")
SOURCE_KINDS = frozenset({"source", "reservoir", "tank", "station", "regulator", "plant", "substation", "outfall"})
VALVE_KINDS = frozenset({"valve"})
SHAFT_KINDS = frozenset({"manhole", "inlet", "chamber"})
_SNAKE = re.compile(r"[^a-z0-9]+")
Ground = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]


@dataclass(frozen=True)
class NetworkOptions:
    name: str
    network_type: str
    nodes: tuple[str, ...] = ()
    diameter_attr: str | None = None
    diameter_unit: str = "m"
    default_diameter: float | None = None
    depth_attr: str | None = None
    default_depth: float | None = None
    crs: str | None = None
    layer: str | None = None
    snap_m: float = 0.5

    def __post_init__(self) -> None:
        if self.network_type not in NETWORK_TYPES:
            raise IngestError(f"--type {self.network_type!r}: use one of {', '.join(NETWORK_TYPES)}")
        if self.diameter_unit not in UNITS:
            raise IngestError(f"--diameter-unit {self.diameter_unit!r}: use one of {', '.join(UNITS)}")
        if not self.snap_m > 0:
            raise IngestError("--snap must be above 0 m")


@dataclass
class Node:
    id: str
    kind: str
    lon: float
    lat: float
    z: float = 0.0
    object_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipe:
    id: str  # the twin object id
    source_key: str
    line: NDArray[np.float64]  # lon/lat vertices
    diameter_m: float
    depth_m: float
    attributes: dict[str, Any]
    name: str | None = None
    from_node: str = ""
    to_node: str = ""
    z: NDArray[np.float64] | None = None
    length_m: float = 0.0


@dataclass
class Network:
    pipes: list[Pipe]
    nodes: list[Node]
    result: IngestResult


def _kind(value: Any, fallback: str) -> str:
    text = _SNAKE.sub("_", str(value).strip().lower()).strip("_") if value is not None else ""
    return text if text and text not in ("nan", "none") else fallback


def _kind_from_file(path: Path) -> str:
    word = _SNAKE.split(path.stem.lower())[-1] or "node"
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _read(path: Path, options: NetworkOptions, warnings: list[str]) -> tuple[Any, Any, CRS]:
    frame, info = read_layer(path, options.layer if path.suffix else None)
    warnings.extend(info["warnings"])
    crs = _resolve_crs(frame.crs, options.crs, warnings)
    frame = frame.set_crs(crs, allow_override=True)
    if not crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(4326)
    bounds = frame.total_bounds
    if len(frame) and not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
        raise IngestError(f"{path.name}: coordinates fall outside the Earth in {crs.to_string()}; pass --crs")
    return frame, info, crs


def _points(frame: Any, info: Any, path: Path, options: NetworkOptions, seen: set[str]) -> list[Node]:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    kind_col = next((c for c in KIND_ATTRIBUTES if c in columns), None)
    id_col = next((c for c in ID_ATTRIBUTES if c in columns), None)
    fallback = _kind_from_file(path)
    reader = AttributeReader(boolean_fields(list(info["fields"]), list(info["dtypes"])))
    nodes = []
    for fid, geometry, row in zip(frame.index, frame.geometry, frame[columns].to_dict("records"), strict=True):
        if geometry is None or geometry.geom_type not in ("Point", "MultiPoint") or geometry.is_empty:
            continue
        point = geometry if geometry.geom_type == "Point" else geometry.geoms[0]
        key = _object_key(row.get(id_col) if id_col else None, int(fid))
        while key in seen:
            key = f"{key}-{int(fid)}"
        seen.add(key)
        nodes.append(Node(key, _kind(row.get(kind_col) if kind_col else None, fallback), point.x, point.y,
                          object_id=f"{options.name}.{key}", attributes=reader.row(row)))
    return nodes


def _lines(geometry: Any) -> list[NDArray[np.float64]]:
    if isinstance(geometry, LineString):
        return [shapely.get_coordinates(geometry)]
    if isinstance(geometry, MultiLineString):
        return [shapely.get_coordinates(g) for g in geometry.geoms]
    return []


def read_network(path: str | Path, options: NetworkOptions, ground: Ground | None = None) -> Network:
    """Read pipes and nodes, build the graph's nodes and pipes, their twin objects and meshes."""
    path = Path(path)
    warnings: list[str] = []
    frame, info, crs = _read(path, options, warnings)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    diameter_col = _pick(columns, options.diameter_attr, DIAMETER_ATTRIBUTES, "diameter")
    depth_col = _pick(columns, options.depth_attr, DEPTH_ATTRIBUTES, "depth")
    id_col = next((c for c in ID_ATTRIBUTES if c in columns), None)
    name_col = "name" if "name" in columns else None
    reader = AttributeReader(boolean_fields(list(info["fields"]), list(info["dtypes"])))
    unit = UNITS[options.diameter_unit]
    default_depth = options.default_depth if options.default_depth is not None else \
        DEFAULT_DEPTH_M[options.network_type]
    pipes: list[Pipe] = []
    missing_diameter, skipped = 0, Counter[str]()
    keys: set[str] = set()
    for fid, geometry, row in zip(frame.index, frame.geometry, frame[columns].to_dict("records"), strict=True):
        parts = _lines(geometry)
        if not parts:
            if geometry is None or geometry.geom_type not in ("Point", "MultiPoint"):
                skipped[geometry.geom_type if geometry is not None else "no geometry"] += 1
            continue
        diameter = parse_number(row.get(diameter_col)) if diameter_col else None
        if diameter is None or diameter <= 0:
            if options.default_diameter is None:
                missing_diameter += 1
                continue
            diameter = options.default_diameter
        else:
            diameter *= unit
        depth = parse_number(row.get(depth_col)) if depth_col else None
        key = _object_key(row.get(id_col) if id_col else None, int(fid))
        while key in keys:
            key = f"{key}-{int(fid)}"
        keys.add(key)
        attributes = reader.row(row)
        for n, part in enumerate(parts):
            part_key = key if len(parts) == 1 else f"{key}-{n + 1}"
            pipes.append(Pipe(f"{options.name}.{part_key}", part_key, part[:, :2].astype(np.float64), diameter,
                              default_depth if depth is None or depth < 0 else depth, attributes,
                              str(row[name_col]) if name_col and row.get(name_col) is not None else None))
    if missing_diameter:
        raise IngestError(f"{missing_diameter} pipes of {path.name} have no usable diameter"
                          f"{f' in {diameter_col!r}' if diameter_col else ' (no diameter attribute)'}: pass "
                          "--diameter-attr, or --default-diameter in metres")
    seen = set(keys)
    nodes = _points(frame, info, path, options, seen)
    for extra in options.nodes:
        node_frame, node_info, _ = _read(Path(extra), options, warnings)
        nodes += _points(node_frame, node_info, Path(extra), options, seen)
    if not pipes:
        raise IngestError(f"{path.name} has no pipe lines" + (f" ({skipped.total()} other features)" if skipped
                                                              else ""))
    if skipped:
        warnings.append(f"{skipped.total()} features were neither lines nor points and were skipped")
    pipes, zero = _split_at_nodes(pipes, nodes, options.snap_m)
    if zero:
        warnings.append(f"{zero} pipes of no length were skipped")
    nodes = _connect(pipes, nodes, options)
    _place(pipes, nodes, ground)
    warnings.extend(reader.warnings())
    result = IngestResult(*_objects_and_features(pipes, nodes, options), crs.to_string(), warnings,
                          tile_class="pipe")
    return Network(pipes, nodes, result)


class _Metric:
    """Lon/lat ↔ metres of an equirectangular plane at the data's centre (for snapping only)."""

    def __init__(self, lonlat: NDArray[np.float64]) -> None:
        self.origin = lonlat.mean(axis=0)
        self.scale = np.array([6378137.0 * math.pi / 180 * math.cos(math.radians(self.origin[1])),
                               6378137.0 * math.pi / 180])

    def __call__(self, lonlat: NDArray[np.float64]) -> NDArray[np.float64]:
        return (lonlat - self.origin) * self.scale


def _split_at_nodes(pipes: list[Pipe], nodes: Sequence[Node], snap_m: float) -> tuple[list[Pipe], int]:
    """Pipes cut where a node lies on them away from their ends; pipes of no length dropped."""
    everything = np.concatenate([p.line for p in pipes] + ([np.array([[n.lon, n.lat] for n in nodes])] if nodes
                                                            else []))
    metric = _Metric(everything)
    inline = [n for n in nodes if n.kind in VALVE_KINDS]
    node_points = shapely.points(metric(np.array([[n.lon, n.lat] for n in inline]))) if inline else np.array([])
    tree = shapely.STRtree(node_points) if inline else None
    out: list[Pipe] = []
    zero = 0
    for pipe in pipes:
        local = metric(pipe.line)
        line = LineString(local)
        if line.length < 1e-3:
            zero += 1
            continue
        cuts: list[float] = []
        if tree is not None:
            for i in tree.query(line, predicate="dwithin", distance=snap_m):
                at = line.project(node_points[i])
                if snap_m < at < line.length - snap_m:
                    cuts.append(float(at))
        if not cuts:
            out.append(pipe)
            continue
        bounds = [0.0, *sorted(set(cuts)), line.length]
        for n, (a, b) in enumerate(itertools.pairwise(bounds), start=1):
            piece = shapely.ops.substring(line, a, b)
            lonlat = shapely.get_coordinates(piece) / metric.scale + metric.origin
            out.append(Pipe(f"{pipe.id}-{n}", f"{pipe.source_key}-{n}", lonlat, pipe.diameter_m, pipe.depth_m,
                            pipe.attributes, pipe.name))
    return out, zero


def _connect(pipes: list[Pipe], nodes: list[Node], options: NetworkOptions) -> list[Node]:
    """Graph nodes: pipe ends and node points within `snap_m` merged; each pipe's from/to set."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    ends = np.array([p.line[i] for p in pipes for i in (0, -1)])
    points = np.concatenate([ends, np.array([[n.lon, n.lat] for n in nodes]).reshape(-1, 2)])
    metric = _Metric(points)
    pairs = cKDTree(metric(points)).query_pairs(options.snap_m, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(points), len(points)))
    _, cluster = connected_components(graph, directed=False)
    named: dict[int, Node] = {}
    for n, node in enumerate(nodes):
        c = int(cluster[len(ends) + n])
        if c in named:  # two points at one place: keep the first, the other joins it as an object
            continue
        named[c] = node
    generated: dict[int, Node] = {}
    for i, c in enumerate(cluster[: len(ends)].tolist()):
        if c not in named and c not in generated:
            lon, lat = ends[i]
            generated[c] = Node(f"j{len(generated) + 1}", "junction", float(lon), float(lat))
    by_cluster = {**generated, **named}
    for p, pipe in enumerate(pipes):
        pipe.from_node = by_cluster[int(cluster[2 * p])].id
        pipe.to_node = by_cluster[int(cluster[2 * p + 1])].id
    return [*nodes, *generated.values()]


def _place(pipes: list[Pipe], nodes: list[Node], ground: Ground | None) -> None:
    """Heights: every pipe vertex at ground − depth, lengths along the ground in 3D; nodes at their pipes' depth."""
    geod = Geod(ellps="WGS84")
    depth_at: dict[str, float] = {}
    for pipe in pipes:
        surface = ground(pipe.line[:, 0], pipe.line[:, 1]) if ground else np.zeros(len(pipe.line))
        surface = np.where(np.isfinite(surface), surface, 0.0)
        pipe.z = surface - pipe.depth_m
        flat = geod.line_lengths(pipe.line[:, 0], pipe.line[:, 1])
        pipe.length_m = float(np.sum(np.hypot(flat, np.diff(pipe.z))))
        for end in (pipe.from_node, pipe.to_node):
            depth_at[end] = max(depth_at.get(end, 0.0), pipe.depth_m + pipe.diameter_m / 2)
    surface = ground(np.array([n.lon for n in nodes]), np.array([n.lat for n in nodes])) if ground and nodes \
        else np.zeros(len(nodes))
    for node, height in zip(nodes, np.where(np.isfinite(surface), surface, 0.0).tolist(), strict=True):
        node.z = float(height)
        node.attributes.setdefault("depth_m", round(depth_at.get(node.id, 1.0), 3))


def _objects_and_features(pipes: list[Pipe], nodes: list[Node], options: NetworkOptions
                          ) -> tuple[list[ObjectRecord], list[Feature]]:
    color = COLORS[options.network_type]
    objects, features = [], []
    for pipe in pipes:
        assert pipe.z is not None
        radius = pipe.diameter_m / 2
        attributes = {**pipe.attributes, "network": options.name, "network_type": options.network_type,
                      "diameter_m": round(pipe.diameter_m, 4), "depth_m": round(pipe.depth_m, 3),
                      "length_m": round(pipe.length_m, 2), "from_node": pipe.from_node, "to_node": pipe.to_node}
        objects.append(ObjectRecord(pipe.id, "pipe", pipe.name, LineString(pipe.line),
                                    float(pipe.z.min() - radius), float(pipe.z.max() + radius), attributes))
        features.append(Feature(pipe.id, tube(pipe.line, pipe.z, radius, color),
                                {"name": pipe.name, "kind": "pipe", "network_type": options.network_type,
                                 "diameter_m": round(pipe.diameter_m, 4), "depth_m": round(pipe.depth_m, 3)}))
    for node in nodes:
        if node.object_id is None:  # generated junctions are graph nodes only
            continue
        depth = float(node.attributes["depth_m"])
        bottom = node.z - depth
        top = node.z if node.kind in SHAFT_KINDS else bottom + 0.6
        radius = 0.5 if node.kind in SHAFT_KINDS else 0.25
        objects.append(ObjectRecord(node.object_id, node.kind, str(node.attributes.get("name") or node.id),
                                    Point(node.lon, node.lat), bottom, top,
                                    {**node.attributes, "network": options.name, "node": node.id,
                                     "network_type": options.network_type}))
        features.append(Feature(node.object_id, shaft(node.lon, node.lat, bottom, top, radius, NODE_COLOR),
                                {"name": node.id, "kind": node.kind, "network_type": options.network_type}))
    return objects, features
