"""The CesiumJS viewer: its page, its configuration and its static files."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from twin.api.deps import SettingsDep
from twin.api.responses import OrjsonResponse
from twin.settings import Settings

router = APIRouter()
CESIUM_BUILD = "node_modules/cesium/Build/Cesium"


@router.get("/viewer/config.json", tags=["viewer"])
def viewer_config() -> OrjsonResponse:
    """Every URL the viewer uses; the viewer hard-codes none."""
    return OrjsonResponse({
        "title": "CityTwin",
        "cesium_base_url": "/viewer/cesium/",
        "tilesets_url": "/tilesets",
        "object_url_template": "/objects/{id}",
        "imagery_url": "/viewer/cesium/Assets/Textures/NaturalEarthII",
    })


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
