"""Per-column drift and data quality of a current table against a reference table.

Decisions (docs/monitoring.md explains them): the test is chosen by column kind (KS for
numeric, chi-squared for categorical); all tests' p-values are adjusted together (Holm),
and a column is flagged only if its adjusted p-value is below ``alpha`` *and* its effect
(Wasserstein distance in reference standard deviations, or Jensen-Shannon distance) is at
least the floor. Distance methods (``wasserstein``, ``jensenshannon``, ``psi``) flag on a
threshold alone.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lamina.monitoring.options import DEFAULT_DISTANCE_THRESHOLDS, TEST_METHODS, MonitorOptions

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: Columns of the prediction log that describe a request rather than a model input.
LOG_COLUMNS = ("request_id", "timestamp", "deployment", "variant", "model", "latency_ms", "status")


def column_kind(arrow_type: pa.DataType) -> str:
    """``numeric`` for integers and floats, ``categorical`` for anything else we can
    count (strings, booleans, dictionaries), ``other`` for what we cannot compare."""
    import pyarrow.types as pt

    if pt.is_boolean(arrow_type):
        return "categorical"
    if pt.is_integer(arrow_type) or pt.is_floating(arrow_type) or pt.is_decimal(arrow_type):
        return "numeric"
    if pt.is_string(arrow_type) or pt.is_large_string(arrow_type) or pt.is_dictionary(arrow_type):
        return "categorical"
    return "other"


def compare_schemas(reference: pa.Schema, current: pa.Schema, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """Columns missing from current, new in current, and whose type changed."""
    ref = {f.name: f.type for f in reference if f.name not in ignore}
    cur = {f.name: f.type for f in current if f.name not in ignore}
    changed = [
        {"column": name, "reference": str(ref[name]), "current": str(cur[name])}
        for name in ref
        if name in cur and ref[name] != cur[name]
        and column_kind(ref[name]) != column_kind(cur[name])
    ]
    return {
        "missing": [c for c in ref if c not in cur],
        "new": [c for c in cur if c not in ref],
        "type_changed": changed,
    }


def _numeric_values(column: pa.ChunkedArray) -> np.ndarray:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = column.drop_null() if column.null_count else column
    if not pa.types.is_floating(col.type):
        col = pc.cast(col, pa.float64())
    values = col.to_numpy()
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    return values


def _category_counts(column: pa.ChunkedArray) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, pa.string())
    vc = pc.value_counts(column.drop_null())
    return {str(v): int(c) for v, c in zip(vc.field("values").to_pylist(),
                                          vc.field("counts").to_pylist(), strict=True)}


def analyze_columns(
    reference: pa.Table, current: pa.Table, options: MonitorOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-column results (drift and quality) and the schema comparison."""
    ignored = tuple(name for name, col in options.columns.items() if col.ignore)
    schema = compare_schemas(reference.schema, current.schema, ignored)
    changed = {c["column"] for c in schema["type_changed"]}
    results: list[dict[str, Any]] = []
    for name in reference.column_names:
        if name in ignored or name not in current.column_names or name in changed:
            continue
        col_opts = options.column(name)
        kind = col_opts.kind or column_kind(reference.schema.field(name).type)
        if kind == "other":
            continue
        results.append(_analyze_one(name, kind, reference.column(name), current.column(name),
                                    options))
    _decide(results, options)
    return results, schema


