"""LoD1 buildings from a PostGIS table to 3D Tiles: CityTwin against py3dtiles' `export`, in one run.

Both read the same generated buildings from PostGIS: CityTwin tiles its `twin_objects` rows (footprint +
heights) into Draco-compressed 3D Tiles 1.1 stored back in PostGIS; py3dtiles exports the same buildings given
as extruded PolyhedralSurfaceZ in UTM (what it needs, made with PostGIS SFCGAL and not timed) to a folder.
Prints buildings/s and bytes per building for both, and the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import text

from bench.footprints import generate
from ingest_gis.footprints import FootprintOptions
from tiles.encoding import Compression
from tiles.tileset import TilingOptions
from twin.db import open_database
from twin.ingest import ingest_footprints
from twin.retile import retile_dataset
from twin.settings import Settings


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _ours(engine, name: str, compression: Compression) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = retile_dataset(engine, name, TilingOptions(class_name="building", compression=compression))
    return time.perf_counter() - start, int(result["bytes"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="buildings tiled by CityTwin (default 100,000)")
    parser.add_argument("--peer-n", type=int, default=20_000, help="buildings given to py3dtiles (default 20,000)")
    args = parser.parse_args(argv)
    peer_n = min(args.peer_n, args.n)
    with tempfile.TemporaryDirectory(prefix="citytwin-tiles-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data")
        database = open_database(settings)
        engine = database.engine
        try:
            city = generate(args.n)
            (root / "all.geojson").write_bytes(orjson.dumps(city))
            (root / "peer.geojson").write_bytes(orjson.dumps({**city, "features": city["features"][:peer_n]}))
            ingest_footprints(engine, root / "all.geojson", FootprintOptions("bench"))
            ingest_footprints(engine, root / "peer.geojson", FootprintOptions("peer"))
            rows = []
            for compression in Compression:
                seconds, size = _ours(engine, "bench", compression)
                rows.append((f"CityTwin ({compression})", args.n, seconds, size))
            seconds, size = _ours(engine, "peer", Compression.DRACO)
            rows.append(("CityTwin (draco)", peer_n, seconds, size))
            with engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis_sfcgal"))
                conn.execute(text("CREATE TABLE py3dtiles_input AS SELECT id, "
                                  "ST_Extrude(ST_Transform(footprint, 32633), 0, 0, zmax - zmin) AS geom "
                                  "FROM twin_objects WHERE dataset_id = 'peer'"))
            url = engine.url
            conninfo = (f"dbname={url.database} host={url.host} port={url.port} user={url.username} "
                        f"password={url.password}")
            out = root / "py3dtiles"
            command = [str(Path(sys.executable).with_name("py3dtiles")), "export", "-D", conninfo,
                       "-t", "py3dtiles_input", "-c", "geom", "-i", "id", "-s", str(out)]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            peer_seconds = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"py3dtiles export failed:\n{done.stderr[-2000:]}")
            peer_bytes = _folder_bytes(out)
        finally:
            database.close()
    print("LoD1 buildings from PostGIS to 3D Tiles (the same generated buildings; py3dtiles on the first "
          f"{peer_n:,})")
    print(f"{'tiler':<24}{'buildings':>10}{'seconds':>9}{'buildings/s':>13}{'bytes/building':>16}")
    for label, n, seconds, size in rows:
        print(f"{label:<24}{n:>10,}{seconds:>9.2f}{n / seconds:>13,.0f}{size / n:>16,.0f}")
    print(f"{'py3dtiles export':<24}{peer_n:>10,}{peer_seconds:>9.2f}{peer_n / peer_seconds:>13,.0f}"
          f"{peer_bytes / peer_n:>16,.0f}")
    _, ours_n, ours_s, ours_b = next(r for r in rows if r[0] == "CityTwin (draco)")
    print(f"speed CityTwin/py3dtiles: {(ours_n / ours_s) / (peer_n / peer_seconds):.1f}×; "
          f"size CityTwin/py3dtiles: {(ours_b / ours_n) / (peer_bytes / peer_n):.2f}×")


if __name__ == "__main__":
    main()
