"""Ingest over HTTP: uploads become datasets in the background, with progress, limits and clear failures."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import pytest
from shapely.geometry import box
from sqlalchemy import Engine, text

from tests.conftest import serving
from tests.helpers.data import shared_data
from tests.helpers.metrics import change, scrape, value
from twin.db import Database
from twin.settings import Settings


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[httpx.Client]:
    small = settings.model_copy(update={"max_upload_mb": 2})
    with serving(small, Database(engine)) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _wait(client: httpx.Client, url: str, seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(url).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {url} did not finish: {job}")


def test_an_uploaded_geojson_becomes_a_dataset_with_visible_progress(client: httpx.Client, engine: Engine) -> None:
    body = shared_data("gis/osm_berlin_prenzlauerberg_buildings.geojson").read_bytes()
    started = client.post("/ingest/footprints", params={"name": "berlin", "filename": "berlin.geojson"}, content=body)
    assert started.status_code == 202, started.text
    assert started.headers["location"] == started.json()["url"]
    job = _wait(client, started.json()["url"])
    assert job["status"] == "succeeded", job
    assert job["summary"]["objects"] == 635 and job["stage"] == "store" and job["done"] == job["total"] == 1
    assert client.get("/tilesets").json()[0]["id"] == "berlin"
    assert client.get("/objects/berlin.23077868").status_code == 200
    assert any(j["id"] == job["id"] for j in client.get("/jobs").json())


def test_a_zipped_shapefile_with_options_is_ingested(client: httpx.Client, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"hoehe": [12.0, 30.0]}, geometry=[box(391000, 5820000, 391020, 5820015),
                                                                 box(391040, 5820000, 391060, 5820015)],
                             crs="EPSG:25833")
    frame.to_file(tmp_path / "blocks.shp")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("blocks.*"):
            zf.write(part, f"data/{part.name}")
    started = client.post("/ingest/footprints", content=archive.getvalue(),
                          params={"name": "blocks", "filename": "blocks.zip", "height_attr": "hoehe",
                                  "implicit": "true"})
    job = _wait(client, started.json()["url"])
    assert job["status"] == "succeeded", job
    assert job["options"]["height_attr"] == "hoehe" and job["summary"]["objects"] == 2
    assert "implicitTiling" in client.get("/tilesets/blocks/tileset.json").json()["root"]


def test_bad_input_fails_the_job_with_the_ingest_message_and_writes_nothing(client: httpx.Client,
                                                                            engine: Engine) -> None:
    base = str(client.base_url).rstrip("/")
    before = scrape(base)
    started = client.post("/ingest/footprints", params={"name": "broken", "filename": "broken.geojson"},
                          content=b'{"type": "FeatureCollection", "features": []}')
    job = _wait(client, started.json()["url"])
    assert job["status"] == "failed" and "no features" in job["error"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0
    deadline = time.monotonic() + 5  # counted as the job's thread ends, just after its row says failed
    while change(before, after := scrape(base), "citytwin_ingest_jobs_total", kind="footprints", status="failed") < 1:
        assert time.monotonic() < deadline, "the failed job was not counted"
        time.sleep(0.05)
    assert change(before, after, "citytwin_ingest_jobs_total", kind="footprints", status="queued") == 1
    assert change(before, after, "citytwin_ingest_jobs_total", kind="footprints", status="failed") == 1
    assert value(after, "citytwin_ingest_jobs_running") == 0


@pytest.mark.parametrize(
    "path,params,body,status,message",
    [
        ("/ingest/lidar", {"name": "x", "filename": "a.las"}, b"x", 404, "unknown input kind"),
        ("/ingest/footprints", {"name": "bad name!", "filename": "a.geojson"}, b"x", 400, "dataset name"),
        ("/ingest/footprints", {"name": "x", "filename": "a.geojson", "colour": "red"}, b"x", 400, "unknown option"),
        ("/ingest/footprints", {"name": "x", "filename": "a.geojson", "storey_height": "tall"}, b"x", 400,
         "not a float"),
        ("/ingest/footprints", {"name": "x", "filename": "a.exe"}, b"x", 400, "not an accepted input"),
        ("/ingest/footprints", {"name": "x", "filename": "a.zip"}, b"not a zip", 400, "not a readable zip"),
        ("/ingest/footprints", {"name": "x", "filename": "a.geojson"}, b"", 400, "body is empty"),
        ("/ingest/footprints", {"name": "x", "filename": "a.geojson"}, b"0" * (3 * 2**20), 413, "larger than 2 MB"),
        ("/ingest/footprints", {"name": "x"}, b"x", 422, "filename"),
    ],
    ids=["kind", "name", "option", "value", "suffix", "zip", "empty", "too-big", "no-filename"],
)
def test_requests_that_cannot_become_jobs_are_refused_up_front(client: httpx.Client, engine: Engine, path: str,
                                                               params: dict[str, str], body: bytes, status: int,
                                                               message: str) -> None:
    response = client.post(path, params=params, content=body)
    assert response.status_code == status, response.text
    assert message in response.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingest_jobs")).scalar_one() == 0


def test_a_zip_that_escapes_its_folder_is_refused(client: httpx.Client) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.geojson", b"{}")
    response = client.post("/ingest/footprints", params={"name": "x", "filename": "a.zip"},
                           content=archive.getvalue())
    assert response.status_code == 400 and "outside the upload" in response.text


def test_unknown_jobs_are_404(client: httpx.Client) -> None:
    assert client.get("/jobs/nope").status_code == 404


def test_a_zipped_tileset_folder_and_a_citygml_file_are_ingested_as_jobs(client: httpx.Client) -> None:
    folder = shared_data("mesh/landform_mars_3dtiles")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"mars/{path.relative_to(folder)}")
    small = client.post("/ingest/tileset", content=archive.getvalue(),
                        params={"name": "mars", "filename": "mars.zip", "origin": "8.43,49.10,100"})
    assert small.status_code == 413  # 10 MB of tiles over this server's 2 MB limit
    gml = shared_data("gis/delft-citygml2.gml").read_bytes()
    started = client.post("/ingest/citygml", params={"name": "delft", "filename": "delft.gml"}, content=gml)
    job = _wait(client, started.json()["url"])
    assert job["status"] == "succeeded", job
    assert job["summary"]["objects"] >= 3


def test_a_zipped_tileset_folder_is_imported_as_a_job(engine: Engine, settings: Settings) -> None:
    folder = shared_data("mesh/landform_mars_3dtiles")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"mars/{path.relative_to(folder)}")
    with serving(settings, Database(engine)) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        started = client.post("/ingest/tileset", content=archive.getvalue(),
                              params={"name": "mars", "filename": "mars.zip", "origin": "8.43,49.10,100"})
        assert started.status_code == 202, started.text
        job = _wait(client, started.json()["url"])
        assert job["status"] == "succeeded", job
        document = client.get("/tilesets/mars/tileset.json").json()
        assert "transform" in document["root"]
        one = next(p for p in sorted(folder.glob("*.b3dm")))
        assert client.get(f"/tilesets/mars/{one.name}").content == one.read_bytes()
