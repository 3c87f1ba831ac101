"""A flow with a required parameter (no default), for the CLI's parameter errors."""

from __future__ import annotations

from lamina import Flow

flow = Flow("client-required")


@flow.step
def scaled(alpha: float, count: int = 2) -> list[float]:
    return [alpha * i for i in range(count)]
