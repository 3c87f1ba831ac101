"""Alerts: what a report breaches, as ``(name, severity, message, details)``, sent to every
``lamina_alert`` hook implementation (the builtin one logs; contrib plugins post them)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from lamina.monitoring.options import MonitorOptions
    from lamina.monitoring.report import MonitoringReport
    from lamina.stack import Stack

log = logging.getLogger("lamina.monitoring")


@attrs.frozen
class Alert:
    """One threshold a report breached."""

    name: str
    severity: str
    message: str
    details: dict[str, Any] = attrs.field(factory=dict)


def alerts_for(report: MonitoringReport, options: MonitorOptions, *, source: str = "") -> list[Alert]:
    """The alerts a report raises: one per drifted column, one per quality problem, one
    for dataset drift and one per performance floor a variant breaks."""
    where = f" ({source})" if source else ""
    out: list[Alert] = []
    for c in report.columns:
        if c.get("drifted"):
            out.append(Alert(
                f"drift:{c['column']}", options.alert_severity,
                f"column {c['column']!r} drifted{where}: {c['method']} score {c['score']:.3g} "
                f"(threshold {c['threshold']:.3g}), effect {c['effect']:.3g}",
                {k: c.get(k) for k in ("column", "kind", "method", "score", "threshold", "effect",
                                       "pvalue", "psi", "source")} | {"source": source},
            ))
    for issue in report.quality_issues:
        out.append(Alert(
            f"quality:{issue['column']}", "warning",
            f"column {issue['column']!r}{where}: {issue['problem']}",
            {**issue, "source": source},
        ))
    if report.dataset_drift:
        out.append(Alert(
            "drift:dataset", "critical",
            f"{len(report.drifted_columns)} of {len(report.columns)} columns drifted{where} "
            f"(at least {options.drift_share:.0%} is dataset drift)",
            {"drifted": report.drifted_columns, "share": report.drift_share, "source": source},
        ))
    perf = report.performance
    if perf:
        floors = (("accuracy", options.min_accuracy, "<"), ("auc", options.min_auc, "<"),
                  ("rmse", options.max_rmse, ">"))
        for variant, metrics in perf["variants"].items():
            for key, limit, op in floors:
                value = metrics.get(key)
                if limit is None or value is None:
                    continue
                if (value < limit) if op == "<" else (value > limit):
                    out.append(Alert(
                        f"performance:{variant}:{key}", "critical",
                        f"variant {variant!r}{where}: {key} {value:.4g} is "
                        f"{'below' if op == '<' else 'above'} {limit:g}",
                        {"variant": variant, "metric": key, "value": value, "limit": limit,
                         "n": metrics.get("n"), "source": source},
                    ))
    return out


def send_alerts(stack: Stack, alerts: list[Alert]) -> int:
    """Call ``lamina_alert`` once per alert through pluggy; a channel that fails is logged
    with its plugin's name, and the channels after it still get the alert (none gets it
    twice). Returns how many alerts were sent."""
    for alert in alerts:
        _, failures = stack.plugins.call_isolated(
            "lamina_alert", rerun="rest", name=alert.name, severity=alert.severity,
            message=alert.message, details=alert.details, stack=stack,
        )
        for failure in failures:  # one broken channel must not hide the others
            log.error("alert %s failed on %s: %s: %s", stack.plugins.describe_failure(failure),
                      alert.name, type(failure.error).__name__, failure.error)
    return len(alerts)


def log_alert(name: str, severity: str, message: str, details: dict[str, Any]) -> None:
    """The builtin channel: a log record at the severity's level on ``lamina.monitoring``."""
    level = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
    log.log(level.get(severity, logging.WARNING), "alert %s: %s", name, message,
            extra={"alert": name, "severity": severity, "details": details})
