"""What a plan needs of the twin, read once before its run (`scenes.drills.twin_data.TwinData`): the incident
building's walkable floors, each unit's route from its station over the road network by pgRouting (edge by
edge, one-way costs respected), the objects, roads and inlets around the incident, the latest value of a wind
sensor, and for water-logging the ground from the ingested terrain. Synchronous (SQLAlchemy); the service calls
it in a thread.

Objects around the incident are what stands on the ground: the pipes and nodes of underground networks are left
out (a flood or a gas cloud on the surface does not reach a main 1 m down); their manholes and inlets still
drain the water (`_INLETS`).

The water-logging ground: the rain grid (`rain.extent_m`, `rain.cell_m`, centred on the incident in the drill's
local frame) sampled at its cells' centres from the stored terrain grids (`twin.terrain.store.sample_heights`,
bilinear, the newest terrain with data at each point); rows and columns beyond every terrain are cut off and
holes inside stay NaN (the flow model's walls). With no terrain under the grid the drill keeps its documented
generated valley."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import Connection, Engine, text

from scenes.drills.coupled import check_scheme
from scenes.drills.dispatch import RouteStep, UnitRoute
from scenes.drills.errors import PlanError
from scenes.drills.outdoor_parts import LocalFrame
from scenes.drills.plan import Plan, Rain, Scheme
from scenes.drills.twin_data import Terrain, TwinData, TwinObject
from scenes.drills.water_flow import grid_axis
from twin.buildings import read_floors
from twin.events.nearby import reach_degrees, search_box
from twin.repository import NotFound
from twin.terrain.store import sample_heights

AROUND_M = {"fire": 300.0, "gas_leak": 2000.0, "water_logging": 1500.0}
MAX_OBJECTS = 20_000
_POSITION = text("SELECT ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint)), zmin, kind "
                 "FROM twin_objects WHERE id = :id")
_NODE = text("""SELECT id, network FROM road_nodes ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326)
    LIMIT 1""")
_NODE_IN = text("""SELECT id FROM road_nodes WHERE network = :network
    ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 1""")
_STEPS = text("""
SELECT p.path_seq, CASE WHEN r.source = p.node THEN r.cost ELSE r.reverse_cost END AS seconds,
       ST_AsGeoJSON(CASE WHEN r.source = p.node THEN r.geom ELSE ST_Reverse(r.geom) END, 7) AS geom
FROM pgr_dijkstra(
    'SELECT id, source, target, cost, reverse_cost FROM roads WHERE network = ' || quote_literal(:network)
    || ' AND geom && ST_MakeEnvelope(' || CAST(:w AS float8) || ',' || CAST(:s AS float8) || ','
    || CAST(:e AS float8) || ',' || CAST(:n AS float8) || ', 4326)',
    CAST(:start AS bigint), CAST(:goal AS bigint), true) p
JOIN roads r ON r.id = p.edge ORDER BY p.path_seq""")
_AROUND = text("""SELECT id, kind, name, ST_AsBinary(footprint) AS wkb, zmax - zmin AS height FROM twin_objects
    WHERE footprint && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :degrees)
      AND kind NOT IN ('IfcSpace', 'IfcDoor', 'IfcWindow') AND parent_id IS NULL
      AND dataset_id NOT IN (SELECT id FROM networks) LIMIT :limit""")
_ROADS = text("""SELECT id::text, ST_AsBinary(geom) FROM roads
    WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :degrees) LIMIT :limit""")
_INLETS = text("""SELECT id, ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint))
    FROM twin_objects WHERE kind IN ('manhole', 'inlet', 'drain', 'manhole_cover')
      AND footprint && ST_Expand(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :degrees) LIMIT :limit""")
_WIND = text("SELECT value FROM sensor_latest WHERE sensor_id = :id")


def incident_point(conn: Connection, plan: Plan) -> tuple[float, float]:
    """Where the incident is: its location, else its building's point on surface."""
    if plan.incident.location is not None:
        return plan.incident.location[0], plan.incident.location[1]
    assert plan.incident.building is not None
    row = conn.execute(_POSITION, {"id": plan.incident.building}).first()
    if row is None:
        raise PlanError(f"no twin object {plan.incident.building!r}", "incident.building")
    return float(row[0]), float(row[1])


