"""Monitoring: drift, data quality and model performance of current data (a deployment's
prediction log, or any table) against reference data (a model's training set, or any
table), with a JSON summary, a self-contained HTML report and alerts.

::

    from lamina.monitoring import analyze, monitor

    report = analyze(reference_table, current_table)   # in a notebook
    report.drifted_columns, report.save_html("report.html")

    run = monitor("churn-api")                          # as a versioned flow run

Names are imported lazily: ``import lamina.monitoring`` loads neither numpy nor scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina._lazy import lazy_exports
from lamina.monitoring.options import ColumnOptions, MonitorOptions

if TYPE_CHECKING:
    from lamina.monitoring.alerts import Alert, alerts_for, send_alerts
    from lamina.monitoring.api import monitor, report_path, write_flow
    from lamina.monitoring.monitor import BuiltinMonitor
    from lamina.monitoring.report import MonitoringReport, analyze
    from lamina.monitoring.sources import load_source, read_outcomes, read_prediction_log
    from lamina.monitoring.template import flow as monitoring_flow

_LAZY = {
    "analyze": "lamina.monitoring.report",
    "MonitoringReport": "lamina.monitoring.report",
    "monitor": "lamina.monitoring.api",
    "report_path": "lamina.monitoring.api",
    "write_flow": "lamina.monitoring.api",
    "Alert": "lamina.monitoring.alerts",
    "alerts_for": "lamina.monitoring.alerts",
    "send_alerts": "lamina.monitoring.alerts",
    "BuiltinMonitor": "lamina.monitoring.monitor",
    "load_source": "lamina.monitoring.sources",
    "read_prediction_log": "lamina.monitoring.sources",
    "read_outcomes": "lamina.monitoring.sources",
    "monitoring_flow": "lamina.monitoring.template:flow",
}

__all__ = ["Alert", "BuiltinMonitor", "ColumnOptions", "MonitorOptions", "MonitoringReport",
           "alerts_for", "analyze", "load_source", "monitor", "monitoring_flow",
           "read_outcomes", "read_prediction_log", "report_path", "send_alerts", "write_flow"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
