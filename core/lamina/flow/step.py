"""One step of a flow: the user's function plus its options and where it was written."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs

from lamina.errors import FlowDefinitionError
from lamina.flow.env import Env
from lamina.records import Resources


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _at_least_one(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen
class StepOptions:
    """How a step runs. Every option has a default that suits a laptop.

    :param foreach: the step(s) whose result this step fans out over: one task per element
        (several names: one task per element of their product).
    :param retries: extra attempts after a failure (0: fail at once).
    :param retry_delay: seconds to wait before the first retry (0: at once).
    :param retry_backoff: each later retry waits this many times longer than the one
        before (2: 5 s, 10 s, 20 s for ``retry_delay=5``; 1: always the same delay).
    :param timeout: seconds one attempt may take before it is stopped.
    :param resources: cpu cores, memory (MiB), gpus asked of the compute backend.
    :param cache: reuse the result of an earlier task with the same code, inputs and
        parameters (None: follow the run's ``cache`` setting).
    :param compute: run this step on another compute component of the stack (``"k8s"``).
    :param after: steps that must finish before this one starts, though it takes none of
        their results (an ordering-only dependency).
    :param catch: a task that still fails after its retries yields a
        :class:`~lamina.flow.failed.Failed` value instead of failing the run.
    :param env: the Python environment the step's tasks run in (None: the flow's
        ``env=``, else the one lamina runs in); see :class:`lamina.Env`.
    :param nested: with ``foreach`` naming one foreach step: one task per element of each
        of that step's results (a foreach inside a foreach), instead of one per result.
    """

    foreach: tuple[str, ...] = ()
    retries: int = attrs.field(default=0, validator=_non_negative)
    retry_delay: float = attrs.field(default=0.0, validator=_non_negative)
    retry_backoff: float = attrs.field(default=2.0, validator=_at_least_one)
    timeout: float | None = attrs.field(default=None, validator=_non_negative)
    resources: Resources = attrs.field(factory=Resources)
    cache: bool | None = None
    compute: str | None = None
    catch: bool = False
    after: tuple[str, ...] = ()
    env: Env | None = None
    nested: bool = False


@attrs.frozen
class Step:
    """A step as the flow holds it. ``fn`` is the user's function, unchanged."""

    name: str
    fn: Callable[..., Any]
    options: StepOptions
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line`` of the step's definition, for error messages."""
        return f"{self.file}:{self.line}"

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    def parameters(self) -> list[inspect.Parameter]:
        """The function's parameters; ``*args``/``**kwargs`` cannot be wired by name."""
        params = list(self.signature.parameters.values())
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise FlowDefinitionError(
                    f"step '{self.name}' ({self.where}): parameter '{p}' cannot be wired; "
                    "steps take named parameters only",
                    hint="name each input after the step that produces it",
                )
            if p.kind is p.POSITIONAL_ONLY:
                raise FlowDefinitionError(
                    f"step '{self.name}' ({self.where}): positional-only parameter "
                    f"'{p.name}' cannot be wired by name",
                    hint="remove the '/' from the signature",
                )
        return params


def make_step(fn: Callable[..., Any], name: str | None, options: StepOptions) -> Step:
    """Build a :class:`Step` from a function, recording where it was defined."""
    if not callable(fn):
        raise FlowDefinitionError(f"@flow.step decorates a function, got {fn!r}")
    code = getattr(fn, "__code__", None)
    file = code.co_filename if code else "<unknown>"
    line = code.co_firstlineno if code else 0
    return Step(name=fn.__name__ if name is None else name, fn=fn, options=options, file=file, line=line)


def retry_wait(options: StepOptions, failed_attempt: int) -> float:
    """Seconds to wait before the attempt after ``failed_attempt`` (1 for the first)."""
    if options.retry_delay <= 0:
        return 0.0
    return float(options.retry_delay * options.retry_backoff ** (failed_attempt - 1))
