"""The live twin under load: sensors, websocket subscribers and readings at rising rates, post → client.

Processes: the server (as `citytwin serve` runs it; 1 worker, and 2 workers sharing a Redis stream bus), one
load generator posting readings (`POST /readings`, batches over several keep-alive connections, each reading's
`time` its send time), and 1–2 client processes holding the websocket subscribers (each a bbox of ≈1 % of the
sensors) that measure now − time for every reading they get and record every alarm. Peers in the same run: a bare
`websockets` broadcast server (the same readings over one connection, routed by a sensor → clients map, batched
per 20 ms tick) measured with the same client processes — the fan-out limit —, and PostgreSQL's raw COPY of the
same reading rows into a table with the same (sensor_id, time) index — the write limit.

Modules: `layout` (the grid of sensors), `servers` (ours and the bare peer), `clients`, `generator`, `measure`,
`writes` (the COPY limit), `run` (the phases), `report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.live.report import print_report
from bench.live.run import Options, run

__all__ = ["Options", "main", "print_report", "quick_options", "run"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensors", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--rates", default="1000,2000,5000,10000,15000", help="readings/s per step")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--batch", type=int, default=250, help="readings per POST")
    parser.add_argument("--connections", type=int, default=8, help="concurrent HTTP connections posting")
    parser.add_argument("--workers", default="1,2", help="server runs: worker counts (more than 1 uses Redis)")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare websockets server")
    parser.add_argument("--profile", type=Path, help="py-spy the server over every step into this folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 sensors, 100 clients, 2 steps")
    args = parser.parse_args(argv)
    options = Options(args.sensors, args.clients, args.client_procs,
                      tuple(float(r) for r in args.rates.split(",")), args.seconds, args.batch, args.connections,
                      tuple(int(w) for w in args.workers.split(",")), peer=not args.no_peer, profile=args.profile)
    if args.quick:
        options = quick_options()
    print_report(run(options, progress=True))


def quick_options() -> Options:
    return Options(sensors=5_000, clients=100, client_procs=1, rates=(500, 1_000), seconds=3.0, batch=100,
                   connections=4, workers=(1,), copy_repeat=1)
