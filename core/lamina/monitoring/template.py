"""Monitoring flow: drift, data quality and performance of one deployment or model.

Run it with ``lamina monitor TARGET`` or ``lamina run THIS_FILE --set target=TARGET``;
schedule it like any flow. ``lamina monitor TARGET --write-flow FILE`` copies this file
into a project, where it can be edited and versioned.
"""

from __future__ import annotations

from typing import Any

from lamina import Flow
from lamina.monitoring import steps as _s

TARGET = ""  # the deployment (a name) or model (FLOW/RUN/STEP) this flow watches
FLOW_NAME = "monitoring"

flow = Flow(FLOW_NAME, description="drift, data quality and performance monitoring")


@flow.step
def time_window(start: str = "", end: str = "", window: str = "", stack_name: str = "") -> dict[str, str]:
    """The current window: [start, end) in UTC; end defaults to now, start to end - window."""
    return _s.time_window(_s.open_stack(stack_name), start, end, window)


@flow.step
def current_data(time_window: dict[str, str], target: str = TARGET, current: str = "",
                 stack_name: str = "") -> Any:
    """Current data: the deployment's prediction log over the window, or ``current``."""
    return _s.current_data(_s.open_stack(stack_name), target, time_window, current)


@flow.step
def reference_data(current_data: Any, target: str = TARGET, reference: str = "",
                   stack_name: str = "") -> dict[str, Any]:
    """Reference data: ``reference``, else the training set of the model."""
    table, name = _s.reference_data(_s.open_stack(stack_name), target, current_data, reference)
    return {"name": name, "table": table}


@flow.step
def outcome_data(time_window: dict[str, str], target: str = TARGET, current: str = "",
                 stack_name: str = "") -> Any:
    """Outcomes (labels) logged for the deployment since the window started."""
    return _s.outcome_data(_s.open_stack(stack_name), target, time_window, current)


@flow.step
def report(reference_data: dict[str, Any], current_data: Any, outcome_data: Any,
           time_window: dict[str, str], target: str = TARGET, prediction: str = "",
           stack_name: str = "") -> Any:
    """The monitoring report (a :class:`lamina.monitoring.MonitoringReport`)."""
    from lamina import current

    result = _s.make_report(_s.open_stack(stack_name), target, reference_data["table"],
                            reference_data["name"], current_data, outcome_data, time_window,
                            prediction)
    current.log_metric("drifted_columns", len(result.drifted_columns))
    current.log_metric("drift_share", result.drift_share)
    current.log_metric("quality_issues", len(result.quality_issues))
    return result


@flow.step
def summary(report: Any) -> dict[str, Any]:
    """The JSON summary of the report."""
    return report.to_dict()


@flow.step
def html(report: Any) -> str:
    """The self-contained HTML report (``lamina monitor report RUN`` writes and opens it)."""
    return report.to_html()


@flow.step
def alerts(report: Any, target: str = TARGET, stack_name: str = "") -> list[dict[str, Any]]:
    """Alerts for what the report breaches, sent through the ``lamina_alert`` hook."""
    return _s.raise_alerts(_s.open_stack(stack_name), report, target)
