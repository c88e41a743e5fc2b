"""`python -m bench viewer` on a small layer: both pages (our viewer and a bare CesiumJS page) open the same served
tileset in headless Chromium, draw it, load the same tiles of the same view and restyle it, and the report prints
the ratios. It checks that the benchmark measures what it says, not how fast anything is."""

from __future__ import annotations

import pytest

from bench.viewer import report, run

pytestmark = pytest.mark.browser


def test_the_viewer_bench_opens_the_same_tiles_in_both_pages_and_prints_load_and_styling_figures(
        capsys: pytest.CaptureFixture[str]) -> None:
    results = run(1_500, rounds=2, timeout_s=600)
    ours, bare = results["ours"], results["bare"]
    for page in (ours, bare):
        assert 0 < page["firstFrame"] <= page["loaded"], page
        assert len(page["changes"]) == 2 and len(page["frames"]) == 2 * 5 and min(page["frames"]) > 0
        assert page["left"] < min(page["frames"]), page  # each frame was timed until drawn: nothing left queued
    assert ours["tiles"] == bare["tiles"] > 0  # the same camera, the same tileset: the same tiles of the view
    assert len(ours["classes"]) >= 3 and any("min" in c for c in ours["classes"])  # a graduated style by height
    report(1_500, results)
    out = capsys.readouterr().out
    assert "first rendered frame (ms)" in out and "style change → frame (ms)" in out and "×" in out
