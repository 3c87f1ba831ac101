"""Model performance once outcomes arrive: predictions joined to outcomes by request id,
scored per variant (accuracy and AUC for 0/1 outcomes, RMSE and MAE otherwise), so the
same numbers feed the A/B comparison of a deployment's variants."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def prediction_column(log: pa.Table, name: str | None = None) -> str:
    """The ``out.*`` column that holds the prediction: ``name`` if given, else the only
    output, else ``out.prediction``."""
    from lamina.errors import LaminaError

    outs = [c for c in log.column_names if c.startswith("out.")]
    if name:
        col = name if name in log.column_names else f"out.{name}"
        if col in log.column_names:
            return col
    elif len(outs) == 1:
        return outs[0]
    elif "out.prediction" in outs:
        return "out.prediction"
    raise LaminaError(
        f"cannot tell which prediction-log column is the prediction: outputs are "
        f"{', '.join(outs) or 'none'}",
        hint="pass prediction_column='out.NAME' (lamina monitor --prediction NAME)",
    )


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    import numpy as np

    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]   # 1-based, ties averaged
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score(log: pa.Table, outcomes: pa.Table, *, prediction: str | None = None) -> dict[str, Any]:
    """Per-variant (and overall) metrics of the predictions that have an outcome."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    pred_col = prediction_column(log, prediction)
    keep = ["request_id", pred_col] + (["variant"] if "variant" in log.column_names else [])
    left = log.select(keep)
    right = outcomes.select(["request_id", "outcome"])
    # the last outcome of a request wins (a label corrected later)
    if "timestamp" in outcomes.column_names and outcomes.num_rows:
        right = outcomes.sort_by("timestamp").select(["request_id", "outcome"])
        right = right.group_by("request_id", use_threads=False).aggregate([("outcome", "last")])
        right = right.rename_columns(["request_id", "outcome"])
    joined = left.join(right, "request_id", join_type="inner")
    y = joined.column("outcome").to_numpy(zero_copy_only=False).astype(np.float64)
    p_arr = joined.column(pred_col)
    if not (pa.types.is_floating(p_arr.type) or pa.types.is_integer(p_arr.type)
            or pa.types.is_boolean(p_arr.type)):
        p_arr = pc.cast(p_arr, pa.float64())
    p = p_arr.to_numpy(zero_copy_only=False).astype(np.float64)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    variants = (joined.column("variant").to_numpy(zero_copy_only=False)[ok]
                if "variant" in joined.column_names else np.array(["all"] * y.size, dtype=object))
    task = "classification" if y.size and np.isin(y, (0.0, 1.0)).all() else "regression"
    result: dict[str, Any] = {
        "task": task, "prediction_column": pred_col,
        "predictions": log.num_rows, "with_outcome": int(y.size),
        "variants": {},
    }
    groups = [("all", np.ones(y.size, bool))]
    groups += [(str(v), variants == v) for v in sorted(set(variants.tolist()))]
    for name, mask in groups:
        result["variants"][name] = _metrics(task, y[mask], p[mask])
    return result


def _metrics(task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    import numpy as np

    n = int(y.size)
    if n == 0:
        return {"n": 0}
    if task == "classification":
        labels = p if np.isin(p, (0.0, 1.0)).all() else (p >= 0.5).astype(np.float64)
        out = {"n": n, "accuracy": float((labels == y).mean())}
        if not np.isin(p, (0.0, 1.0)).all():
            out["auc"] = auc(y, p)
        return out
    err = p - y
    return {"n": n, "rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
