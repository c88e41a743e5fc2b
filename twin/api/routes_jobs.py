"""Ingest over HTTP: upload an input, get a job, watch its progress."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request

from ingest_gis.records import IngestError
from twin.api.deps import EngineDep, SettingsDep
from twin.api.responses import OrjsonResponse
from twin.jobs import KINDS, job_status, list_jobs, parse_options
from twin.repository import check_dataset_name

router = APIRouter(tags=["ingest"])
CHUNK = 1 << 20


@router.post("/ingest/{kind}", status_code=202)
async def start_ingest(kind: str, request: Request, settings: SettingsDep,
                       name: str = Query(description="dataset name; an existing dataset of that name is replaced"),
                       filename: str = Query(description="the uploaded file's name, e.g. city.geojson or model.ifc, "
                                                         "or a .zip holding one input")) -> OrjsonResponse:
    """Upload an input as the request body; the ingest runs in the background (`GET /jobs/{id}` shows progress).
    Options of the kind are query parameters (e.g. `crs`, `height_attr` for footprints; `origin` for IFC)."""
    job_kind = KINDS.get(kind)
    if job_kind is None:
        raise HTTPException(404, f"unknown input kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    check_dataset_name(name)
    options = parse_options(job_kind, {k: v for k, v in request.query_params.items() if k not in ("name", "filename")})
    limit = settings.max_upload_mb * 2**20
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload larger than {settings.max_upload_mb} MB")
    with tempfile.NamedTemporaryFile(prefix="citytwin-upload-", delete=False) as handle:
        upload = Path(handle.name)
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload larger than {settings.max_upload_mb} MB")
                handle.write(chunk)
        except BaseException:
            upload.unlink(missing_ok=True)
            raise
    if size == 0:
        upload.unlink(missing_ok=True)
        raise IngestError("the request body is empty: send the input file as the body")
    try:
        job_id = await anyio.to_thread.run_sync(request.app.state.jobs.submit, kind, name, upload, filename, options)
    finally:
        upload.unlink(missing_ok=True)
    return OrjsonResponse({"job": job_id, "url": f"/jobs/{job_id}"}, status_code=202,
                          headers={"Location": f"/jobs/{job_id}"})


@router.get("/jobs/{job_id}")
def read_job(job_id: str, engine: EngineDep) -> OrjsonResponse:
    """Status (`queued`, `running`, `succeeded`, `failed`), stage and progress, then the summary or the error."""
    job = job_status(engine, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return OrjsonResponse(job)


@router.get("/jobs")
def jobs(engine: EngineDep, limit: int = Query(50, ge=1, le=500)) -> OrjsonResponse:
    return OrjsonResponse(list_jobs(engine, limit))
