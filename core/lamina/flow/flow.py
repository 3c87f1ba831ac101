"""The :class:`Flow`: a named set of steps, wired by parameter name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from lamina.errors import FlowDefinitionError
from lamina.flow.env import Env
from lamina.flow.names import check_flow_name, check_step_name
from lamina.flow.step import Step, StepOptions, make_step
from lamina.flow.triggers import EventTrigger, Triggers
from lamina.namespaces import check_name
from lamina.records import Resources

if TYPE_CHECKING:
    from lamina.client import Run
    from lamina.flow.graph import FlowGraph
    from lamina.stack import Stack

F = TypeVar("F", bound=Callable[..., Any])


class Flow:
    """A flow of plain Python steps.

    Decorate functions with :meth:`step`; a parameter named after another step receives
    that step's result, any other parameter is a flow parameter (set with
    ``flow.run(alpha=0.3)`` or ``lamina run flow.py --set alpha=0.3``). The decorated
    functions are returned unchanged, so they stay callable with plain values in a test
    or a notebook.

    ``schedule``, ``trigger_on_finish`` and ``trigger`` say when a deployed flow starts
    by itself (``Flow("report", schedule="@daily")``); they do nothing to ``flow.run()``.

    >>> flow = Flow("demo")
    >>> @flow.step
    ... def numbers() -> list[int]:
    ...     return [1, 2, 3]
    """

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        project: str | None = None,
        schedule: str | None = None,
        trigger_on_finish: str | Iterable[str] | None = None,
        trigger: str | EventTrigger | Iterable[str | EventTrigger] | None = None,
        env: Env | None = None,
    ) -> None:
        """:param name: the flow's name (letters, digits, ``-``, ``_``, ``.``).
        :param description: one line shown by the CLI and the UI.
        :param project: the project the flow belongs to (wins over ``project =`` in
            lamina.toml): its runs go to a branch of it, ``project:NAME/branch:...``
            (see :mod:`lamina.namespaces`).
        :param schedule: when the deployed flow starts by itself (cron or ``@daily``).
        :param trigger_on_finish: flows whose success (in the same project branch) starts it.
        :param trigger: event names (or :class:`EventTrigger`) that start it.
        :param env: the Python environment of every step that does not say otherwise
            (:class:`lamina.Env`; see docs/environments.md)."""
        if project is not None:
            check_name(project, "project")
        self.name = check_flow_name(name)
        self.description = description
        self.project = project or ""
        #: When the deployed flow starts by itself (see :mod:`lamina.flow.triggers`):
        #: ``schedule`` (cron or ``@daily``), ``trigger_on_finish`` (flows whose success
        #: in the same project branch starts it), ``trigger`` (event names, or
        #: :class:`EventTrigger` mapping the payload to parameters).
        self.triggers = Triggers.build(
            name, schedule=schedule, trigger_on_finish=trigger_on_finish, trigger=trigger
        )
        if env is not None and not isinstance(env, Env):
            raise FlowDefinitionError(
                f"flow '{name}': env= takes a lamina.Env, got {type(env).__name__}",
                hint="Flow(..., env=Env(pip=[\"pandas>=2\"]))",
            )
        #: The environment of every step that sets none (None: lamina's own).
        self.env = env
        self.steps: dict[str, Step] = {}

    # -- authoring ---------------------------------------------------------------------

    @overload
    def step(self, fn: F, /) -> F: ...

    @overload
    def step(
        self,
        /,
        *,
        foreach: str | Iterable[str] | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_backoff: float = 2.0,
        timeout: float | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        gpu: int | None = None,
        cache: bool | None = None,
        compute: str | None = None,
        catch: bool = False,
        after: str | Iterable[str] | None = None,
        env: Env | None = None,
        nested: bool = False,
        name: str | None = None,
    ) -> Callable[[F], F]: ...

    def step(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        foreach: str | Iterable[str] | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_backoff: float = 2.0,
        timeout: float | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        gpu: int | None = None,
        cache: bool | None = None,
        compute: str | None = None,
        catch: bool = False,
        after: str | Iterable[str] | None = None,
        env: Env | None = None,
        nested: bool = False,
        name: str | None = None,
    ) -> Any:
        """Register a function as a step; use bare (``@flow.step``) or with options.

        :param foreach: step name(s) to fan out over; the parameter of the same name
            receives one element per task. Several names: their product.
        :param retries: extra attempts after a failure.
        :param retry_delay: seconds before the first retry (0: at once).
        :param retry_backoff: each later retry waits this many times longer (2: doubling;
            1: the same delay every time).
        :param timeout: seconds an attempt may run before it is stopped.
        :param cpu: cores asked of the compute backend.
        :param memory: MiB asked of the compute backend.
        :param gpu: GPUs asked of the compute backend.
        :param cache: reuse an earlier identical task's result (None: the run decides).
        :param compute: name of another compute component of the stack for this step.
        :param catch: a task that still fails after its retries yields a
            :class:`lamina.Failed` value (downstream steps receive it) instead of failing
            the run; the run succeeds and ``show`` lists the caught failures.
        :param after: step name(s) that must finish before this step starts, when it
            takes none of their results (a table written by one step, read by another).
        :param env: the Python environment the step's tasks run in,
            ``Env(pip=["scikit-learn==1.5.*"], python="3.11")``: resolved and locked with
            uv, built once per lock and cached, recorded with the run (None: the flow's
            ``env=``; ``Env()``: the one lamina runs in). See docs/environments.md.
        :param nested: with ``foreach`` naming a foreach step, fan out over each element of
            each of its results (``genres`` -> ``movies`` per genre -> one task per movie);
            a join receives the results grouped by the outer element (a list of lists).
        :param name: the step's name if not the function's name.
        :return: the function itself, unchanged.
        """
        if isinstance(foreach, str):
            foreach_names: tuple[str, ...] = (foreach,)
        else:
            foreach_names = tuple(foreach or ())
        if env is not None and not isinstance(env, Env):
            raise FlowDefinitionError(
                f"flow '{self.name}': env= takes a lamina.Env, got {type(env).__name__}",
                hint="@flow.step(env=Env(pip=[\"tabulate>=0.9\"]))",
            )
        try:
            options = StepOptions(
                foreach=foreach_names,
                retries=retries,
                retry_delay=retry_delay,
                retry_backoff=retry_backoff,
                timeout=timeout,
                resources=Resources(cpu=cpu, memory=memory, gpu=gpu),
                cache=cache,
                compute=compute,
                catch=catch,
                after=(after,) if isinstance(after, str) else tuple(after or ()),
                env=env,
                nested=nested,
            )
        except (TypeError, ValueError) as err:
            raise FlowDefinitionError(f"flow '{self.name}': bad step option: {err}") from err

        def register(func: F) -> F:
            step = make_step(func, name, options)
            check_step_name(step.name, flow=self.name, where=step.where)
            other = self.steps.get(step.name)
            if other is not None and not _rerun_cell(other, step):
                raise FlowDefinitionError(
                    f"flow '{self.name}': step '{step.name}' defined twice "
                    f"({other.where} and {step.where})",
                    hint="rename one of them, or pass name= to @flow.step",
                )
            self.steps[step.name] = step
            return func

        if fn is not None:
            return register(fn)
        return register

    # -- inspection --------------------------------------------------------------------

    def step_env(self, name: str) -> Env | None:
        """The environment step ``name`` runs in: its own ``env=``, else the flow's;
        None when that is lamina's own environment."""
        env = self.steps[name].options.env or self.env
        return None if env is None or env.is_base else env

    def graph(self, params: dict[str, Any] | None = None) -> FlowGraph:
        """Build and validate the DAG; raise :class:`lamina.errors.FlowDefinitionError`
        (or :class:`~lamina.errors.ParameterError`) naming the step and its file:line."""
        from lamina.flow.graph import build_graph

        return build_graph(self, params or {})

    def validate(self, **params: Any) -> FlowGraph:
        """Check the flow without running anything; returns the validated graph."""
        return self.graph(params)

    # -- running -----------------------------------------------------------------------

    def build_envs(self) -> dict[str, str]:
        """Resolve and build the environment of every step that has one (``env=``), as a
        run does before its first task, and return ``{step: environment folder}``. Use it
        to build the environments into an image ahead of time, or to see that they
        resolve, without running anything.

        :raises lamina.errors.EnvironmentBuildError: one line naming the step and the
            requirement (uv missing, index unreachable, requirement unresolvable).
        """
        import os

        from lamina.runtime.envs import prepare_envs
        from lamina.runtime.launch import flow_file_of

        built = prepare_envs(self, list(self.steps),
                             base_dir=os.path.dirname(flow_file_of(self)) or os.getcwd())
        return {name: env.path for name, env in built.items()}

    def run(
        self,
        *,
        stack: Stack | str | None = None,
        tags: Iterable[str] = (),
        cache: bool = False,
        raise_on_failure: bool = True,
        branch: str | None = None,
        production: bool = False,
        echo: bool = False,
        **params: Any,
    ) -> Run:
        """Run the flow on a stack (the embedded default if none) and return the finished
        run. Flow parameters are keyword arguments: ``flow.run(alpha=0.3)``.

        :param stack: a :class:`lamina.Stack`, a stack name, or None for the configured
            default.
        :param tags: labels recorded with the run.
        :param cache: reuse results of identical earlier tasks for every step that does
            not say otherwise.
        :param raise_on_failure: raise :class:`lamina.errors.RunFailedError` (which holds
            the run) if a task failed; with False return the failed run.
        :param branch: run on this branch of the flow's project (default: your own
            branch; needs a project, ``Flow(..., project=)`` or the config's).
        :param production: run on the project's production branch (explicit, recorded
            with who and when).
        :param echo: stream what the steps print to this process's stdout and stderr
            while they run, each line prefixed with ``STEP[INDEX]``.
        """
        from lamina.runtime.launch import launch_run

        return launch_run(
            self,
            stack=stack,
            params=params,
            tags=tuple(tags),
            cache=cache,
            raise_on_failure=raise_on_failure,
            branch=branch,
            production=production,
            echo=echo,
        )

    def __repr__(self) -> str:
        return f"Flow({self.name!r}, steps={list(self.steps)})"


def _rerun_cell(old: Step, new: Step) -> bool:
    """A notebook cell run again redefines its steps: same function name, defined in
    ``__main__``, from an edited cell (another source name) or the same cell unchanged
    (same name and line). Then the new definition replaces the old one; two definitions
    at different lines of one file stay an error."""
    return (
        old.fn.__module__ == new.fn.__module__ == "__main__"
        and old.fn.__qualname__ == new.fn.__qualname__
        and (old.file != new.file or old.line == new.line)
    )
