"""Run the benchmarks: `python -m bench` runs all; `python -m bench NAME [options]` runs one
(footprints, tiles, serving, queries, ifc, oblique, pointcloud, cityjson, live, mqtt, events, dask_ingest, drills,
sensorthings, terrain, viewer)."""

import sys

from bench import (
    cityjson,
    dask_ingest,
    drills,
    events,
    footprints,
    ifc,
    live,
    mqtt,
    oblique,
    pointcloud,
    queries,
    sensorthings,
    serving,
    terrain,
    tiles,
    viewer,
)

BENCHMARKS = {"footprints": footprints.main, "tiles": tiles.main, "serving": serving.main, "queries": queries.main,
              "ifc": ifc.main, "oblique": oblique.main, "pointcloud": pointcloud.main,
              "cityjson": cityjson.main, "live": live.main, "mqtt": mqtt.main, "events": events.main,
              "dask_ingest": dask_ingest.main, "drills": drills.main,
              "sensorthings": sensorthings.main, "terrain": terrain.main, "viewer": viewer.main}

if len(sys.argv) > 1 and sys.argv[1] in BENCHMARKS:
    BENCHMARKS[sys.argv[1]](sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] not in ("-h", "--help"):
    sys.exit(f"usage: python -m bench [{'|'.join(BENCHMARKS)} [options]]  (no name runs every benchmark)")
elif len(sys.argv) > 1:
    print(__doc__)
else:
    for run in BENCHMARKS.values():
        run([])
