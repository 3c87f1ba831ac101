"""lamina: one interface over the production ML stack.

Write a flow of plain Python steps, run it on a laptop, ship it unchanged::

    from lamina import Flow

    flow = Flow("hello")

    @flow.step
    def numbers() -> list[int]:
        return [1, 2, 3]

    @flow.step(foreach="numbers")
    def square(numbers: int) -> int:
        return numbers * numbers

    @flow.step
    def total(square: list[int]) -> int:
        return sum(square)

    run = flow.run()          # a finished, recorded run
    run["total"].value        # 14

Public names are imported lazily so that ``import lamina`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from lamina._lazy import lazy_exports
from lamina.hookspecs import hookimpl

if TYPE_CHECKING:
    from lamina.cards import Card
    from lamina.client import Client, Run, Task
    from lamina.flow import EventTrigger, Flow
    from lamina.flow.env import Env
    from lamina.flow.failed import Failed
    from lamina.flow.files import File
    from lamina.flow.params import Param
    from lamina.runtime.launch import resume
    from lamina.stack import Stack, load_stack

_LAZY = {
    "Card": "lamina.cards",
    "Flow": "lamina.flow",
    "EventTrigger": "lamina.flow",
    "Env": "lamina.flow.env",
    "Failed": "lamina.flow.failed",
    "File": "lamina.flow.files",
    "Param": "lamina.flow.params",
    "Client": "lamina.client",
    "Run": "lamina.client",
    "Task": "lamina.client",
    "Stack": "lamina.stack",
    "load_stack": "lamina.stack",
    "resume": "lamina.runtime.launch",
    "current": "lamina.runtime.current",
    "errors": "lamina.errors",
}

__all__ = ["Card", "Client", "Env", "EventTrigger", "Failed", "File", "Flow", "Param", "Run", "Stack", "Task", "__version__", "current", "hookimpl", "load_stack", "resume"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
