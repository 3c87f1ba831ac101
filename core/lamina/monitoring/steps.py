"""What each step of the monitoring flow does, as plain functions of plain values, so the
flow file (``lamina.monitoring.template`` or a copy written into a project) stays a thin
list of steps and every step can be called in a test."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError
from lamina.monitoring.options import MonitorOptions
from lamina.monitoring.sources import LOG_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

    from lamina.monitoring.report import MonitoringReport
    from lamina.stack import Stack


def open_stack(stack: str = "") -> Stack:
    """The stack a monitoring step works on: by name, else the configured default (found
    from the working directory, which a local worker shares with the launcher)."""
    from lamina.stack import load_stack

    return load_stack(stack or None)


def monitor_options(stack: Stack) -> MonitorOptions:
    """The stack's ``[stacks.NAME.monitoring]`` options, or the defaults without one (or
    with another engine, which reads its own)."""
    if stack.has("monitoring"):
        options = stack.options("monitoring")
        if isinstance(options, MonitorOptions):
            return options
    return MonitorOptions()


def is_deployment(target: str) -> bool:
    """A deployment is a bare name; a model is ``FLOW/RUN/STEP`` or ``RUN/STEP``."""
    return "/" not in target


def time_window(stack: Stack, start: str = "", end: str = "", window: str = "") -> dict[str, str]:
    from lamina.monitoring.sources import resolve_window

    lo, hi = resolve_window(start, end, window or monitor_options(stack).window)
    return {"start": lo, "end": hi}


def current_data(stack: Stack, target: str, window: dict[str, str], current: str = "") -> pa.Table:
    from lamina.monitoring.sources import load_source

    spec = current or (f"{LOG_PREFIX}{target}" if is_deployment(target) else "")
    if not spec:
        raise LaminaError(
            f"monitoring model {target!r}: no current data given",
            hint="pass --current SOURCE (a Parquet file, RUN/STEP, or log:DEPLOYMENT)",
        )
    table = load_source(spec, stack, start=window["start"], end=window["end"])
    if table.num_rows == 0:
        raise LaminaError(
            f"monitoring {target!r}: the current data ({spec}) has no rows between "
            f"{window['start']} and {window['end']}",
            hint="widen the window (--window 7d, or --start/--end), or check the deployment "
            "name and that it serves traffic",
        )
    return table


def reference_data(stack: Stack, target: str, current: pa.Table, reference: str = "") -> tuple[pa.Table, str]:
    """The reference table and its name: ``reference`` if given; for a model target its
    training set; for a deployment, the training set of the model that served most of the
    current window (the log's ``model`` column)."""
    from lamina.monitoring.sources import load_source, training_set_of

    if reference:
        return load_source(reference, stack), reference
    if not is_deployment(target):
        return training_set_of(stack, target)
    if "model" not in current.column_names:
        raise LaminaError(
            f"monitoring {target!r}: the current data names no model, so the reference is "
            "unknown", hint="pass --reference RUN/STEP or a Parquet file")
    models = Counter(m for m in current.column("model").to_pylist() if m)
    if not models:
        raise LaminaError(f"monitoring {target!r}: no model in the prediction log",
                          hint="pass --reference RUN/STEP or a Parquet file")
    return training_set_of(stack, models.most_common(1)[0][0])


def outcome_data(stack: Stack, target: str, window: dict[str, str], current: str = "") -> pa.Table | None:
    """The deployment's outcomes logged since the window started (labels arrive after the
    predictions), or None."""
    from lamina.monitoring.sources import read_outcomes

    name = current[len(LOG_PREFIX):] if current.startswith(LOG_PREFIX) else (
        target if not current and is_deployment(target) else "")
    if not name:
        return None
    table = read_outcomes(stack, name, window["start"], None)
    return table if table.num_rows else None


def make_report(stack: Stack, target: str, reference: pa.Table, reference_name: str,
                current: pa.Table, outcomes: pa.Table | None, window: dict[str, str],
                prediction: str = "") -> MonitoringReport:
    from lamina.monitoring.report import analyze

    options = monitor_options(stack)
    # the stack's engine (the builtin one, or a plugin's); the builtin function without one
    engine = stack.component("monitoring").analyze if stack.has("monitoring") else analyze
    perf_outcomes = outcomes if outcomes is not None and any(
        c.startswith("out.") for c in current.column_names) else None
    return engine(
        reference, current, options, outcomes=perf_outcomes,
        prediction_column=prediction or None,
        reference_name=reference_name,
        current_name=(f"{target} {window['start'][:16]} → {window['end'][:16]}"
                      if is_deployment(target) else "current"),
        title=f"Monitoring: {target}",
    )


def raise_alerts(stack: Stack, report: MonitoringReport, target: str) -> list[dict[str, Any]]:
    from lamina.monitoring.alerts import alerts_for, send_alerts

    options = monitor_options(stack)
    alerts = alerts_for(report, options, source=target)
    if options.alerts:
        send_alerts(stack, alerts)
    return [{"name": a.name, "severity": a.severity, "message": a.message} for a in alerts]
