"""Two drill runs side by side (scheme A against scheme B): their reports' key figures with the differences, as
JSON, and as a page with plots (matplotlib SVG, no script, works offline)."""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

FIGURES = (
    ("rset_s", "RSET (s)", ("evacuation", "rset_s")),
    ("evacuated", "people out", ("evacuation", "evacuated")),
    ("people", "people", ("evacuation", "people")),
    ("peak_density_per_m2", "peak density, Voronoi (persons/m²)", ("evacuation", "peak_density_per_m2")),
    ("max_fed", "highest FED", ("exposure", "max_fed")),
    ("fed_over_0_3", "people with FED ≥ 0.3", ("exposure", "fed_over_0_3")),
    ("first_arrival_s", "first responder arrives (s)", ("responders_summary", "first_arrival_s")),
    ("max_depth_m", "deepest water (m)", ("water", "max_depth_m")),
    ("evacuation_zone_objects", "objects in the evacuation zone", ("gas", "evacuation_zone_count")),
)


def _get(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = report
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    figures = []
    for key, label, path in FIGURES:
        va, vb = _get(a, path), _get(b, path)
        if va is None and vb is None:
            continue
        diff = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        figures.append({"figure": key, "label": label, "a": va, "b": vb, "b_minus_a": diff})
    storeys = sorted(set(_get(a, ("evacuation", "storeys")) or {}) | set(_get(b, ("evacuation", "storeys")) or {}))
    per_storey = [{"storey": s,
                   "name": (_get(a, ("evacuation", "storeys", s, "name")) or _get(b, ("evacuation", "storeys", s,
                                                                                        "name"))),
                   "a_rset_s": _get(a, ("evacuation", "storeys", s, "rset_s")),
                   "b_rset_s": _get(b, ("evacuation", "storeys", s, "rset_s")),
                   **{f"{run}_peak_{kind}_per_m2": _get(report, ("evacuation", "storeys", s, "peak_density", kind,
                                                                  "per_m2"))
                      for run, report in (("a", a), ("b", b)) for kind in ("voronoi", "classic")}}
                  for s in storeys]
    return {"a": {"run": a.get("run"), "plan": a.get("plan"), "scheme": a.get("scheme")},
            "b": {"run": b.get("run"), "plan": b.get("plan"), "scheme": b.get("scheme")},
            "figures": figures, "storeys": per_storey}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _curves(a: dict[str, Any], b: dict[str, Any]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.5))
    for report, name in ((a, "A"), (b, "B")):
        timeline = report.get("timeline") or {}
        if timeline.get("t"):
            axes.plot(timeline["t"], timeline["evacuated"], label=f"{name}: {report.get('scheme')}")
    axes.set_xlabel("simulated time (s)")
    axes.set_ylabel("people out")
    axes.grid(alpha=0.3)
    axes.legend()
    return _svg(figure)


def _exits(a: dict[str, Any], b: dict[str, Any]) -> str:
    exits_a = _get(a, ("evacuation", "exits")) or {}
    exits_b = _get(b, ("evacuation", "exits")) or {}
    names = sorted(set(exits_a) | set(exits_b))
    figure, axes = plt.subplots(figsize=(7, 3.0))
    xs = range(len(names))
    axes.bar([x - 0.2 for x in xs], [exits_a.get(n, {}).get("people", 0) for n in names], width=0.4, label="A")
    axes.bar([x + 0.2 for x in xs], [exits_b.get(n, {}).get("people", 0) for n in names], width=0.4, label="B")
    axes.set_xticks(list(xs), [n.rsplit(".", 1)[-1][:12] for n in names], rotation=30, fontsize=7)
    axes.set_ylabel("people through exit")
    axes.legend()
    return _svg(figure)


def page(a: dict[str, Any], b: dict[str, Any]) -> str:
    result = compare(a, b)
    rows = "".join(f"<tr><td>{html.escape(f['label'])}</td><td>{f['a']}</td><td>{f['b']}</td>"
                   f"<td>{'' if f['b_minus_a'] is None else round(f['b_minus_a'], 3)}</td></tr>"
                   for f in result["figures"])
    storeys = "".join(f"<tr><td>{html.escape(str(s['name'] or s['storey']))}</td><td>{s['a_rset_s']}</td>"
                      f"<td>{s['b_rset_s']}</td><td></td></tr>" for s in result["storeys"])
    densities = "".join(f"<tr><td>{html.escape(str(s['name'] or s['storey']))}</td>"
                        f"<td>{s['a_peak_voronoi_per_m2']} / {s['a_peak_classic_per_m2']}</td>"
                        f"<td>{s['b_peak_voronoi_per_m2']} / {s['b_peak_classic_per_m2']}</td><td></td></tr>"
                        for s in result["storeys"])
    title = html.escape(f"{a.get('plan')}: {a.get('scheme')} (A) against {b.get('scheme')} (B)")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>{title}</h1><p>Runs {html.escape(str(a.get('run')))} (A) and {html.escape(str(b.get('run')))} (B).</p>
<table><tr><th>figure</th><th>A</th><th>B</th><th>B − A</th></tr>{rows}
<tr><th colspan="4">RSET per storey (s)</th></tr>{storeys}
<tr><th colspan="4">peak density per storey, Voronoi / classic (persons/m², PedPy)</th></tr>{densities}</table>
<h2>People out over time</h2>{_curves(a, b)}<h2>Exits used</h2>{_exits(a, b)}</body></html>"""
