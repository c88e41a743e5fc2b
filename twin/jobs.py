"""Ingest jobs: an uploaded file (or zip archive) becomes a dataset in the background.

A job row in PostGIS carries status, stage and progress, so any worker can answer for any job; the worker that
took the upload runs it in its own thread pool (one ingest at a time per worker) and deletes the upload when done.
Each kind of input names the options it accepts; anything else is refused before a job exists.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, text

from ingest_gis.records import IngestError, ProgressCallback
from twin.ops import metrics

Runner = Callable[[Engine, Path, str, dict[str, Any], ProgressCallback], dict[str, Any]]
STALLED_AFTER_S = 300
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class JobKind:
    """An input kind: accepted file suffixes, its options with their types, and how to ingest it."""

    suffixes: tuple[str, ...]
    options: dict[str, type]
    run: Runner


def _footprints(engine: Engine, path: Path, name: str, options: dict[str, Any],
                on_progress: ProgressCallback) -> dict[str, Any]:
    from ingest_gis.footprints import FootprintOptions
    from tiles.encoding import Compression
    from twin.ingest import ingest_footprints

    footprint = FootprintOptions(name=name, **{k: v for k, v in options.items()
                                               if k in ("height_attr", "levels_attr", "storey_height", "crs",
                                                        "layer")})
    return ingest_footprints(engine, path, footprint, compression=Compression(options.get("compression", "draco")),
                             implicit=options.get("implicit", False), b3dm=options.get("b3dm", False),
                             on_progress=on_progress)


def _ifc(engine: Engine, path: Path, name: str, options: dict[str, Any],
         on_progress: ProgressCallback) -> dict[str, Any]:
    from ingest_bim.georef import GeorefOptions, parse_origin
    from twin.ingest import ingest_ifc

    origin = options.get("origin")
    georef = GeorefOptions(crs=options.get("crs"), origin=parse_origin(origin) if origin else None,
                           rotation=options.get("rotation"))
    return ingest_ifc(engine, path, name, georef, on_progress=on_progress)


def _city_model(kind: str) -> Runner:
    def run(engine: Engine, path: Path, name: str, options: dict[str, Any],
            on_progress: ProgressCallback) -> dict[str, Any]:
        from tiles.encoding import Compression
        from twin import ingest

        if kind == "cityjson":
            from ingest_gis.cityjson import CityJsonOptions

            return ingest.ingest_cityjson(engine, path, CityJsonOptions(name, options.get("crs"),
                                                                        options.get("lod", "best")),
                                          compression=Compression(options.get("compression", "draco")),
                                          on_progress=on_progress)
        from ingest_gis.citygml import CityGmlOptions

        return ingest.ingest_citygml(engine, path, CityGmlOptions(name, options.get("crs"), options.get("lod", "best")),
                                     compression=Compression(options.get("compression", "draco")),
                                     on_progress=on_progress)

    return run


def _pointcloud(engine: Engine, path: Path, name: str, options: dict[str, Any],
                on_progress: ProgressCallback) -> dict[str, Any]:
    from ingest_gis.pointcloud import PointCloudOptions
    from twin.ingest import ingest_pointcloud

    return ingest_pointcloud(engine, path, PointCloudOptions(name, options.get("crs")), on_progress=on_progress)


def _oblique(engine: Engine, path: Path, name: str, options: dict[str, Any],
             on_progress: ProgressCallback) -> dict[str, Any]:
    from twin.ingest import ingest_oblique

    return ingest_oblique(engine, path.parent if path.name == "metadata.xml" else path, name,
                          on_progress=on_progress)


def _tileset(engine: Engine, path: Path, name: str, options: dict[str, Any],
             on_progress: ProgressCallback) -> dict[str, Any]:
    from ingest_bim.georef import parse_origin
    from twin.ingest import ingest_tileset

    origin = options.get("origin")
    return ingest_tileset(engine, path, name, origin=parse_origin(origin) if origin else None,
                          on_progress=on_progress)


KINDS: dict[str, JobKind] = {
    "footprints": JobKind((".geojson", ".json", ".gpkg", ".shp", ".fgb"),
                          {"height_attr": str, "levels_attr": str, "storey_height": float, "crs": str, "layer": str,
                           "compression": str, "implicit": bool, "b3dm": bool}, _footprints),
    "ifc": JobKind((".ifc",), {"crs": str, "origin": str, "rotation": float}, _ifc),
    "cityjson": JobKind((".json", ".jsonl"), {"crs": str, "lod": str, "compression": str}, _city_model("cityjson")),
    "citygml": JobKind((".gml", ".xml"), {"crs": str, "lod": str, "compression": str}, _city_model("citygml")),
    "pointcloud": JobKind((".las", ".laz"), {"crs": str}, _pointcloud),
    # folders come zipped: the one metadata.xml (oblique) or root tileset.json (tileset) marks the input
    "oblique": JobKind(("metadata.xml",), {}, _oblique),
    "tileset": JobKind(("tileset.json",), {"origin": str}, _tileset),
}


def parse_options(kind: JobKind, raw: dict[str, str]) -> dict[str, Any]:
    """Typed options from query parameters; unknown names and bad values are refused."""
    options: dict[str, Any] = {}
    for key, value in raw.items():
        wanted = kind.options.get(key)
        if wanted is None:
            raise IngestError(f"unknown option {key!r}; this kind takes: {', '.join(sorted(kind.options)) or 'none'}")
        try:
            if wanted is bool:
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                options[key] = value.lower() in ("true", "1", "yes")
            else:
                options[key] = wanted(value)
        except ValueError as exc:
            raise IngestError(f"option {key}={value!r} is not a {wanted.__name__}") from exc
    return options


def unpack_upload(upload: Path, filename: str, kind: JobKind, workdir: Path) -> Path:
    """The input to ingest: the uploaded file, or the one input file (or folder) inside an uploaded zip."""
    suffix = Path(filename).suffix.lower()
    if suffix != ".zip":
        if suffix not in kind.suffixes or not suffix.startswith("."):
            raise IngestError(f"a {filename!r} upload is not an accepted input ({', '.join(kind.suffixes)} or .zip)")
        target = workdir / Path(filename).name
        upload.rename(target)
        return target
    folder = workdir / "unpacked"
    try:
        with zipfile.ZipFile(upload) as archive:
            for member in archive.infolist():
                target = (folder / member.filename).resolve()
                if not target.is_relative_to(folder.resolve()):
                    raise IngestError(f"zip member {member.filename!r} would land outside the upload")
            archive.extractall(folder)
    except zipfile.BadZipFile as exc:
        raise IngestError(f"{filename!r} is not a readable zip archive") from exc
    inputs = sorted(p for p in folder.rglob("*") if p.suffix.lower() in kind.suffixes
                    or p.name.lower() in kind.suffixes)
    if kind.suffixes == ("tileset.json",):  # the root tileset: the shallowest tileset.json
        inputs = sorted(inputs, key=lambda p: len(p.parts))[:1]
    if len(inputs) != 1:
        found = ", ".join(p.name for p in inputs[:5]) or "none"
        raise IngestError(f"the archive must hold exactly one input ({', '.join(kind.suffixes)}); found {found}")
    return inputs[0]


class JobRunner:
    """Runs ingest jobs in background threads of this worker and keeps their rows up to date."""

    def __init__(self, engine: Engine, workers: int = 1) -> None:
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="citytwin-ingest")

    def submit(self, kind_name: str, dataset: str, upload: Path, filename: str, options: dict[str, Any]) -> str:
        """Queue an ingest of `upload` (moved into the job's own folder); returns the job id."""
        kind = KINDS[kind_name]
        workdir = Path(tempfile.mkdtemp(prefix="citytwin-job-"))
        try:
            source = unpack_upload(upload, filename, kind, workdir)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        job_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO ingest_jobs (id, kind, dataset, status, options) "
                              "VALUES (:id, :kind, :dataset, 'queued', CAST(:options AS jsonb))"),
                         {"id": job_id, "kind": kind_name, "dataset": dataset,
                          "options": orjson.dumps({**options, "filename": filename}).decode()})
        self.pool.submit(self._run, job_id, kind, dataset, source, workdir, options, kind_name)
        metrics.count_job(kind_name, "queued")
        return job_id

    def _update(self, job_id: str, **values: Any) -> None:
        columns = ", ".join(f"{k} = :{k}" for k in values)
        with self.engine.begin() as conn:
            conn.execute(text(f"UPDATE ingest_jobs SET {columns}, updated_at = now() WHERE id = :id"),
                         {**values, "id": job_id})

    def _run(self, job_id: str, kind: JobKind, dataset: str, source: Path, workdir: Path,
             options: dict[str, Any], kind_name: str) -> None:
        last = [0.0]
        lock = threading.Lock()

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            with lock:
                if now - last[0] < PROGRESS_EVERY_S and done < total:
                    return
                last[0] = now
            self._update(job_id, stage=stage, done=done, total=total)

        status = "failed"
        metrics.INGEST_JOBS_RUNNING.inc()
        try:
            self._update(job_id, status="running")
            summary = kind.run(self.engine, source, dataset, options, progress)
            self._update(job_id, status="succeeded", summary=orjson.dumps(summary, default=str).decode())
            status = "succeeded"
        except IngestError as exc:
            self._update(job_id, status="failed", error=str(exc))
        except Exception as exc:  # report anything else as a failed job rather than losing it
            self._update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            metrics.INGEST_JOBS_RUNNING.dec()
            metrics.count_job(kind_name, status)
            shutil.rmtree(workdir, ignore_errors=True)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


_SELECT = ("SELECT id, kind, dataset, status, stage, done, total, options, summary, error, created_at, updated_at, "
           "now() - updated_at > make_interval(secs => :stall) AS stalled FROM ingest_jobs ")


def _shown(row: Any) -> dict[str, Any]:
    job = dict(row)
    if job.pop("stalled") and job["status"] in ("queued", "running"):
        job["status"], job["error"] = "failed", "the worker running this job stopped reporting (restarted?)"
    return job


def job_status(engine: Engine, job_id: str) -> dict[str, Any] | None:
    """A job as the API shows it; a running job silent for too long is reported as failed."""
    with engine.connect() as conn:
        row = conn.execute(text(_SELECT + "WHERE id = :id"),
                           {"id": job_id, "stall": STALLED_AFTER_S}).mappings().first()
    return None if row is None else _shown(row)


def list_jobs(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(_SELECT + "ORDER BY created_at DESC LIMIT :n"),
                            {"n": limit, "stall": STALLED_AFTER_S}).mappings().all()
    return [_shown(row) for row in rows]
