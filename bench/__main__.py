"""Run the benchmarks: `python -m bench [-n N]`."""

from bench.footprints import main

main()
