"""py3dtiles' point tiler, run in a child process group with a time limit.

`py3dtiles.convert.convert` forks worker processes and waits for their messages with no time limit, so a worker
that never answers stalls it for good (a LAZ file whose colours py3dtiles samples in the parent process does
exactly that: the parent's LAZ decompression thread pool does not survive `fork`, and the workers deadlock in
their first decompression). We only hand it plain LAS files, which avoids that cause; the child process group
is the guard for anything else: on time-out it is killed whole, workers included. The child also keeps
py3dtiles' own printing away from our standard output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest_gis.records import IngestError


@dataclass(frozen=True)
class TilerJob:
    """Arguments of one py3dtiles conversion (plain values, passed to the child as JSON)."""

    las: str
    out: str
    rgb: bool
    color_scale: float | None = None
    extra_fields: list[str] = field(default_factory=list)
    jobs: int = 2


def time_limit(point_count: int) -> float:
    """Generous seconds for py3dtiles to tile `point_count` points (it does well over 50,000 points/s here)."""
    return 120.0 + point_count / 20_000


def run_tiler(job: TilerJob, timeout_s: float) -> None:
    """Tile `job.las` into `job.out` (3D Tiles 1.0 pnts) or raise IngestError; never outlives `timeout_s`."""
    command = [sys.executable, "-m", "ingest_gis.pointcloud_tiler", json.dumps(asdict(job))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               cwd=Path(job.out).parent)
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.communicate()
        raise IngestError(f"tiling the points took longer than {timeout_s:.0f} s and was stopped") from None
    finally:
        _kill_group(process.pid)  # py3dtiles' workers, should any be left
    if process.returncode != 0:
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        raise IngestError("py3dtiles could not tile the points: " + (lines[-1] if lines else
                                                                      f"exit code {process.returncode}"))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _main(argument: str) -> None:
    from py3dtiles.constants import SpecVersion
    from py3dtiles.convert import convert

    job = TilerJob(**json.loads(argument))
    convert(job.las, outfolder=job.out, jobs=job.jobs, rgb=job.rgb, color_scale=job.color_scale,
            extra_fields=job.extra_fields, spec_version=SpecVersion.V1_0, use_process_pool=False)


if __name__ == "__main__":
    _main(sys.argv[1])
