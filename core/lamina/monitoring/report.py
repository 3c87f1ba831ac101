"""The monitoring report: what :func:`lamina.monitoring.analyze` returns, a JSON summary
and the source of the HTML page."""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

import attrs

from lamina.monitoring.options import MonitorOptions

if TYPE_CHECKING:
    import pyarrow as pa

#: The version of the JSON summary's shape, for readers that outlive this code.
SCHEMA_VERSION = 1


@attrs.frozen
class MonitoringReport:
    """Drift, data quality and performance of one current dataset against a reference.

    ``columns`` holds one dict per compared column (method, statistics, ``drifted``,
    ``quality`` problems, plot data); ``schema`` the missing/new/retyped columns;
    ``performance`` the per-variant metrics when outcomes were given; ``timeline`` the
    drift over time when current data has timestamps. :meth:`to_dict` is the JSON summary.
    """

    reference: dict[str, Any]
    current: dict[str, Any]
    columns: list[dict[str, Any]]
    schema: dict[str, Any]
    options: dict[str, Any]
    performance: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None
    created_at: float = attrs.field(factory=time.time)
    title: str = "Monitoring report"

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns flagged for drift."""
        return [c["column"] for c in self.columns if c.get("drifted")]

    @property
    def quality_issues(self) -> list[dict[str, str]]:
        """Data-quality problems: per column, plus schema changes."""
        issues = [{"column": c["column"], "problem": q} for c in self.columns for q in c["quality"]]
        issues += [{"column": m, "problem": "missing from current data"} for m in self.schema["missing"]]
        issues += [{"column": m, "problem": "not in the reference"} for m in self.schema["new"]]
        issues += [
            {"column": t["column"], "problem": f"type changed from {t['reference']} to {t['current']}"}
            for t in self.schema["type_changed"]
        ]
        return issues

    @property
    def drift_share(self) -> float:
        tested = [c for c in self.columns if c.get("status") != "insufficient"]
        return len(self.drifted_columns) / len(tested) if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Whether at least ``drift_share`` of the columns drifted."""
        share = self.options.get("drift_share", 0.5)
        return bool(self.columns) and self.drift_share >= share and bool(self.drifted_columns)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (what alerts and ``lamina monitor`` print)."""
        return {
            "columns": len(self.columns),
            "drifted": self.drifted_columns,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "quality_issues": len(self.quality_issues),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary: everything but the plot data, with NaN/inf as null."""
        columns = [{k: v for k, v in c.items() if k not in ("histogram",)} for c in self.columns]
        return _clean({
            "schema_version": SCHEMA_VERSION,
            "title": self.title,
            "created_at": self.created_at,
            "reference": self.reference,
            "current": self.current,
            "summary": self.summary(),
            "columns": columns,
            "schema": self.schema,
            "quality": self.quality_issues,
            "performance": self.performance,
            "timeline": self.timeline,
            "options": self.options,
        })

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    def to_html(self) -> str:
        """The self-contained HTML page (inline CSS and SVG, nothing fetched)."""
        from lamina.monitoring.html import render

        return render(self)

    def save_html(self, path: str) -> str:
        """Write :meth:`to_html` to ``path``; returns the path."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_html())
        return path

    def _repr_html_(self) -> str:  # notebooks show the page inline
        return self.to_html()

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<MonitoringReport {s['columns']} columns, drifted: "
                f"{', '.join(s['drifted']) or 'none'}; {s['quality_issues']} quality issues>")


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    return value


def features_of(table: pa.Table) -> pa.Table:
    """A prediction log's model inputs under their feature names (``in.age`` -> ``age``);
    any other table unchanged."""
    names = table.column_names
    if not any(n.startswith("in.") for n in names):
        return table
    keep = [n for n in names if n.startswith("in.")]
    return table.select(keep).rename_columns([n[3:] for n in keep])


def analyze(
    reference: pa.Table,
    current: pa.Table,
    options: MonitorOptions | None = None,
    *,
    outcomes: pa.Table | None = None,
    prediction_column: str | None = None,
    reference_name: str = "reference",
    current_name: str = "current",
    title: str = "Monitoring report",
) -> MonitoringReport:
    """Compare ``current`` to ``reference`` (Arrow tables): per-column drift, data
    quality, drift over time (when current has a ``timestamp`` column) and, given
    ``outcomes`` (``request_id``, ``outcome``), model performance per variant.

    Either table may be a prediction log: its ``in.<feature>`` columns are compared under
    the feature names, over the requests that were answered (status < 400).
    """
    from lamina.monitoring.drift import analyze_columns
    from lamina.monitoring.timeline import drift_over_time

    options = options or MonitorOptions()
    served = _answered(current)
    ref_f, cur_f = features_of(_answered(reference)), features_of(served)
    columns, schema = analyze_columns(ref_f, cur_f, options)
    if cur_f is not served:
        # A training set also holds labels and ids that a model never receives: against a
        # prediction log, reference-only columns are listed, not reported as missing.
        schema["not_model_inputs"], schema["missing"] = schema["missing"], []
    timeline = None
    if "timestamp" in current.column_names:
        timed = cur_f.append_column("timestamp", served.column("timestamp")) \
            if "timestamp" not in cur_f.column_names else cur_f
        timeline = drift_over_time(ref_f, timed, columns, buckets=options.time_buckets)
    performance = None
    if outcomes is not None:
        from lamina.monitoring.performance import score

        performance = score(current, outcomes, prediction=prediction_column)
    return MonitoringReport(
        reference={"name": reference_name, "rows": reference.num_rows,
                   "columns": len(ref_f.column_names)},
        current={"name": current_name, "rows": current.num_rows,
                 "columns": len(cur_f.column_names), **_time_range(current)},
        columns=columns,
        schema=schema,
        options=_jsonable_options(options),
        performance=performance,
        timeline=timeline,
        title=title,
    )


def _answered(table: pa.Table) -> pa.Table:
    """A prediction log without its failed requests (status >= 400), whose inputs are null
    by contract and would read as a null-share problem; any other table unchanged."""
    import pyarrow.compute as pc

    if "status" not in table.column_names or not any(
            n.startswith("in.") for n in table.column_names):
        return table
    ok = pc.fill_null(pc.less(table.column("status"), 400), True)
    return table.filter(ok)


def _time_range(table: pa.Table) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if "timestamp" not in table.column_names or table.num_rows == 0:
        return {}
    col = table.column("timestamp")
    if not pa.types.is_timestamp(col.type):
        return {}
    mm = pc.min_max(col)
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    return {"start": mm["min"].as_py().strftime(fmt), "end": mm["max"].as_py().strftime(fmt)}


def _jsonable_options(options: MonitorOptions) -> dict[str, Any]:
    return attrs.asdict(options)
