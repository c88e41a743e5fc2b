"""What is near an event: the nearest k objects of each kind in straight-line metres (`twin.queries.nearest`,
exact), their road distance, travel time and route from the nearest network node by pgRouting (`pgr_dijkstra`
from each resource to the event, one-way costs respected), and the cameras whose view covers the event.

By road, the candidates are the `ROAD_CANDIDATES`×k nearest in a straight line, ranked by travel time. Road
distance and time are along the network between the nodes nearest to each end; `access_m` tells how far those
nodes are from the event and the resource. Routes are searched within `search_box` of the event and its
candidates, which keeps a query on a large network to the part that matters."""

from __future__ import annotations

import math
from typing import Any

import orjson
from sqlalchemy import Connection, text

from twin.events.coverage import MAX_RANGE_M, covers, sight, view_of
from twin.queries import nearest

ROAD_CANDIDATES = 3
SEARCH_MARGIN_DEG = 0.01
_NEAREST_NODE = text("""SELECT id, network, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)
    ::geography) AS metres FROM road_nodes WHERE (CAST(:network AS text) IS NULL OR network = :network)
    ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 1""")
_ROUTES = text("""
WITH path AS (
    SELECT start_vid, path_seq, node, edge FROM pgr_dijkstra(
        'SELECT id, source, target, cost, reverse_cost FROM roads WHERE network = ' || quote_literal(:network)
        || ' AND geom && ST_MakeEnvelope(' || CAST(:w AS float8) || ',' || CAST(:s AS float8) || ','
        || CAST(:e AS float8) || ',' || CAST(:n AS float8) || ', 4326)',
        CAST(:starts AS bigint[]), CAST(:target AS bigint), true)
), steps AS (
    SELECT p.start_vid, p.path_seq, r.length_m,
           CASE WHEN r.source = p.node THEN r.cost ELSE r.reverse_cost END AS seconds,
           CASE WHEN r.source = p.node THEN r.geom ELSE ST_Reverse(r.geom) END AS geom
    FROM path p JOIN roads r ON r.id = p.edge
)
SELECT start_vid, sum(length_m) AS metres, sum(seconds) AS seconds,
       ST_AsGeoJSON(ST_MakeLine(geom ORDER BY path_seq), 7) AS route
FROM steps GROUP BY start_vid""")
_CAMERAS = text("""SELECT id, name, attributes, ST_X(ST_PointOnSurface(footprint)) AS lon,
    ST_Y(ST_PointOnSurface(footprint)) AS lat FROM twin_objects
    WHERE kind = 'camera' AND footprint && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :degrees)
      AND ST_DWithin(footprint::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, :reach)""")


def _node(conn: Connection, lon: float, lat: float, network: str | None) -> tuple[int, str, float] | None:
    row = conn.execute(_NEAREST_NODE, {"x": lon, "y": lat, "network": network}).first()
    return (int(row[0]), str(row[1]), float(row[2])) if row else None


def _point_of(geometry: dict[str, Any]) -> tuple[float, float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[0]), float(coords[1])


def search_box(points: list[tuple[float, float]]) -> dict[str, float]:
    """The part of the network routes are searched in: the box of the event and the candidates, widened by half
    its size and at least `SEARCH_MARGIN_DEG` (≈1 km) each way; a detour leaving it is not found."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    margin = max(SEARCH_MARGIN_DEG, 0.5 * max(max(xs) - min(xs), max(ys) - min(ys)))
    return {"w": min(xs) - margin, "s": min(ys) - margin, "e": max(xs) + margin, "n": max(ys) + margin}


def resources(conn: Connection, lon: float, lat: float, kind: str, k: int) -> dict[str, list[dict[str, Any]]]:
    """The k nearest objects of a kind in a straight line (`straight`, each with its road leg when a network is
    stored) and the k quickest by road among the candidates (`by_road`)."""
    found = nearest(conn, lon, lat, k * ROAD_CANDIDATES, kind).rows
    items = []
    for row in found:
        properties = orjson.loads(row.properties)
        geometry = orjson.loads(row.geometry)
        items.append({"id": row.id, "kind": kind, "name": properties.get("name"),
                      "distance_m": float(properties["distance_m"]), "position": _point_of(geometry),
                      "attributes": {k2: v for k2, v in properties.items() if k2 not in ("distance_m",)}})
    straight = items[:k]
    goal = _node(conn, lon, lat, None)
    if goal is None or not items:
        return {"straight": [{**i, "road": None} for i in straight], "by_road": []}
    target, network, target_access = goal
    starts = {}
    for item in items:
        start = _node(conn, item["position"][0], item["position"][1], network)
        assert start is not None
        starts[item["id"]] = start
    routes = {int(r[0]): r for r in conn.execute(_ROUTES, {
        "network": network, "target": target, "starts": sorted({s[0] for s in starts.values()}),
        **search_box([(lon, lat), *(i["position"] for i in items)])})}
    for item in items:
        node, _, access = starts[item["id"]]
        access_m = [round(access, 3), round(target_access, 3)]
        if node == target:
            item["road"] = {"network": network, "distance_m": 0.0, "travel_s": 0.0, "route": None,
                            "access_m": access_m}
        elif node in routes:
            r = routes[node]
            item["road"] = {"network": network, "distance_m": round(float(r[1]), 3),
                            "travel_s": round(float(r[2]), 3), "route": orjson.loads(r[3]), "access_m": access_m}
        else:
            item["road"] = {"network": network, "unreachable": True, "access_m": access_m}
    by_road = sorted((i for i in items if i["road"] and "travel_s" in i["road"]),
                     key=lambda i: (i["road"]["travel_s"], i["distance_m"]))[:k]
    return {"straight": straight, "by_road": by_road}


def reach_degrees(lat: float, metres: float) -> float:
    """Degrees that surely hold `metres` around a point at `lat` (the index box of a geodesic radius)."""
    shortest = 110_000 * max(math.cos(math.radians(min(abs(lat) + 1, 90))), 0.01)  # a degree of lon, just north
    return metres / shortest


def cameras(conn: Connection, lon: float, lat: float, sensors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Camera objects and camera sensors whose view covers the point, nearest first, with stream URLs."""
    found = []
    candidates = [(str(r[0]), r[1], r[2] or {}, float(r[3]), float(r[4]), "object")
                  for r in conn.execute(_CAMERAS, {"x": lon, "y": lat, "reach": MAX_RANGE_M,
                                                   "degrees": reach_degrees(lat, MAX_RANGE_M)})]
    candidates += [(s["id"], s.get("name"), s.get("attributes") or {}, s["position"][0], s["position"][1], "sensor")
                   for s in sensors if s.get("position")]
    for ident, name, attributes, clon, clat, origin in candidates:
        view = view_of(attributes)
        if covers((clon, clat), view, (lon, lat)):
            azimuth, metres = sight((clon, clat), (lon, lat))
            found.append({"id": ident, "from": origin, "name": name, "position": [clon, clat],
                          "stream_url": attributes.get("stream_url"), "heading": view.heading, "fov": view.fov,
                          "range_m": view.range_m, "distance_m": round(metres, 3), "bearing": round(azimuth, 3)})
    return sorted(found, key=lambda c: c["distance_m"])
