"""The demo city: a generated district of footprints and a generated IFC building in its park, ingested, with
simulated sensors on both and the devices that feed them while the demo serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from ingest_gis.footprints import FootprintOptions
from ingest_gis.points import PointOptions
from ingest_gis.records import ProgressCallback, no_progress
from ingest_gis.roads import RoadOptions
from scenes.demo_building import generate_building
from scenes.demo_district import GRID_ANGLE_DEG, generate_district, park_centre
from scenes.demo_resources import generate_resources, generate_streets
from scenes.demo_sensors import demo_sensors
from twin.events.roads_store import ingest_roads
from twin.ingest import ingest_footprints, ingest_ifc, ingest_points
from twin.live import importer
from twin.live.broker import MosquittoBroker
from twin.live.feeder import DemoFeeder
from twin.settings import Settings


def build_demo_city(engine: Engine, folder: Path, on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Write the demo inputs under `folder`, ingest the terrain `ground`, the datasets `demo`, `rathaus` and
    `resources` (standing on the terrain), the road network `streets` and the underground networks `gas` and
    `drainage`, add the sensors and the drill plans."""
    folder.mkdir(parents=True, exist_ok=True)
    ground = add_demo_terrain(engine, folder, on_progress)
    district = folder / "demo-district.geojson"
    district.write_bytes(orjson.dumps(generate_district()))
    building = folder / "demo-building.ifc"
    generate_building(building, *park_centre(), grid_angle_deg=GRID_ANGLE_DEG)
    streets, resources = folder / "demo-streets.geojson", folder / "demo-resources.geojson"
    streets.write_bytes(orjson.dumps(generate_streets()))
    resources.write_bytes(orjson.dumps(generate_resources()))
    city = {
        "district": ingest_footprints(engine, district, FootprintOptions(name="demo"), on_progress=on_progress,
                                      ground="terrain", terrain="ground"),
        "building": ingest_ifc(engine, building, "rathaus", on_progress=on_progress),
        "resources": ingest_points(engine, resources, PointOptions(name="resources"), on_progress=on_progress,
                                   ground="terrain", terrain="ground"),
        "streets": ingest_roads(engine, streets, RoadOptions(name="streets")),
        "terrain": ground,
        **add_demo_networks(engine, folder, on_progress),
    }
    return {**city, "sensors": add_demo_sensors(engine), "plans": add_demo_plans(engine)}


def add_demo_terrain(engine: Engine, folder: Path, on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """The generated valley (scenes/demo_terrain.py) written as a GeoTIFF and ingested as the terrain `ground`."""
    from ingest_gis.terrain import TerrainOptions, write_geotiff
    from scenes.demo_terrain import demo_terrain
    from twin.terrain.ingest import ingest_terrain

    terrain = demo_terrain()
    path = write_geotiff(folder / "demo-terrain.tif", terrain.heights, terrain.geotransform, terrain.crs)
    return ingest_terrain(engine, path, TerrainOptions(name="ground"), on_progress=on_progress)


def add_demo_networks(engine: Engine, folder: Path, on_progress: ProgressCallback = no_progress
                      ) -> dict[str, Any]:
    """The generated gas and drainage networks under the streets (scenes/demo_networks.py), on the terrain, the
    district's buildings served by the gas mains."""
    from ingest_gis.network import NetworkOptions
    from scenes.demo_networks import generate_drainage, generate_gas
    from twin.networks.ingest import ingest_network

    out = {}
    for name, generate, serves in (("gas", generate_gas, "demo"), ("drainage", generate_drainage, None)):
        path = folder / f"demo-{name}.geojson"
        path.write_bytes(orjson.dumps(generate()))
        out[name] = ingest_network(engine, path, NetworkOptions(name=name, network_type=name), ground="terrain",
                                   terrain="ground", serves=serves, on_progress=on_progress)
    return out


def add_demo_plans(engine: Engine) -> list[str]:
    """The demo's drill plans (scenes/demo_plans.py) on what was ingested, checked and stored like any plan."""
    import asyncio

    from sqlalchemy import text

    from scenes.demo_plans import fire_plan, gas_plan, rain_plan
    from scenes.drills.plan import parse_plan
    from twin.buildings import read_floors
    from twin.drills import inputs, store

    with engine.connect() as conn:
        building: str = conn.execute(text("SELECT id FROM twin_objects WHERE dataset_id = 'rathaus' "
                                     "AND kind = 'IfcBuilding' ORDER BY id LIMIT 1")).scalar_one()
        station, hospital = (conn.execute(text("SELECT id FROM twin_objects WHERE kind = :k ORDER BY id LIMIT 1"),
                                          {"k": kind}).scalar() for kind in ("fire_station", "hospital"))
    plans = [parse_plan(document) for document in (fire_plan(read_floors(engine, building), station, hospital),
                                                   gas_plan(station), rain_plan())]
    for plan in plans:
        inputs.check_plan(engine, plan)
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(store.store_plans(dsn, plans))
    return [plan.id for plan in plans]


def add_demo_sensors(engine: Engine) -> dict[str, Any]:
    """The simulated sensors of the demo city, bound by position to the buildings and rooms that hold them."""
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    rows = list(enumerate(demo_sensors(), start=1))
    return importer.run(importer.put_sensors(dsn, rows)).as_json()


def start_feeder(settings: Settings) -> DemoFeeder:
    """The demo's devices, sending to the server about to start on `settings.host:port`: over HTTP, and over MQTT
    to the broker the server's bridge listens to (the configured one, else its private mosquitto)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return DemoFeeder(f"http://{host}:{settings.port}", feeder_broker(settings)).start()


def feeder_broker(settings: Settings) -> Callable[[], str | None] | None:
    """Where the server takes MQTT readings, asked once it is up; None when it takes none."""
    if not settings.mqtt:
        return None
    configured = settings.mqtt_url
    if configured:
        return lambda: configured
    broker = MosquittoBroker(settings.data_dir)
    return lambda: broker.url if broker.running() else None
