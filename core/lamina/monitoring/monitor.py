"""The builtin monitoring component: numpy/scipy statistics, an HTML report, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina.monitoring.options import MonitorOptions

if TYPE_CHECKING:
    import pyarrow as pa

    from lamina.monitoring.report import MonitoringReport


class BuiltinMonitor:
    """What ``monitoring = "builtin"`` (the default) builds: :meth:`analyze` compares two
    tables with the stack's options."""

    def __init__(self, options: MonitorOptions | None = None) -> None:
        self.options = options or MonitorOptions()

    def analyze(self, reference: pa.Table, current: pa.Table, options: Any = None,
                **kw: Any) -> MonitoringReport:
        from lamina.monitoring.report import analyze

        return analyze(reference, current, options or self.options, **kw)

    def check(self) -> str:
        import numpy  # noqa: F401  (the engine's dependencies are importable)
        import scipy

        return f"numpy/scipy engine ready (scipy {scipy.__version__})"

    def __repr__(self) -> str:
        return f"BuiltinMonitor(alpha={self.options.alpha})"
