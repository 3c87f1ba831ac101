"""Drift over time: the current window cut into equal time slices, each compared to the
reference with the column's effect measure (Wasserstein in reference standard deviations
for numeric columns, Jensen-Shannon distance for categorical ones)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def drift_over_time(reference: pa.Table, current: pa.Table, columns: list[dict[str, Any]],
                    *, buckets: int, time_column: str = "timestamp",
                    max_columns: int = 8) -> dict[str, Any] | None:
    """Per time slice and per column, the effect size; None when current has no time
    column or spans a single instant. The columns shown are the drifted ones first, then
    the largest effects, at most ``max_columns``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from lamina.monitoring.drift import _category_counts, _numeric_values

    if time_column not in current.column_names or current.num_rows == 0:
        return None
    ts_col = current.column(time_column)
    if not pa.types.is_timestamp(ts_col.type):
        return None
    ts = pc.cast(ts_col, pa.int64()).to_numpy(zero_copy_only=False)
    lo, hi = int(ts.min()), int(ts.max())
    if hi <= lo:
        return None
    scored = [c for c in columns if "effect" in c]
    chosen = sorted(scored, key=lambda c: (not c["drifted"], -c["effect"]))[:max_columns]
    edges = np.linspace(lo, hi + 1, buckets + 1)
    which = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, buckets - 1)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(buckets + 1))
    series: dict[str, list[float | None]] = {c["column"]: [] for c in chosen}
    prepared: dict[str, Any] = {}
    for c in chosen:
        name = c["column"]
        if c["kind"] == "numeric":
            ref = np.sort(_numeric_values(reference.column(name)))
            prepared[name] = (ref, float(ref.std()) or 1.0)
        else:
            counts = _category_counts(reference.column(name))
            prepared[name] = counts
    for k in range(buckets):
        idx = order[bounds[k]:bounds[k + 1]]
        for c in chosen:
            name = c["column"]
            if idx.size < 2:
                series[name].append(None)
                continue
            part = current.column(name).take(pa.array(idx))
            if c["kind"] == "numeric":
                ref, sd = prepared[name]
                values = np.sort(_numeric_values(part))
                series[name].append(_wasserstein(ref, values) / sd if values.size else None)
            else:
                series[name].append(_js(prepared[name], _category_counts(part)))
    starts = [int(e) for e in edges[:-1]]
    return {"bucket_starts_us": starts, "bucket_rows": np.diff(bounds).tolist(),
            "series": series, "kinds": {c["column"]: c["kind"] for c in chosen}}


def _wasserstein(a: Any, b: Any) -> float:
    import numpy as np

    values = np.concatenate([a, b])
    values.sort(kind="stable")
    fa = np.searchsorted(a, values[:-1], side="right") / a.size
    fb = np.searchsorted(b, values[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * np.diff(values)))


def _js(ref: dict[str, int], cur: dict[str, int]) -> float | None:
    cats = set(ref) | set(cur)
    n, m = sum(ref.values()), sum(cur.values())
    if not n or not m:
        return None
    total = 0.0
    for c in cats:
        p, q = ref.get(c, 0) / n, cur.get(c, 0) / m
        mid = (p + q) / 2
        if p:
            total += p * math.log2(p / mid)
        if q:
            total += q * math.log2(q / mid)
    return math.sqrt(max(total / 2, 0.0))
