"""What a task that failed becomes in a step with ``catch=True``: a :class:`Failed` value.

Downstream steps receive it in place of the result, so a foreach of 100 models where 3
crashed still reaches its join, which can skip or count the failures. A ``Failed`` is
falsy, so ``[r for r in results if r]`` keeps the successes.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Failed:
    """The failure of one task, kept as its result (``@flow.step(catch=True)``).

    :param step: the step, and ``index`` the task within it.
    :param attempt: the last attempt (retries come first).
    :param error_type: the exception's class name; ``message`` its text.
    :param location: ``file:line`` where it was raised; ``traceback`` the whole of it.
    """

    step: str
    index: int
    attempt: int
    error_type: str
    message: str
    location: str = ""
    traceback: str = ""

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self.step}[{self.index}] failed: {self.error_type}: {self.message}"
