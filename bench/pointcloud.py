"""Point clouds: CityTwin's whole ingest path against `py3dtiles convert` alone on the same files, in one run.

The limit is py3dtiles itself (our path tiles with it): `py3dtiles convert FILE --srs_out 4978` writes a placed
pnts tileset to a folder. Ours is `citytwin ingest pointcloud`: read with laspy, reproject, check, write the ENU
LAS, py3dtiles in a child process, read back and store the tiles in PostGIS. Files: a generated LAS 1.4 cloud
(`-n` points, RD New, RGB and classes) and the LAS/LAZ files in `../shared/data/pointcloud/`. py3dtiles alone
stalls on LAZ files with colours (see `ingest_gis/pointcloud_tiler.py`), so it is given `--color_scale`, which
skips the colour probe that causes it. Prints points/s for both and the ratio (target: ours ≤ 1.2 × its time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import laspy
import numpy as np
from pyproj import CRS

from ingest_gis.pointcloud import PointCloudOptions
from twin.db import open_database
from twin.ingest import ingest_pointcloud
from twin.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pointcloud"
CRS_OF = {"ahn3_cropped_2.laz": "28992"}  # files without a CRS in their header


def generate(path: Path, n: int, seed: int = 5) -> Path:
    """`n` points of a 1 km² rolling landscape near Delft in RD New (EPSG:28992), with RGB and classes."""
    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([84_000.0, 446_000.0, 0.0])
    header.add_crs(CRS.from_epsg(28992))
    with laspy.open(path, mode="w", header=header) as writer:
        for start in range(0, n, 1_000_000):
            count = min(1_000_000, n - start)
            points = laspy.ScaleAwarePointRecord.zeros(count, header=header)
            x, y = rng.uniform(0, 1000, count), rng.uniform(0, 1000, count)
            points.x, points.y = 84_000 + x, 446_000 + y
            points.z = 5 + 3 * np.sin(x / 90) * np.cos(y / 70) + rng.uniform(0, 0.2, count)
            points.classification = rng.choice(np.array([1, 2, 6], dtype=np.uint8), count)
            points.red = (x * 65.535).astype(np.uint16)
            points.green = (y * 65.535).astype(np.uint16)
            points.blue = np.full(count, 30_000, dtype=np.uint16)
            writer.write_points(points)
    return path


def _peer(path: Path, out: Path, crs: str | None, colours_in_8_bits: bool) -> float:
    header = laspy.open(path).header
    names = set(header.point_format.dimension_names)
    command = [str(Path(sys.executable).with_name("py3dtiles")), "convert", str(path), "--out", str(out),
               "--srs_out", "4978", "--jobs", str(os.cpu_count() or 2),
               "--extra-fields", "classification" if header.point_format.id >= 6 else "raw_classification"]
    if crs:
        command += ["--srs_in", crs]
    if "red" in names:
        command += ["--color_scale", "256" if colours_in_8_bits else "1"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"py3dtiles convert failed on {path.name}:\n{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=3_000_000, help="points in the generated cloud (default 3,000,000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citytwin-points-") as tmp:
        root = Path(tmp)
        files = [generate(root / "generated.las", args.n), *sorted(SHARED.glob("*.la[sz]"))]
        database = open_database(Settings(data_dir=root / "data"))
        rows = []
        try:
            for i, path in enumerate(files):
                crs = CRS_OF.get(path.name)
                start = time.perf_counter()
                summary = ingest_pointcloud(database.engine, path, PointCloudOptions(f"bench{i}", crs=crs),
                                            work_dir=root)
                ours = time.perf_counter() - start
                eight_bits = any("8-bit" in w for w in summary["warnings"])
                peer = _peer(path, root / f"peer{i}", crs, eight_bits)
                rows.append((path.name, summary["points"], ours, peer, summary["seconds"]))
        finally:
            database.close()
    print(f"{'file':<24}{'points':>11}{'CityTwin pts/s':>16}{'py3dtiles pts/s':>17}{'time ratio':>12}  stages (s)")
    for name, points, ours, peer, stages in rows:
        print(f"{name:<24}{points:>11,}{points / ours:>16,.0f}{points / peer:>17,.0f}{ours / peer:>11.2f}×  "
              + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
