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
                      width: int = 360, height: int = 150, label: str = "") -> str:
    """Reference and current densities over shared bins, drawn as overlapping bars."""
    pad_l, pad_b, pad_t = 8, 18, 6
    w, h = width - 2 * pad_l, height - pad_b - pad_t
    top = max(max(ref, default=0), max(cur, default=0)) or 1.0
    k = len(ref)
    bw = w / max(k, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i in range(k):
        x = pad_l + i * bw
        for values, color, inset in ((ref, REF_COLOR, 0.0), (cur, CUR_COLOR, bw * 0.25)):
            bh = h * values[i] / top
            parts.append(f'<rect x="{x + inset:.1f}" y="{pad_t + h - bh:.1f}" '
                         f'width="{max(bw * 0.75 - 0.5, 0.5):.1f}" height="{bh:.1f}" '
                         f'fill="{color}" fill-opacity="0.55"/>')
    parts.append(f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#888"/>')
    parts.append(f'<text x="{pad_l}" y="{height - 4}" font-size="10" fill="#555">{_fmt(edges[0])}</text>')
    parts.append(f'<text x="{pad_l + w}" y="{height - 4}" font-size="10" fill="#555" '
                 f'text-anchor="end">{_fmt(edges[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def category_bars(categories: list[str], ref: list[float], cur: list[float], *,
                  width: int = 360, max_bars: int = 12, label: str = "") -> str:
    """Side-by-side horizontal bars of each category's share on both sides."""
    cats = categories[:max_bars]
    row = 22
    height = row * len(cats) + 8
    label_w = 70
    w = width - label_w - 90
    top = max(max(ref[: len(cats)], default=0), max(cur[: len(cats)], default=0)) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, cat in enumerate(cats):
        y = 4 + i * row
        name = cat if len(cat) <= 14 else cat[:13] + "…"
        parts.append(f'<text x="{label_w - 4}" y="{y + 14}" font-size="11" text-anchor="end" '
                     f'fill="#333">{escape(name)}</text>')
        for j, (values, color) in enumerate(((ref, REF_COLOR), (cur, CUR_COLOR))):
            bw = w * values[i] / top
            parts.append(f'<rect x="{label_w}" y="{y + j * 9 + 1}" width="{bw:.1f}" height="8" '
                         f'fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 4}" y="{y + 14}" font-size="10" fill="#555">'
                     f'{ref[i]:.1%}→{cur[i]:.1%}</text>')
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


