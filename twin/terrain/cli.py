"""`citytwin ingest terrain DEM.tif` and the `--ground` option of footprint and point ingests."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.settings import Settings


def cmd_ingest_terrain(args: argparse.Namespace, settings: Settings) -> int:
    from ingest_gis.terrain import TerrainOptions
    from twin.cli_ingest import run_ingest
    from twin.terrain.ingest import ingest_terrain

    options = TerrainOptions(name=args.name, crs=args.crs, max_zoom=args.max_zoom)

    def describe(s: dict[str, Any]) -> str:
        return (f"terrain [bold]{s['dataset_id']}[/] ({s['source_crs']}, {s['grid'][0]} × {s['grid'][1]} cells of "
                f"{s['cell_m']} m, heights {s['zmin']:.1f}–{s['zmax']:.1f} m): {s['tiles']} quantized-mesh tiles "
                f"in levels 0–{s['max_zoom']} ({s['bytes']:,} bytes) at {s['layer_url']}")

    return run_ingest(args, settings, lambda engine, store, on_progress: ingest_terrain(
        engine, args.path, options, store=store, on_progress=on_progress), describe)


def add_terrain_command(kinds: Any) -> None:
    """`ingest terrain` under `citytwin ingest`."""
    terrain = kinds.add_parser("terrain", help="a DEM (GeoTIFF, any CRS) as Cesium quantized-mesh terrain and a "
                                               "height grid for /terrain/height")
    terrain.add_argument("path")
    terrain.add_argument("--name", default="terrain", help="dataset name (default: terrain); re-ingesting a name "
                                                           "replaces that terrain")
    terrain.add_argument("--crs", help="CRS of the DEM (EPSG:… or WKT) when it has none or declares a wrong one")
    terrain.add_argument("--max-zoom", type=int, help="deepest tile level (default: where tile samples are as "
                                                      "close as the DEM's cells)")
    terrain.add_argument("--json", action="store_true", help="print a machine-readable summary")
    terrain.set_defaults(handler=cmd_ingest_terrain)


def add_ground_option(parser: argparse.ArgumentParser) -> None:
    """`--ground file|terrain` and `--terrain NAME` for ingests of objects that stand on the ground."""
    parser.add_argument("--ground", choices=["file", "terrain"], default="file",
                        help="base heights as in the file (default) or on the ingested terrain")
    parser.add_argument("--terrain", help="terrain dataset for --ground terrain (default: the newest with data)")
