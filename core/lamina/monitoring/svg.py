"""Small inline SVG charts: no scripts, no fonts, no external files."""

from __future__ import annotations

import math
from html import escape

REF_COLOR = "#4C78A8"
CUR_COLOR = "#F58518"
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")


def _fmt(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-2:
        return f"{x:.2e}"
    return f"{x:.3g}"


def histogram_overlay(edges: list[float], ref: list[float], cur: list[float], *,
                      width: int = 360, height: int = 150, label: str = "",
                      below: tuple[float, float] = (0.0, 0.0),
                      above: tuple[float, float] = (0.0, 0.0),
                      integral: bool = False) -> str:
    """Reference and current shares over shared bins, drawn as overlapping bars.

    ``below`` and ``above`` are the (reference, current) shares outside the bins: when
    either is not zero it is drawn as a tail bar of its own, apart from the bins, with a
    dashed outline and labelled ``< first edge`` / ``> last edge``, so the edge bins show
    only their own values. ``integral``: the bins hold whole numbers (edges half-way
    between them), so the axis is labelled with the first and last whole number.
    Every bar has a ``<title>`` (its range and both shares) for a tooltip."""
    pad_l, pad_b, pad_t = 8, 18, 6
    has_below, has_above = any(v > 0 for v in below), any(v > 0 for v in above)
    k = len(ref)
    slots = k + 1.5 * has_below + 1.5 * has_above  # a tail bar and half a bar of gap
    w, h = width - 2 * pad_l, height - pad_b - pad_t
    bw = w / max(slots, 1)
    x0 = pad_l + 1.5 * bw * has_below  # where the bins start
    top = max(max(ref, default=0), max(cur, default=0), *below, *above) or 1.0
    lo, hi = (edges[0] + 0.5, edges[-1] - 0.5) if integral else (edges[0], edges[-1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']

    def bar(x: float, values: tuple[float, float], kind: str, title: str,
            dashed: bool = False) -> None:
        for value, color, inset, side in ((values[0], REF_COLOR, 0.0, "ref"),
                                          (values[1], CUR_COLOR, bw * 0.25, "cur")):
            bh = h * value / top
            outline = ' stroke="#333" stroke-dasharray="2,2" stroke-width="0.8"' if dashed else ""
            parts.append(
                f'<rect class="{kind} {side}" data-share="{value:.6g}" x="{x + inset:.1f}" '
                f'y="{pad_t + h - bh:.1f}" width="{max(bw * 0.75 - 0.5, 0.5):.1f}" '
                f'height="{bh:.1f}" fill="{color}" fill-opacity="0.55"{outline}>'
                f'<title>{escape(title)}: reference {values[0]:.1%}, current {values[1]:.1%}'
                f'</title></rect>')

    for i in range(k):
        if integral:
            first, last = edges[i] + 0.5, edges[i + 1] - 0.5
            span = _fmt(first) if first == last else f"{_fmt(first)} to {_fmt(last)}"
        else:
            span = f"{_fmt(edges[i])} to {_fmt(edges[i + 1])}"
        bar(x0 + i * bw, (ref[i], cur[i]), "bin", span)
    axis_l, axis_r = x0, x0 + k * bw
    parts.append(f'<line x1="{axis_l:.1f}" y1="{pad_t + h}" x2="{axis_r:.1f}" y2="{pad_t + h}" '
                 'stroke="#888"/>')
    parts.append(f'<text class="edge low" x="{axis_l:.1f}" y="{height - 4}" font-size="10" '
                 f'fill="#555">{_fmt(lo)}</text>')
    parts.append(f'<text class="edge high" x="{axis_r:.1f}" y="{height - 4}" font-size="10" '
                 f'fill="#555" text-anchor="end">{_fmt(hi)}</text>')
    if has_below:
        bar(pad_l, below, "tail below", f"below {_fmt(lo)}", dashed=True)
        parts.append(f'<text class="tail-label below" x="{pad_l + bw * 0.5:.1f}" '
                     f'y="{height - 4}" font-size="10" fill="#555" text-anchor="middle">'
                     f'&lt;</text>')
    if has_above:
        x = axis_r + 0.5 * bw
        bar(x, above, "tail above", f"above {_fmt(hi)}", dashed=True)
        parts.append(f'<text class="tail-label above" x="{x + bw * 0.5:.1f}" y="{height - 4}" '
                     f'font-size="10" fill="#555" text-anchor="middle">&gt;</text>')
    parts.append("</svg>")
    return "".join(parts)


def category_bars(categories: list[str], ref: list[float], cur: list[float], *,
                  width: int = 360, max_bars: int = 12, label: str = "") -> str:
    """Side-by-side horizontal bars of each category's share on both sides.

    At most ``max_bars`` categories are drawn, the largest on either side first (so a
    category that is new in the current data is not hidden behind the reference's); the
    rest are summed into one last bar, ``other (N)``, with their combined share."""
    order = sorted(range(len(categories)), key=lambda i: -max(ref[i], cur[i]))
    shown = order[:max_bars] if len(order) > max_bars else order
    rows = [(categories[i], ref[i], cur[i], "cat") for i in shown]
    rest = order[len(shown):]
    if rest:
        rows.append((f"other ({len(rest)})", sum(ref[i] for i in rest),
                     sum(cur[i] for i in rest), "cat other"))
    row = 22
    height = row * len(rows) + 8
    label_w = 70
    w = width - label_w - 90
    top = max((max(r[1], r[2]) for r in rows), default=0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, (cat, r, c, kind) in enumerate(rows):
        y = 4 + i * row
        # a long name is cut, and whole in a tooltip
        name = escape(cat) if len(cat) <= 14 else (
            f"{escape(cat[:13])}…<title>{escape(cat)}</title>")
        parts.append(f'<text class="{kind}-label" x="{label_w - 4}" y="{y + 14}" font-size="11" '
                     f'text-anchor="end" fill="#333">{name}</text>')
        for j, (value, color, side) in enumerate(((r, REF_COLOR, "ref"), (c, CUR_COLOR, "cur"))):
            bw = w * value / top
            parts.append(f'<rect class="{kind} {side}" data-share="{value:.6g}" x="{label_w}" '
                         f'y="{y + j * 9 + 1}" width="{bw:.1f}" height="8" fill="{color}"/>')
        parts.append(f'<text class="{kind}-share" x="{label_w + w + 4}" y="{y + 14}" '
                     f'font-size="10" fill="#555">{r:.1%}→{c:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: dict[str, list[float | None]], *, width: int = 760, height: int = 220,
               x_labels: tuple[str, str] = ("", ""), y_label: str = "") -> str:
    """One polyline per series over equally spaced points; gaps where a value is None."""
    pad_l, pad_r, pad_t, pad_b = 44, 150, 10, 22
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    top = max(values, default=1.0) or 1.0
    n = max((len(s) for s in series.values()), default=1)
    step = w / max(n - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="drift over time">']
    for frac in (0, 0.5, 1):
        y = pad_t + h - h * frac
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{pad_l + w}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{pad_l - 4}" y="{y + 3:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#555">{_fmt(top * frac)}</text>')
    for i, (name, points) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for j, v in enumerate(points):
            if v is None or not math.isfinite(v):
                segments.append([])
                continue
            segments[-1].append(f"{pad_l + j * step:.1f},{pad_t + h - h * v / top:.1f}")
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            elif seg:
                parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" '
                             f'stroke-width="2"/>')
        ly = pad_t + 12 + i * 16
        parts.append(f'<rect x="{pad_l + w + 12}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{pad_l + w + 26}" y="{ly + 1}" font-size="11" fill="#333">'
                     f'{escape(name[:18])}</text>')
    parts.append(f'<text x="{pad_l}" y="{height - 5}" font-size="10" fill="#555">'
                 f'{escape(x_labels[0])}</text><text x="{pad_l + w}" y="{height - 5}" '
                 f'font-size="10" text-anchor="end" fill="#555">{escape(x_labels[1])}</text>')
    if y_label:
        parts.append(f'<text x="{pad_l + 4}" y="{pad_t + 10}" font-size="10" fill="#555">{escape(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


