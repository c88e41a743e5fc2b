"""The demo city: a generated district of footprints and a generated IFC building in its park, ingested."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine

from ingest_gis.footprints import FootprintOptions
from ingest_gis.records import ProgressCallback, no_progress
from scenes.demo_building import generate_building
from scenes.demo_district import GRID_ANGLE_DEG, generate_district, park_centre
from twin.ingest import ingest_footprints, ingest_ifc


def build_demo_city(engine: Engine, folder: Path, on_progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Write the demo inputs under `folder` and ingest them as datasets `demo` and `rathaus`."""
    folder.mkdir(parents=True, exist_ok=True)
    district = folder / "demo-district.geojson"
    district.write_bytes(orjson.dumps(generate_district()))
    building = folder / "demo-building.ifc"
    generate_building(building, *park_centre(), grid_angle_deg=GRID_ANGLE_DEG)
    return {
        "district": ingest_footprints(engine, district, FootprintOptions(name="demo"), on_progress=on_progress),
        "building": ingest_ifc(engine, building, "rathaus", on_progress=on_progress),
    }
