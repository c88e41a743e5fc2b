"""`python -m bench live --quick` end to end: server, load generator, websocket clients, both peers. It checks that
the benchmark works and reports sane numbers, not how fast anything is."""

from __future__ import annotations

import math

import pytest

from bench.live import print_report, quick_options, run


def test_the_quick_live_bench_lands_readings_pushes_them_and_loses_no_alarm(capsys: pytest.CaptureFixture[str]) -> None:
    report = run(quick_options())
    ours = [s for s in report.steps if s.target.startswith("CityTwin")]
    bare = [s for s in report.steps if s.target == "bare websockets"]
    assert len(ours) == len(bare) == len(quick_options().rates)
    for step in ours:
        assert step.failed_posts == 0 and step.sustained > 0
        assert step.writes_per_s is not None and step.writes_per_s > 0  # readings rows landed in PostGIS
        assert step.delivered > 0 and step.delivered <= step.deliveries_expected
        assert math.isfinite(step.p50_ms) and 0 <= step.p50_ms <= step.p99_ms
        assert step.alarms_expected and step.alarms_lost == 0 and step.alarms_extra == 0
        assert step.server_transitions is not None and step.server_transitions > 0
        assert step.server_cpu > 0
    for step in bare:
        assert step.delivered > 0 and step.frames_per_s > 0
    assert report.raw_copy > 0 and report.our_store > 0
    print_report(report)
    assert "raw COPY" in capsys.readouterr().out
