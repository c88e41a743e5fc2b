"""The CesiumJS viewer: its page, its configuration and its static files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from twin.api.deps import EngineDep, SettingsDep
from twin.api.responses import OrjsonResponse
from twin.imagery import BUNDLED_IMAGERY, imagery_config
from twin.settings import Settings

router = APIRouter()
CESIUM_BUILD = "node_modules/cesium/Build/Cesium"


@router.get("/viewer/config.json", tags=["viewer"])
def viewer_config(settings: SettingsDep) -> OrjsonResponse:
    """Every URL the viewer uses; the viewer hard-codes none."""
    return OrjsonResponse({
        "title": "CityTwin",
        "cesium_base_url": "/viewer/cesium/",
        "tilesets_url": "/tilesets",
        "object_url_template": "/objects/{id}",
        "imagery_url": BUNDLED_IMAGERY,
        "imagery": imagery_config(settings),
        "terrain_url": "/terrain",
        "live_ws_url": "/ws",
        "sensors_url": "/sensors",
        "sensor_readings_url_template": "/sensors/{id}/readings",
        "alarms_url": "/alarms",
        "alarm_acknowledge_url_template": "/alarms/{id}/acknowledge",
        "ancestors_url": "/viewer/ancestors",
        "plans_url": "/plans",
        "plan_url_template": "/plans/{id}",
        "plan_runs_url_template": "/plans/{id}/runs",
        "drill_runs_url": "/drills/runs",
        "drill_run_url_template": "/drills/runs/{id}",
        "drill_control_url_template": "/drills/runs/{id}/{op}",
        "drill_czml_url_template": "/drills/runs/{id}/czml",
        "drill_report_url_template": "/drills/runs/{id}/report",
        "drill_compare_url": "/drills/compare",
        "drill_compare_page_url": "/drills/compare/page",
        "events_url": "/events",
        "event_url_template": "/events/{id}",
        "event_transitions_url_template": "/events/{id}/transitions",
        "event_nearby_url_template": "/events/{id}/nearby",
        "event_nearby_kinds": "fire_station,hospital,hydrant",
        "actors_url": "/actors",
        "cockpit_url": "/cockpit",
        "ogc_items_url_template": "/ogc/collections/{id}/items",
        "ogc_queryables_url_template": "/ogc/collections/{id}/queryables",
        "search_collection": "objects",
    })


LINEAGE = text("""
WITH RECURSIVE up AS (
    SELECT o.id AS start, o.id, o.parent_id, o.kind, 0 AS depth FROM twin_objects o WHERE o.id = ANY(:ids)
    UNION ALL
    SELECT up.start, p.id, p.parent_id, p.kind, up.depth + 1 FROM up JOIN twin_objects p ON p.id = up.parent_id
    WHERE up.depth < 32)
SELECT start, id, kind, depth FROM up ORDER BY start, depth""")


@router.get("/viewer/ancestors", tags=["viewer"])
def ancestors(engine: EngineDep,
              ids: Annotated[list[str], Query(max_length=1000, description="twin object ids")]) -> OrjsonResponse:
    """Each object's kind and parent chain (nearest first, with kinds); unknown ids are left out. The viewer
    colours a building by the alarms of its storeys and rooms with it."""
    with engine.connect() as conn:
        rows = conn.execute(LINEAGE, {"ids": list(dict.fromkeys(ids))}).all()
    objects: dict[str, dict[str, Any]] = {}
    for start, object_id, kind, depth in rows:
        if depth == 0:
            objects[str(start)] = {"kind": kind, "ancestors": []}
        else:
            objects[str(start)]["ancestors"].append({"id": object_id, "kind": kind})
    return OrjsonResponse({"objects": objects})


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def index(settings: SettingsDep) -> FileResponse:
    page = settings.web_viewer_dir / "index.html"
    if not page.exists():
        raise HTTPException(status_code=404, detail="the viewer is not installed")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


def mount_static(app: FastAPI, settings: Settings) -> None:
    """Serve the viewer's modules and the Cesium build when they are installed."""
    source = settings.web_viewer_dir / "src"
    cesium = settings.web_viewer_dir / CESIUM_BUILD
    if source.is_dir():
        app.mount("/viewer/src", StaticFiles(directory=source), name="viewer-src")
    if cesium.is_dir():
        app.mount("/viewer/cesium", StaticFiles(directory=cesium), name="cesium")