def _route(conn: Connection, start: tuple[float, float], goal: tuple[float, float]
           ) -> tuple[RouteStep, ...] | None:
    near_goal = conn.execute(_NODE, {"x": goal[0], "y": goal[1]}).first()
    if near_goal is None:
        return None
    goal_node, network = int(near_goal[0]), str(near_goal[1])
    start_node = conn.execute(_NODE_IN, {"network": network, "x": start[0], "y": start[1]}).scalar()
    if start_node is None:
        return None
    if int(start_node) == goal_node:
        return ()
    rows = conn.execute(_STEPS, {"network": network, "start": int(start_node), "goal": goal_node,
                                 **search_box([start, goal])}).all()
    if not rows:
        return None
    steps = []
    for row in rows:
        seconds, coordinates = row.seconds, orjson.loads(row.geom)["coordinates"]
        steps.append(RouteStep(tuple((float(x), float(y)) for x, y, *_ in coordinates), float(seconds)))
    return tuple(steps)


def routes(conn: Connection, scheme: Scheme, goal: tuple[float, float]) -> tuple[UnitRoute, ...]:
    out = []
    for index, unit in enumerate(scheme.deployment):
        row = conn.execute(_POSITION, {"id": unit.station}).first()
        if row is None:
            raise PlanError(f"no twin object {unit.station!r} to leave from", f"deployment[{index}].station")
        start = (float(row[0]), float(row[1]))
        out.append(UnitRoute(unit.unit, unit.kind, unit.station, unit.depart_s, _route(conn, start, goal)))
    return tuple(out)


def _around(conn: Connection, plan: Plan, centre: tuple[float, float]) -> dict[str, Any]:
    metres = AROUND_M[plan.hazard] if plan.rain is None else math.hypot(plan.rain.extent_m, plan.rain.extent_m) / 2
    params = {"x": centre[0], "y": centre[1], "degrees": reach_degrees(centre[1], metres), "limit": MAX_OBJECTS}
    objects = tuple(TwinObject(str(r[0]), str(r[1]), r[2], shapely.from_wkb(bytes(r[3])), float(r[4] or 0.0))
                    for r in conn.execute(_AROUND, params))
    roads = tuple((str(r[0]), shapely.from_wkb(bytes(r[1]))) for r in conn.execute(_ROADS, params))
    inlets = tuple((str(r[0]), float(r[1]), float(r[2])) for r in conn.execute(_INLETS, params))
    return {"objects": objects, "roads": roads, "inlets": inlets}


def ground(conn: Connection, plan: Plan, centre: tuple[float, float]) -> Terrain | None:
    """The water-logging drill's ground from the ingested terrain, None when no terrain lies under its grid."""
    rain = plan.rain or Rain()
    axis = grid_axis(rain.extent_m, rain.cell_m)
    x, y = np.meshgrid(axis, axis)  # rows south → north
    lon, lat = LocalFrame(*centre).inverse.transform(x.ravel(), y.ravel())
    heights, answered = sample_heights(conn, np.asarray(lon), np.asarray(lat))
    z = heights.reshape(x.shape)
    rows, cols = np.flatnonzero(np.isfinite(z).any(axis=1)), np.flatnonzero(np.isfinite(z).any(axis=0))
    if len(rows) < 2 or len(cols) < 2:
        return None
    z = z[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    names = ", ".join(sorted({a for a in answered if a is not None}))
    return Terrain(z, rain.cell_m, float(axis[cols[0]]) - rain.cell_m / 2, float(axis[rows[0]]) - rain.cell_m / 2,
                   f"terrain {names} (ingested DEM, sampled at the cells' centres)")


def gather(engine: Engine, plan: Plan, scheme: Scheme) -> TwinData:
    """Everything the scheme's run reads of the twin, or PlanError when the plan names what the twin lacks."""
    with engine.connect() as conn:
        centre = incident_point(conn, plan)
        floors = None
        if plan.hazard == "fire":
            assert plan.incident.building is not None
            try:
                floors = read_floors(engine, plan.incident.building)
            except NotFound as exc:
                raise PlanError(str(exc), "incident.building") from None
        live: dict[str, float] = {}
        if plan.gas is not None and plan.gas.wind.sensor is not None:
            value = conn.execute(_WIND, {"id": plan.gas.wind.sensor}).scalar()
            if value is not None and 0 < float(value) <= 60:
                live["wind_speed_m_s"] = float(value)
        terrain = ground(conn, plan, centre) if plan.hazard == "water_logging" else None
        return TwinData(floors=floors, routes=routes(conn, scheme, centre), live=live, terrain=terrain,
                        **_around(conn, plan, centre))


def check_plan(engine: Engine, plan: Plan) -> None:
    """Every scheme must run on the twin as it is: PlanError names what does not fit."""
    for scheme in plan.schemes:
        check_scheme(plan, scheme.id, gather(engine, plan, scheme))
