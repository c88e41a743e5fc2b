"""`python -m bench terrain --quick`: the generated DEM becomes the same tiles through our path and through the
encoder alone, and the report prints. It checks that the benchmark works, not how fast anything is."""

from __future__ import annotations

import pytest

from bench.terrain import Options, print_report, run


def test_the_quick_terrain_bench_builds_the_same_tiles_both_ways_and_prints_the_ratio(
        capsys: pytest.CaptureFixture[str]) -> None:
    report = run(Options(cells=1_000))
    ours, limit = report.rows
    assert report.cells == 1_000_000 and report.max_zoom == 15  # 10 m cells call for level 15
    assert ours.tiles == limit.tiles > 600 and limit.limit and not ours.limit
    assert ours.bytes == pytest.approx(limit.bytes, rel=0.02)  # the same meshes, written by both writers
    assert ours.seconds > 0 and limit.seconds > 0
    print_report(report)
    out = capsys.readouterr().out
    assert "(b) pydelatin + quantized-mesh-encoder alone" in out and "×" in out
