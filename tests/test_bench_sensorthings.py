"""`python -m bench sensorthings --quick` end to end: the generated datastreams, the server and the SQL peer. It
checks that the benchmark works (every HTTP answer equals its SQL answer, or the run fails) and reports sane
numbers, not how fast anything is."""

from __future__ import annotations

import math

import pytest

from bench.sensorthings import print_report, quick_options, run


def test_the_quick_sensorthings_bench_answers_as_its_sql_and_prints_the_ratios(
        capsys: pytest.CaptureFixture[str]) -> None:
    options = quick_options()
    report = run(options)
    assert [r.name for r in report.results] == ["latest of every datastream in a box",
                                                f"a datastream's last {options.history:,} observations",
                                                "the same as dataArray"]
    latest, history, array = report.results
    assert 0.01 * options.datastreams < latest.items < 0.05 * options.datastreams  # ≈2.9 % in the box
    assert history.items == array.items == options.history
    for result in report.results:
        assert len(result.http_s) == len(result.sql_s) == options.samples
        assert all(math.isfinite(s) and s > 0 for s in [*result.http_s, *result.sql_s])
    print_report(report)
    out = capsys.readouterr().out
    assert "every HTTP answer equals its SQL answer" in out and out.count("×") >= 6
