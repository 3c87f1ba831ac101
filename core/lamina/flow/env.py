"""``Env``: the Python environment a step's tasks run in (see docs/environments.md).

An :class:`Env` only *describes* the environment; :mod:`lamina.runtime.envs` resolves it
to an exact lock with uv, builds it once per lock and runs the step's tasks in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

_PYTHON = re.compile(r"^3\.\d{1,2}(\.\d{1,2})?$")


def _pip_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_pip(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for req in value:
        if not isinstance(req, str) or not req.strip() or "\n" in req:
            raise ValueError(
                f"Env(pip=...): {req!r} is not a requirement; give strings such as "
                "'scikit-learn==1.5.*' or 'tabulate>=0.9'"
            )


def _check_python(instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not _PYTHON.match(value):
        raise ValueError(
            f"Env(python={value!r}): give a CPython version such as '3.11' or '3.12.4'"
        )


@attrs.frozen
class Env:
    """The Python environment a step's tasks run in, built with uv and cached by its lock.

    >>> from lamina import Env, Flow
    >>> flow = Flow("report", env=Env(pip=["pandas>=2"]))     # every step's default
    >>> @flow.step(env=Env(pip=["scikit-learn==1.5.*"], python="3.11"))
    ... def train() -> str:
    ...     import sklearn
    ...     return sklearn.__version__

    :param pip: requirements, as a ``requirements.txt`` line each (``"tabulate>=0.9"``).
    :param python: the CPython version (``"3.11"``); default: the one running lamina.
    :param project: a ``pyproject.toml`` (or the folder holding it) whose dependencies the
        step needs; when a ``uv.lock`` lies beside it, that lock is used as it is (nothing
        is resolved). A relative path is taken from the flow file's folder.

    ``Env()`` (nothing asked) is the environment lamina runs in: a step uses it to opt out
    of a flow-wide ``env=``. The packages lamina runs on stay importable in every
    environment, after the environment's own (see docs/environments.md).
    """

    pip: tuple[str, ...] = attrs.field(default=(), converter=_pip_tuple, validator=_check_pip)
    python: str | None = attrs.field(default=None, validator=_check_python)
    project: str | None = None

    @property
    def is_base(self) -> bool:
        """True when nothing is asked: the step runs where lamina runs."""
        return not self.pip and self.python is None and not self.project

    def describe(self) -> str:
        """``Env(pip=[...], python=...)`` as written, for messages."""
        parts = []
        if self.pip:
            parts.append(f"pip={list(self.pip)!r}")
        if self.python:
            parts.append(f"python={self.python!r}")
        if self.project:
            parts.append(f"project={self.project!r}")
        return f"Env({', '.join(parts)})"
