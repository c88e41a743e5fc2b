"""Oblique photography ingest: OSGB tiles/s through CityTwin against OpenSceneGraph's own conversion of the same files.

A generated Smart3D-layout site (default 4 × 4 tile folders, 3 LOD levels: 336 LOD nodes in 288 OSGB files, 256 px
JPEG per node, written by OSG itself) is ingested through the real path: osgconv reads the OSGB (up to 16 files or
16 MB per process, two processes), the text scene is parsed into meshes, images re-encoded, vertices placed and
written as textured GLBs in a REPLACE tileset, and everything stored in PostGIS. The peer, measured in the same run,
is the limit of reading OSGB through OSG: the very same `osgconv` runs (same batches, two at a time), nothing else.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ingest_gis.oblique import READERS, batches, read_oblique
from ingest_gis.osg_reader import run_osgconv
from scenes.oblique_site import SiteOptions, tiles_per_level
from tests.helpers.oblique import write_site
from tiles.textured import build_replace_tileset
from twin.db import open_database
from twin.ingest import ingest_oblique
from twin.settings import Settings


def osgconv_alone(files: list[Path], work: Path) -> float:
    """Seconds for OSG to read every file and write it as text, batched as the ingest batches them."""
    runs = batches(files)
    start = time.perf_counter()
    with ThreadPoolExecutor(READERS) as pool:
        done = list(pool.map(lambda b: run_osgconv(b[1], work / f"peer-{b[0]}.osgt"), enumerate(runs)))
    seconds = time.perf_counter() - start
    failed = [d for d in done if d.returncode != 0]
    if failed:
        raise RuntimeError(f"osgconv failed: {failed[0].stderr[-300:]}")
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiles", type=int, default=4, help="tile folders per side (default 4)")
    parser.add_argument("--levels", type=int, default=3, help="LOD levels per folder (default 3)")
    parser.add_argument("--texture", type=int, default=256, help="texture pixels per side per node (default 256)")
    parser.add_argument("--grid", type=int, default=16, help="quads per node side (default 16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported (default 3)")
    args = parser.parse_args(argv)
    options = SiteOptions(tiles_x=args.tiles, tiles_y=args.tiles, levels=args.levels, texture_px=args.texture,
                          grid=args.grid, tile_size=128.0, srs="EPSG:4547", origin=(500000.0, 3400000.0, 20.0))
    nodes = sum(tiles_per_level(options))
    with tempfile.TemporaryDirectory(prefix="citytwin-oblique-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        site = write_site(root / "site", options)
        files = sorted((site / "Data").rglob("*.osgb"))
        size = sum(f.stat().st_size for f in files)
        print(f"oblique ingest: {nodes} LOD nodes in {len(files)} OSGB files ({size / 1e6:.1f} MB, {args.texture} px "
              f"JPEG per node, {args.grid}² quads), written by OSG in {time.perf_counter() - start:.1f} s")
        peer = min(osgconv_alone(files, root) for _ in range(args.repeat))
        read = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = read_oblique(site)
            build_replace_tileset(result.roots, result.georef.frame)
            read.append(time.perf_counter() - start)
        settings = Settings(data_dir=root / "data")  # embedded cluster unless CITYTWIN_DATABASE_URL is set
        database = open_database(settings)
        whole = []
        try:
            for _ in range(args.repeat):
                start = time.perf_counter()
                summary = ingest_oblique(database.engine, site, "bench")
                whole.append(time.perf_counter() - start)
        finally:
            database.close()
    assert summary["tiles"] == nodes, summary
    rows = [("osgconv alone (peer, the limit)", peer), ("read + GLB + tileset", min(read)),
            ("whole ingest into PostGIS", min(whole))]
    print(f"{'path':<34}{'seconds':>9}{'tiles/s':>10}{'× peer':>8}")
    for label, seconds in rows:
        print(f"{label:<34}{seconds:>9.2f}{nodes / seconds:>10.0f}{seconds / peer:>8.2f}")
    print(f"stages of the last whole run: {summary['seconds']}; {summary['bytes'] / 1e6:.1f} MB of tiles")
