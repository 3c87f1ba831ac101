"""Self-documenting flow parameters: :class:`Param` gives a parameter its help text and
allowed values, shown by ``lamina run flow.py --help`` and checked before a run starts.

Two spellings, the same meaning::

    @flow.step
    def train(data, alpha: Annotated[float, Param(help="L2 strength")] = 0.1): ...

    @flow.step
    def train(data, alpha: float = Param(0.1, help="L2 strength")): ...

The first keeps the function an ordinary function with a plain default, callable as
``train(data)`` in a test; the second is shorter, but a direct call then receives the
``Param`` itself as ``alpha`` (a flow run always passes the value).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable
from typing import Any

import attrs

MISSING = inspect.Parameter.empty


def _choices(value: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class Param:
    """A flow parameter's documentation and constraints.

    :param default: the value when the run does not set it (omit: the parameter is
        required). With ``Annotated[...]`` the function's own default is used instead.
    :param help: one line saying what the parameter does (``lamina run flow.py --help``).
    :param choices: the only values allowed; any other is refused before the run starts.
    """

    default: Any = MISSING
    help: str = ""
    choices: tuple[Any, ...] | None = attrs.field(default=None, converter=_choices)


def param_of(parameter: inspect.Parameter, hints: dict[str, Any]) -> tuple[Param | None, Any, Any]:
    """``(Param or None, default, annotation)`` of a step's function parameter: the
    ``Param`` given as default or inside ``Annotated``, the plain default, and the plain
    annotation (``Annotated`` unwrapped, a resolved hint preferred over a string)."""
    annotation = hints.get(parameter.name, parameter.annotation)
    declared = None
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        declared = next((e for e in extras if isinstance(e, Param)), None)
        annotation = base
    default = parameter.default
    if isinstance(default, Param):
        declared = default
        default = default.default
    elif declared is not None and default is MISSING:
        default = declared.default
    return declared, default, annotation
