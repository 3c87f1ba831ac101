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

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from lamina.hookspecs import hookimpl

if TYPE_CHECKING:
    from lamina.client import Client, Run, Task
    from lamina.flow import Flow
    from lamina.runtime.launch import resume
    from lamina.stack import Stack, load_stack

_LAZY = {
    "Flow": "lamina.flow",
    "Client": "lamina.client",
    "Run": "lamina.client",
    "Task": "lamina.client",
    "Stack": "lamina.stack",
    "load_stack": "lamina.stack",
    "resume": "lamina.runtime.launch",
    "current": "lamina.runtime.current",
    "errors": "lamina.errors",
}

__all__ = ["Client", "Flow", "Run", "Stack", "Task", "__version__", "current", "hookimpl", "load_stack", "resume"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lamina' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value = module if name in ("errors",) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
