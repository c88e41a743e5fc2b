"""The outdoor hazards as coupler `Part`s, in a local metric frame centred on the incident (azimuthal
equidistant): the gas plume (`plume`) and the water on the ground (`water_flow`), each telling in its frames
the zones it covers (GeoJSON, lon/lat) and in its report which twin objects, roads and inlets they reach."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from scenes.drills.plan import Gas, Inject, Plan, Rain
from scenes.drills.plume import GaussianPlume, Zone
from scenes.drills.twin_data import TwinData
from scenes.drills.water_flow import DEPTH_LEVELS, WaterFlow, valley

FLOODED_M = DEPTH_LEVELS[0]


class LocalFrame:
    def __init__(self, lon: float, lat: float) -> None:
        aeqd = f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m +no_defs"
        self.forward = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        self.inverse = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)

    @staticmethod
    def _apply(transformer: Transformer, xy: Any) -> Any:
        return np.column_stack(transformer.transform(xy[:, 0].tolist(), xy[:, 1].tolist()))  # lists: one point too

    def local(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda xy: self._apply(self.forward, xy))

    def geojson(self, geometry: BaseGeometry) -> Any:
        lonlat = shapely.transform(geometry, lambda xy: self._apply(self.inverse, xy))
        return orjson.loads(shapely.to_geojson(shapely.set_precision(lonlat, 1e-6)))


def _centre(plan: Plan) -> tuple[float, float]:
    assert plan.incident.location is not None
    return plan.incident.location[0], plan.incident.location[1]


class GasLeak:
    def __init__(self, plan: Plan, data: TwinData) -> None:
        gas = plan.gas or Gas()
        self.frame_ = LocalFrame(*_centre(plan))
        speed = data.live.get("wind_speed_m_s", gas.wind.speed_m_s) if gas.wind.sensor else gas.wind.speed_m_s
        self.plume = GaussianPlume(gas.substance, gas.release_kg_s, gas.height_m, speed, gas.wind.direction_deg,
                                   gas.wind.stability, terrain=gas.terrain, start_s=plan.incident.start_s)
        self.objects = {o.id: self.frame_.local(o.footprint) for o in data.objects}
        self.reached: dict[str, set[str]] = {label: set() for label, _ in self.plume.levels}
        self.largest: dict[str, float] = {}
        self.evacuate: set[str] = set()
        self.zone_cache: list[Zone] = []

    def advance(self, t: float) -> None:
        self.plume.advance(t)
        self.zone_cache = [zone for zone in self.plume.zones() if not zone.area.is_empty]
        if not self.zone_cache:
            return
        hit = self.plume.affected(self.objects, self.zone_cache)
        for zone in self.zone_cache:
            self.largest[zone.label] = max(self.largest.get(zone.label, 0.0), float(zone.area.area))
            self.reached[zone.label].update(hit[zone.label])
        self.evacuate.update(hit["evacuation"])

    def inject(self, inject: Inject, t: float) -> bool:
        if inject.action == "wind" and inject.wind is not None:
            w = inject.wind
            self.plume.set_wind(w.speed_m_s, w.direction_deg, t, w.stability)
            return True
        return False

    def frame(self, t: float, out: dict[str, Any]) -> None:
        out["zones"] = out.get("zones", []) + [
            {"hazard": "gas", "level": zone.label, "value": zone.ppm, "polygon": self.frame_.geojson(zone.area)}
            for zone in self.zone_cache]

    def report(self, out: dict[str, Any]) -> None:
        out["gas"] = {"substance": self.plume.gas.name,
                      "zones": [{"level": label, "ppm": ppm, "largest_m2": round(self.largest.get(label, 0.0), 1),
                                 "objects": sorted(self.reached[label])} for label, ppm in self.plume.levels],
                      "evacuation_zone_objects": sorted(self.evacuate),
                      "evacuation_zone_count": len(self.evacuate)}

    @property
    def settled(self) -> bool:
        return False


class WaterLogging:
    def __init__(self, plan: Plan, data: TwinData) -> None:
        rain = plan.rain or Rain()
        self.frame_ = LocalFrame(*_centre(plan))
        if data.terrain is not None:
            ground, cell, x0, y0, self.source = (data.terrain.z, data.terrain.cell_m, data.terrain.x0,
                                                 data.terrain.y0, data.terrain.source)
        else:
            ground, cell = valley(rain.extent_m, rain.cell_m), rain.cell_m
            x0 = y0 = -ground.shape[0] * cell / 2
            self.source = "generated valley (scenes/drills/water_flow.py)"
        self.x0, self.y0, self.cell = x0, y0, cell
        inlets = []
        for ident, lon, lat in data.inlets:
            x, y = self.frame_.forward.transform(lon, lat)
            i, j = int((y - y0) // cell), int((x - x0) // cell)
            if 0 <= i < ground.shape[0] and 0 <= j < ground.shape[1]:
                inlets.append((i, j, rain.drain_m3_s_per_inlet, ident))
        self.inlet_ids = [(i, j, ident) for i, j, _, ident in inlets]
        self.flow = WaterFlow(ground, cell, rain.hyetograph, manning=rain.manning_n,
                              inlets=[(i, j, c) for i, j, c, _ in inlets], closed=False)
        self.objects = [(o.id, self.frame_.local(o.footprint)) for o in data.objects]
        self.roads = [(i, self.frame_.local(line)) for i, line in data.roads]

    def advance(self, t: float) -> None:
        self.flow.advance(t)

    def inject(self, inject: Inject, t: float) -> bool:
        if inject.action == "rain" and inject.rain_mm_h is not None:
            self.flow.set_rain(inject.rain_mm_h, t)
            return True
        return False

    def frame(self, t: float, out: dict[str, Any]) -> None:
        out["zones"] = out.get("zones", []) + [
            {"hazard": "water", "level": f"≥ {level} m", "value": level, "polygon": self.frame_.geojson(area)}
            for level, area in self.flow.zones(self.x0, self.y0)]
        out["water"] = {"max_depth_m": round(float(self.flow.h.max()), 3),
                        "volume_m3": round(self.flow.volume(), 1)}

    def _deepest(self, geometry: BaseGeometry) -> float:
        points = shapely.segmentize(geometry, self.cell / 2)
        xy = shapely.get_coordinates(points)
        i = np.floor((xy[:, 1] - self.y0) / self.cell).astype(int)
        j = np.floor((xy[:, 0] - self.x0) / self.cell).astype(int)
        inside = (i >= 0) & (j >= 0) & (i < self.flow.h.shape[0]) & (j < self.flow.h.shape[1])
        return float(self.flow.max_depth[i[inside], j[inside]].max()) if inside.any() else 0.0

    def report(self, out: dict[str, Any]) -> None:
        flow = self.flow
        out["water"] = {
            "terrain": self.source, "max_depth_m": round(float(flow.max_depth.max()), 3),
            "flooded_roads": sorted(i for i, line in self.roads if self._deepest(line) >= FLOODED_M),
            "flooded_objects": sorted(i for i, shape in self.objects if self._deepest(shape) >= FLOODED_M),
            "flooded_inlets": sorted(ident for i, j, ident in self.inlet_ids if flow.max_depth[i, j] >= FLOODED_M),
            "volume": {"rain_m3": round(float(flow.rain_in), 1), "on_ground_m3": round(flow.volume(), 1),
                       "drained_m3": round(float(flow.drained), 1), "flowed_out_m3": round(float(flow.outflow), 1)}}

    @property
    def settled(self) -> bool:
        return False
