"""The monitoring layer: drift, data quality and model performance over prediction logs."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Monitor(Protocol):
    """Compares current data to reference data and reports what moved."""

    def analyze(self, reference: Any, current: Any, options: Any = None) -> Any:
        """Per-column drift and data-quality results for ``current`` against
        ``reference`` (Arrow tables)."""

    def check(self) -> str:
        """Reach the backend; a one-line summary or raise."""
