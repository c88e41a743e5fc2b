"""The report: each step's row, the ratios against the peers, the targets met or not."""

from __future__ import annotations

import os

from bench.live.measure import Report, StepResult, profile_summary


def _fmt(value: float | int | None, spec: str) -> str:
    if value is None:
        return "–"
    return format(value, spec)


HEADER = (f"{'target':<22}{'offered':>8}{'sent':>8}{'sustain':>8}{'p50':>8}{'p99':>8}{'deliv':>7}{'frames/s':>9}"
          f"{'alarms':>7}{'lost':>5}{'srvCPU':>7}{'pgCPU':>6}{'cliCPU':>7}{'writes/s':>9}{'failed':>7}")


def print_steps(steps: list[StepResult]) -> None:
    print(HEADER)
    for s in steps:
        delivered = s.delivered / s.deliveries_expected if s.deliveries_expected else float("nan")
        print(f"{s.target:<22}{s.rate:>8,.0f}{s.sent_per_s:>8,.0f}{s.sustained:>8,.0f}{s.p50_ms:>7.1f}m"
              f"{s.p99_ms:>7.1f}m{delivered:>6.0%} {s.frames_per_s:>9,.0f}{_fmt(s.alarms_expected, ',d'):>7}"
              f"{_fmt(s.alarms_lost, 'd'):>5}{s.server_cpu:>7.0%}{s.postgres_cpu:>6.0%}{s.clients_cpu:>7.0%}"
              f"{_fmt(s.writes_per_s, ',.0f'):>9}{s.failed_posts:>7}", flush=True)


def _cpu_us(step: StepResult) -> float:
    """Server CPU per accepted reading (µs): what fan-out costs, whatever share of the cores the server got."""
    return step.server_cpu / step.sustained * 1e6 if step.sustained else float("nan")


def print_report(report: Report) -> None:
    print(f"live twin: {report.sensors:,} sensors, {report.clients:,} websocket clients (bbox ≈1 % of the "
          f"sensors each), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end")
    for note in report.notes:
        print(f"  {note}")
    print_steps(report.steps)
    print("  offered/sent/sustain: readings/s scheduled, posted, accepted; p50/p99: post → client in ms over every "
          "reading a client got; deliv: readings received ÷ (accepted × subscribers whose box holds them; "
          "coalescing may lower it); alarms: alarm messages owed to subscribers in scope, lost: owed but never "
          "received; CPU: share of one core (server process tree, PostgreSQL, client processes)")
    print(f"writes: raw COPY of {report.copy_rows:,} reading rows into a table with the (sensor_id, time) index "
          f"{report.raw_copy:,.0f} rows/s; our store path (write_readings) {report.our_store:,.0f} rows/s "
          f"= {report.our_store / report.raw_copy:.2f}× raw COPY; the latest values' background flush (once a "
          f"second, the sensors that changed) {report.latest_flush:,.0f} rows/s")
    ours = [s for s in report.steps if s.target.startswith("CityTwin")]
    bare = {s.rate: s for s in report.steps if s.target == "bare websockets"}
    for s in ours:
        peer = bare.get(s.rate)
        if peer is not None and peer.p99_ms and peer.frames_per_s:
            print(f"  {s.target} at {s.rate:,.0f}/s vs bare websockets: sustained {s.sustained / peer.sustained:.2f}×, "
                  f"p50 {s.p50_ms / peer.p50_ms:.2f}×, p99 {s.p99_ms / peer.p99_ms:.2f}×, "
                  f"frames/s {s.frames_per_s / peer.frames_per_s:.2f}×, server CPU per reading "
                  f"{_cpu_us(s):.0f} µs vs {_cpu_us(peer):.0f} µs ({_cpu_us(s) / _cpu_us(peer):.1f}×)")
    for s in ours:
        if s.rate >= 10_000:
            met = s.sustained >= 0.98 * 10_000 and s.p99_ms <= 100 and s.alarms_lost == 0
            print(f"target {s.target} at {s.rate:,.0f}/s: sustained {s.sustained:,.0f} (≥ 10,000), p99 "
                  f"{s.p99_ms:.0f} ms (≤ 100), {s.alarms_lost} alarms lost (0): {'MET' if met else 'NOT met'}")
    ratio = report.our_store / report.raw_copy if report.raw_copy else 0
    for path in report.profiles:
        print(f"py-spy {path.stem}: " + ", ".join(f"{f} {share:.0%}" for share, f in profile_summary(path, 8)))
    print(f"target writes ≥ 0.5× raw COPY: {ratio:.2f}× — {'MET' if ratio >= 0.5 else 'NOT met'}")
