"""The monitoring layer: drift, data quality and model performance over prediction logs."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Monitor(Protocol):
    """Compares current data to reference data and reports what moved.

    The builtin implementation is :class:`lamina.monitoring.monitor.BuiltinMonitor`; the
    monitoring flow (``lamina monitor``) calls :meth:`analyze` through the stack, so
    another engine plugs in by offering a component with the ``lamina_monitors`` hook.
    """

    def analyze(self, reference: Any, current: Any, options: Any = None, **kw: Any) -> Any:
        """Per-column drift, data quality and (with ``outcomes=``) performance of
        ``current`` against ``reference`` (Arrow tables; either may be a prediction log,
        whose ``in.<feature>`` columns are compared). ``options`` overrides the
        component's own. Returns a report with ``columns``, ``drifted_columns``,
        ``quality_issues``, ``to_dict()`` (the JSON summary) and ``to_html()``."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""