def _analyze_one(name: str, kind: str, ref: pa.ChunkedArray, cur: pa.ChunkedArray,
                 options: MonitorOptions) -> dict[str, Any]:
    from lamina.monitoring import stats

    col_opts = options.column(name)
    method = col_opts.method
    if method == "auto":
        method = "ks" if kind == "numeric" else "chi2"
    allowed = ("ks", "wasserstein", "psi") if kind == "numeric" else ("chi2", "jensenshannon", "psi")
    if method not in allowed:
        from lamina.errors import ConfigError

        raise ConfigError(
            f"monitoring column {name!r} is {kind}, and method {method!r} does not apply to "
            f"{kind} columns",
            hint=f"set [...monitoring.columns.{name}] method to one of {', '.join(allowed)}, "
            "or kind to the other kind",
        )
    ref_null = ref.null_count / len(ref) if len(ref) else 0.0
    cur_null = cur.null_count / len(cur) if len(cur) else 0.0
    out: dict[str, Any] = {
        "column": name, "kind": kind, "method": method,
        "null_share": {"reference": ref_null, "current": cur_null},
        "quality": [],
    }
    if cur_null - ref_null > options.max_null_increase:
        out["quality"].append(
            f"null share rose from {ref_null:.1%} to {cur_null:.1%}"
        )
    if kind == "numeric":
        a, b = _numeric_values(ref), _numeric_values(cur)
        rows = (int(a.size), int(b.size))
        if min(rows) >= max(options.min_rows, 1):
            s = stats.numeric_stats(a, b, bins=options.psi_bins)
            out.update(s)
            lo, hi = s["reference"]["min"], s["reference"]["max"]
            outside = float(((b < lo) | (b > hi)).mean())
            out["out_of_range"] = outside
            if outside > options.max_out_of_range:
                out["quality"].append(
                    f"{outside:.1%} of values outside the reference range [{lo:g}, {hi:g}]"
                )
            out["effect"] = s["wasserstein_sd"]
            out["pvalue"] = s["ks_pvalue"]
    else:
        rc, cc = _category_counts(ref), _category_counts(cur)
        rows = (sum(rc.values()), sum(cc.values()))
        if min(rows) >= max(options.min_rows, 1):
            s = stats.categorical_stats(rc, cc)
            out.update(s)
            new = {k: v for k, v in cc.items() if k not in rc}
            share = sum(new.values()) / rows[1] if rows[1] else 0.0
            out["new_categories"] = sorted(new, key=lambda k: -new[k])[:20]
            out["new_category_share"] = share
            if share > options.max_new_categories:
                shown = ", ".join(repr(k) for k in out["new_categories"][:5])
                out["quality"].append(f"{share:.1%} of values are new categories ({shown})")
            out["effect"] = s["jensenshannon"]
            out["pvalue"] = s["chi2_pvalue"]
    out["rows"] = {"reference": rows[0], "current": rows[1]}
    if "effect" not in out:
        out["status"] = "insufficient"
        out["drifted"] = False
    return out


def _decide(results: list[dict[str, Any]], options: MonitorOptions) -> None:
    """Adjust the tests' p-values together (Holm) and set ``drifted``/``score`` per column."""
    from lamina.statistics.multiple import holm

    tested = [r for r in results if "effect" in r and r["method"] in TEST_METHODS]
    for r, adj in zip(tested, holm([r["pvalue"] for r in tested]), strict=True):
        r["pvalue_adjusted"] = adj
    for r in results:
        if "effect" not in r:
            continue
        col = options.column(r["column"])
        method = r["method"]
        if method in TEST_METHODS:
            alpha = col.threshold if col.threshold is not None else options.alpha
            floor = col.min_effect if col.min_effect is not None else (
                options.numeric_min_effect if r["kind"] == "numeric" else options.categorical_min_effect
            )
            r["threshold"] = alpha
            r["min_effect"] = floor
            r["score"] = r["pvalue_adjusted"]
            r["drifted"] = bool(r["pvalue_adjusted"] < alpha and r["effect"] >= floor)
        else:
            threshold = col.threshold if col.threshold is not None else DEFAULT_DISTANCE_THRESHOLDS[method]
            score = {"wasserstein": r.get("wasserstein_sd"), "jensenshannon": r.get("jensenshannon"),
                     "psi": r.get("psi")}[method]
            r["threshold"] = threshold
            r["score"] = score
            r["drifted"] = bool(score is not None and not math.isnan(score) and score >= threshold)
        r["status"] = "drift" if r["drifted"] else "ok"
