"""The statistics behind drift: two-sample tests and distances on numpy arrays.

Each function takes the non-null values of one column on both sides and returns plain
floats, so the report can be JSON. Numeric columns are sorted once and every statistic
(KS, Wasserstein, PSI, histograms) reads the sorted arrays. Only ``scipy.special`` is
needed (not ``scipy.stats``, whose import alone costs about a second).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def numeric_stats(ref: np.ndarray, cur: np.ndarray, *, bins: int) -> dict[str, Any]:
    """KS statistic and asymptotic p-value, Wasserstein distance (raw and in reference
    standard deviations), PSI over reference quantile bins, and summary numbers."""
    from scipy.special import kolmogorov  # survival function of Kolmogorov's distribution

    n, m = ref.size, cur.size
    a = np.sort(ref.astype(np.float64, copy=False))
    b = np.sort(cur.astype(np.float64, copy=False))
    # A stable sort of two sorted runs is a linear merge; the merged order gives both
    # empirical CDFs by cumulative counts.
    merged = np.concatenate([a, b])
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    from_ref = order < n
    dtype = np.int32 if n + m < 2**31 else np.int64
    cum_a: np.ndarray = np.cumsum(from_ref, dtype=dtype)
    cum_b: np.ndarray = np.arange(1, n + m + 1, dtype=dtype) - cum_a
    gaps = np.abs(cum_a * (1.0 / n) - cum_b * (1.0 / m))
    steps = np.diff(values)
    # the CDFs are compared only after the last of equal values (ties, discrete data)
    d = float(gaps[np.flatnonzero(np.append(steps > 0, True))].max())
    en = n * m / (n + m)
    # Stephens' small-sample correction of the asymptotic Kolmogorov distribution, as R
    # and scipy ('asymp') do; conservative for discrete data (ties), which is what we want.
    p = float(kolmogorov((math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * d)) if d > 0 else 1.0
    w = float(np.sum(gaps[:-1] * steps))
    sd = float(a.std())
    w_sd = w / sd if sd > 0 else (0.0 if w == 0 else math.inf)
    edges = _quantile_edges(a, bins)
    ref_counts = _bin_counts(a, edges)
    cur_counts = _bin_counts(b, edges)
    return {
        "ks_statistic": d,
        "ks_pvalue": p,
        "wasserstein": w,
        "wasserstein_sd": w_sd,
        "psi": psi(ref_counts, cur_counts),
        "reference": _summary(a),
        "current": _summary(b),
        "histogram": _histogram(a, b),
    }


def _summary(x: np.ndarray) -> dict[str, float]:
    if x.size == 0:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan}
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x[0]),
        "p50": float(x[x.size // 2]),
        "max": float(x[-1]),
    }


def _quantile_edges(sorted_ref: np.ndarray, bins: int) -> np.ndarray:
    qs = sorted_ref[np.minimum((np.arange(1, bins) * sorted_ref.size) // bins, sorted_ref.size - 1)]
    return np.unique(qs)


def _bin_counts(sorted_x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_x, edges, side="right")
    return np.diff(np.concatenate([[0], pos, [sorted_x.size]])).astype(np.float64)


def _histogram(a: np.ndarray, b: np.ndarray, bins: int = 30) -> dict[str, Any]:
    """Shared-edge histograms of both samples (shares of each side's values), for the
    overlay plot. The range is the 0.5-99.5 percentiles of both, so one outlier does not
    flatten the plot; the values outside it are not folded into the edge bins but counted
    apart, as ``below`` and ``above`` (each side's share), which the plot draws as tail
    bars. Whole-number data gets bins of whole numbers: one bar per value when there are
    few, else each bar spans the same count of integers (no comb of 2- and 3-value bars)."""
    lo = min(a[int(a.size * 0.005)], b[int(b.size * 0.005)])
    hi = max(a[min(a.size - 1, int(a.size * 0.995))], b[min(b.size - 1, int(b.size * 0.995))])
    integral = bool(np.all(a == np.round(a)) and np.all(b == np.round(b)))
    if integral:  # bins of `width` whole numbers each, edges half-way between them
        first, last = math.floor(lo), math.ceil(hi)
        span = last - first + 1
        width = max(1, math.ceil(span / bins))
        # a width that divides the span (up to twice as wide) leaves no short last bin
        width = next((w for w in range(width, 2 * width + 1) if span % w == 0), width)
        count = math.ceil(span / width)
        edges = first - 0.5 + width * np.arange(count + 1, dtype=np.float64)
    else:
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
    shares = {}
    for side, x in (("reference", a), ("current", b)):
        # [e0, e1), [e1, e2), ... [e_k-1, e_k]: the top edge's own value is inside
        pos = np.searchsorted(x, edges, side="left")
        pos[-1] = np.searchsorted(x, edges[-1], side="right")
        shares[side] = (np.diff(pos) / x.size, pos[0] / x.size, (x.size - pos[-1]) / x.size)
    return {
        "edges": edges.tolist(),
        "reference": shares["reference"][0].tolist(),
        "current": shares["current"][0].tolist(),
        "below": {"reference": float(shares["reference"][1]),
                  "current": float(shares["current"][1])},
        "above": {"reference": float(shares["reference"][2]),
                  "current": float(shares["current"][2])},
        "integral": integral,
    }


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index over matching bins; empty bins count as ``eps``."""
    p = np.maximum(ref_counts / max(ref_counts.sum(), 1), eps)
    q = np.maximum(cur_counts / max(cur_counts.sum(), 1), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def categorical_stats(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> dict[str, Any]:
    """Chi-squared test of homogeneity (2 x k table), Jensen-Shannon distance (base 2)
    and PSI over the union of categories, plus each side's proportions."""
    from scipy.special import chdtrc  # chi-squared survival function

    cats = sorted(set(ref_counts) | set(cur_counts), key=lambda c: (-ref_counts.get(c, 0), c))
    r = np.array([ref_counts.get(c, 0) for c in cats], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in cats], dtype=np.float64)
    n, m = r.sum(), c.sum()
    total = r + c
    keep = total > 0
    r, c, total = r[keep], c[keep], total[keep]
    exp_r, exp_c = total * n / (n + m), total * m / (n + m)
    stat = float(np.sum((r - exp_r) ** 2 / exp_r) + np.sum((c - exp_c) ** 2 / exp_c))
    dof = max(int(keep.sum()) - 1, 1)
    p = float(chdtrc(dof, stat)) if keep.sum() > 1 else 1.0
    pr, pc = r / n, c / m
    mid = (pr + pc) / 2
    js = math.sqrt(max(0.0, (_kl(pr, mid) + _kl(pc, mid)) / 2))
    return {
        "chi2_statistic": stat,
        "chi2_pvalue": p,
        "jensenshannon": js,
        "psi": psi(r, c),
        "categories": [k for k, kept in zip(cats, keep, strict=True) if kept],
        "reference_share": pr.tolist(),
        "current_share": pc.tolist(),
    }


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / q[nz])))
