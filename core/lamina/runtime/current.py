"""``lamina.current``: what a running step may ask about itself, and metrics it logs.

Outside a task every attribute is None and :meth:`log_metric` only keeps the number in
``current.metrics``, so a step stays an ordinary function in a test or a notebook.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.cards import Card


@attrs.define
class _Current:
    run_id: str | None = None
    flow: str | None = None
    step: str | None = None
    index: int | None = None
    attempt: int | None = None
    metrics: dict[str, float] = attrs.field(factory=dict)

    @property
    def in_task(self) -> bool:
        return self.run_id is not None

    def log_metric(self, name: str, value: float) -> None:
        """Record a number with the task (shown by ``lamina show`` and ``lamina diff``)."""
        number = float(value)
        if math.isnan(number):
            raise LaminaError(
                f"metric {name!r} is NaN" + (f" in step '{self.step}'" if self.step else ""),
                hint="log a number, or skip the metric when it is undefined",
            )
        self.metrics[name] = number

    @property
    def card(self) -> Card:
        """The running task's card: ``current.card.append("# Report")`` (see lamina.cards)."""
        from lamina.cards.context import current_card

        return current_card()


current = _Current()


def enter_task(run_id: str, flow: str, step: str, index: int, attempt: int) -> None:
    current.run_id, current.flow, current.step = run_id, flow, step
    current.index, current.attempt = index, attempt
    current.metrics = {}


def leave_task() -> dict[str, float]:
    metrics = current.metrics
    current.run_id = current.flow = current.step = None
    current.index = current.attempt = None
    current.metrics = {}
    return metrics


def __getattr__(name: str) -> Any:  # pragma: no cover - module attribute passthrough
    raise AttributeError(name)
