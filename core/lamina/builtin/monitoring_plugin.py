"""The builtin monitoring plugin: the numpy/scipy monitor and the logging alert channel.

Imported on every ``lamina`` invocation: only the options class is imported here.
"""

from __future__ import annotations

from typing import Any

from lamina.hookspecs import hookimpl
from lamina.interfaces import ComponentSpec
from lamina.monitoring.options import MonitorOptions


def _builtin_monitor(options: MonitorOptions, stack: Any) -> Any:
    from lamina.monitoring.monitor import BuiltinMonitor

    return BuiltinMonitor(options)


@hookimpl
def lamina_monitors() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            layer="monitoring",
            name="builtin",
            config=MonitorOptions,
            factory=_builtin_monitor,
            description="drift (KS, chi-squared, Wasserstein, Jensen-Shannon, PSI), data "
            "quality and performance with numpy/scipy; self-contained HTML report",
            install_hint="pip install 'lamina[monitoring]'",
        )
    ]


@hookimpl
def lamina_alert(name: str, severity: str, message: str, details: dict[str, Any]) -> None:
    from lamina.monitoring.alerts import log_alert

    log_alert(name, severity, message, details)
