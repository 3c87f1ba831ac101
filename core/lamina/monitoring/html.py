"""The report as one self-contained HTML page: inline CSS, inline SVG, no script, no
font, no image or stylesheet fetched from anywhere, so it opens offline, from an artifact
store or as an e-mail attachment, and renders the same everywhere."""

from __future__ import annotations

import datetime as dt
import math
from html import escape
from typing import TYPE_CHECKING, Any

from lamina.monitoring import svg

if TYPE_CHECKING:
    from lamina.monitoring.report import MonitoringReport

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px;color:#222;background:#fff;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:22px}.bad{color:#c0392b}.good{color:#2e7d32}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}th{background:#f6f6f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{border-radius:10px;padding:1px 8px;font-size:12px}
.pill.drift{background:#fde2e1;color:#b71c1c}.pill.ok{background:#e3f2e5;color:#1b5e20}
.pill.insufficient{background:#eee;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
.plot{border:1px solid #eee;border-radius:6px;padding:8px}.plot h3{font-size:14px;margin:0 0 4px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.small{font-size:12px;color:#555}
"""


def _n(x: Any, digits: int = 3) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "&ndash;"
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.2e}"
        return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}"
    return escape(str(x))


def _score(c: dict[str, Any]) -> str:
    """The score cell: a test's adjusted p-value in scientific notation below 0.001 (as
    PSI), never "0.000"; a p-value too small for a float to hold (0.0) as ``< 1e-300``."""
    x = c.get("score")
    if c.get("method") in ("ks", "chi2") and isinstance(x, float) and x == 0.0:
        return ("<span title='the p-value is below the smallest number a float holds'>"
                "&lt; 1e-300</span>")
    return _n(x)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(report: MonitoringReport) -> str:
    """The whole page."""
    s = report.summary()
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f"<div class='meta'>created {_when(report.created_at)} · reference "
        f"<b>{escape(str(report.reference.get('name')))}</b> ({report.reference.get('rows'):,} rows) "
        f"· current <b>{escape(str(report.current.get('name')))}</b> "
        f"({report.current.get('rows'):,} rows"
        + (f", {escape(report.current['start'])} → {escape(report.current['end'])}"
           if report.current.get("start") else "")
        + ")</div>",
        "<div class='cards'>",
        _card("columns drifted", f"{len(s['drifted'])} / {s['columns']}", bool(s["drifted"])),
        _card("dataset drift", "yes" if s["dataset_drift"] else "no", s["dataset_drift"]),
        _card("quality issues", str(s["quality_issues"]), bool(s["quality_issues"])),
    ]
    if report.performance:
        overall = report.performance["variants"].get("all", {})
        key = "accuracy" if report.performance["task"] == "classification" else "rmse"
        value, floor = overall.get(key), report.options.get(
            "min_accuracy" if key == "accuracy" else "max_rmse")
        bad = value is not None and floor is not None and (
            value < floor if key == "accuracy" else value > floor)
        parts.append(_card(key, _n(value), bad))
    parts.append("</div>")
    parts.append(_drift_table(report))
    if report.timeline:
        parts.append(_timeline(report.timeline))
    parts.append(_plots(report))
    parts.append(_quality(report))
    if report.performance:
        parts.append(_performance(report.performance))
    o = report.options
    parts.append(
        "<h2>Settings</h2><p class='small'>Tests: KS (numeric) and chi-squared (categorical), "
        f"p-values Holm-adjusted across columns at family-wise alpha {o.get('alpha')}; a column "
        f"is flagged when also its effect is at least {o.get('numeric_min_effect')} reference "
        f"standard deviations (Wasserstein) or {o.get('categorical_min_effect')} "
        "(Jensen-Shannon distance). Distance methods flag on their threshold alone.</p>"
    )
    parts.append("</body></html>")
    return "".join(parts)


def _card(label: str, value: str, bad: bool) -> str:
    cls = "bad" if bad else "good"
    return f"<div class='card'><span class='small'>{escape(label)}</span><b class='{cls}'>{escape(value)}</b></div>"


def _drift_table(report: MonitoringReport) -> str:
    rows = []
    ordered = sorted(report.columns, key=lambda c: (not c.get("drifted"), -(c.get("effect") or 0)))
    for c in ordered:
        status = c.get("status", "ok")
        psi = c.get("psi")
        rows.append(
            f"<tr><td><a href='#col-{escape(c['column'])}'>{escape(c['column'])}</a></td>"
            f"<td>{c['kind']}</td><td>{c['method']}</td>"
            f"<td class='num score'>{_score(c)}</td><td class='num'>{_n(c.get('threshold'))}</td>"
            f"<td class='num'>{_n(c.get('effect'))}</td><td class='num'>{_n(psi)}</td>"
            f"<td class='num'>{_n(c['null_share']['current'])}</td>"
            f"<td><span class='pill {status}'>{status}</span></td></tr>"
        )
    return (
        "<h2>Drift by column</h2><table><thead><tr><th>column</th><th>kind</th><th>method</th>"
        "<th>score</th><th>threshold</th><th>effect</th><th>PSI</th><th>nulls</th><th>status</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "<p class='small'>score: adjusted p-value for a test, the distance for a distance "
        "method. effect: Wasserstein distance in reference standard deviations (numeric) or "
        "Jensen-Shannon distance (categorical).</p>"
    )


def _legend() -> str:
    return (f"<div class='legend small'><span style='background:{svg.REF_COLOR}'></span>reference"
            f"<span style='background:{svg.CUR_COLOR}'></span>current</div>")


def _plots(report: MonitoringReport) -> str:
    cells = []
    ordered = sorted(report.columns, key=lambda c: (not c.get("drifted"), -(c.get("effect") or 0)))
    for c in ordered:
        name = c["column"]
        if "histogram" in c:
            h = c["histogram"]
            chart = svg.histogram_overlay(
                h["edges"], h["reference"], h["current"], label=name,
                below=_tail(h, "below"), above=_tail(h, "above"),
                integral=bool(h.get("integral")))
        elif "categories" in c:
            chart = svg.category_bars(c["categories"], c["reference_share"], c["current_share"],
                                      label=name)
        else:
            continue
        status = c.get("status", "ok")
        cells.append(
            f"<div class='plot' id='col-{escape(name)}'><h3>{escape(name)} "
            f"<span class='pill {status}'>{status}</span></h3>{chart}</div>"
        )
    if not cells:
        return ""
    return "<h2>Distributions</h2>" + _legend() + "<div class='grid'>" + "".join(cells) + "</div>"


def _tail(histogram: dict[str, Any], which: str) -> tuple[float, float]:
    shares = histogram.get(which) or {}
    return (float(shares.get("reference", 0.0)), float(shares.get("current", 0.0)))


def _timeline(tl: dict[str, Any]) -> str:
    starts = tl["bucket_starts_us"]
    first = dt.datetime.fromtimestamp(starts[0] / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M")
    last = dt.datetime.fromtimestamp(starts[-1] / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M")
    chart = svg.line_chart(tl["series"], x_labels=(first, last), y_label="effect")
    return ("<h2>Drift over time</h2><p class='small'>Each point compares one time slice of the "
            "current data to the reference (effect size).</p>" + chart)


def _quality(report: MonitoringReport) -> str:
    issues = report.quality_issues
    if not issues:
        return "<h2>Data quality</h2><p class='good'>No problems found.</p>"
    rows = "".join(f"<tr><td>{escape(i['column'])}</td><td>{escape(i['problem'])}</td></tr>"
                   for i in issues)
    return ("<h2>Data quality</h2><table><thead><tr><th>column</th><th>problem</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _performance(perf: dict[str, Any]) -> str:
    keys = ["accuracy", "auc"] if perf["task"] == "classification" else ["rmse", "mae"]
    rows = "".join(
        f"<tr><td>{escape(v)}</td><td class='num'>{m.get('n', 0):,}</td>"
        + "".join(f"<td class='num'>{_n(m.get(k))}</td>" for k in keys) + "</tr>"
        for v, m in perf["variants"].items()
    )
    head = "".join(f"<th>{k}</th>" for k in keys)
    return (f"<h2>Model performance ({perf['task']})</h2><p class='small'>"
            f"{perf['with_outcome']:,} of {perf['predictions']:,} predictions have an outcome; "
            f"prediction column {escape(perf['prediction_column'])}.</p>"
            f"<table><thead><tr><th>variant</th><th>n</th>{head}</tr></thead><tbody>{rows}"
            "</tbody></table>")
