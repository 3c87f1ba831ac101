"""The notebook's view of past runs: ``Client().latest_run("churn")["best"].value``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs

from lamina.client import scope
from lamina.client.refs import no_run_error, resolve_run, split_ref
from lamina.errors import LaminaError, RunNotFoundError
from lamina.interfaces.data_source import DataInput
from lamina.namespaces import check_namespace

if TYPE_CHECKING:
    from lamina.cards import Card
    from lamina.client.diff import RunDiff
    from lamina.records import ArtifactRef, RunRecord, TaskRecord
    from lamina.stack import Stack


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


class _Default:
    """``Client(namespace=DEFAULT)``: the reader's own namespace (see :class:`Client`)."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


class Client:
    """Runs of a stack's metadata store (the configured default stack if none), in one
    namespace.

    >>> client = Client()
    >>> run = client.latest_run("churn")     # latest successful run
    >>> run["best"].value                    # a step's result, loaded

    A Client reads one namespace (see :mod:`lamina.namespaces`), so ``latest_run``,
    ``runs`` and ``flows`` never return a colleague's run by accident:

    - by default the current user's: the namespace of the run a task belongs to when
      called inside a step; otherwise ``user:NAME``, or with ``project=`` (or the
      config's ``project``) the user's own branch of the project,
      ``project:churn/branch:NAME``;
    - ``Client(namespace="user:bob")`` or ``Client(namespace="project:churn/branch:prod")``
      reads another (a namespace without runs is an error naming the closest one);
    - ``Client(namespace=None)`` reads every namespace.

    A run named by id that lives in another namespace raises
    :class:`lamina.errors.OtherNamespaceError` naming both namespaces.

    :param stack: a :class:`lamina.Stack`, a stack name, or None for the default stack
        (inside a step: the stack the task runs on).
    :param namespace: the namespace to read; None for all.
    :param project: read the current user's own branch of this project by default.
    """

    def __init__(
        self, stack: Stack | str | None = None, *, namespace: str | None = DEFAULT,
        project: str | None = None,
    ) -> None:
        from lamina.runtime.current import current
        from lamina.stack import resolve_stack

        context = current.context if stack is None else None
        self.stack = context.stack if context is not None else resolve_stack(stack)
        self._chosen = namespace is not DEFAULT and namespace is not None
        if namespace is DEFAULT:
            namespace = scope.default_namespace(self.stack, project)
        elif namespace is not None:
            check_namespace(namespace)
        #: The namespace this Client reads (None: every namespace).
        self.namespace: str | None = namespace

    def _nothing_found(self) -> None:
        """A namespace chosen explicitly that answers nothing may not exist: say so."""
        if self._chosen and self.namespace is not None:
            scope.require_namespace(self.stack.metadata, self.namespace)

    def namespaces(self) -> list[str]:
        """The namespaces that have runs (whatever this Client reads)."""
        return scope.list_namespaces(self.stack.metadata)

    def flows(self) -> list[str]:
        """Names of flows that have runs in this Client's namespace."""
        flows = scope.list_flows(self.stack.metadata, namespace=self.namespace)
        if not flows:
            self._nothing_found()
        return flows

    def runs(
        self, flow: str | None = None, *, status: str | None = None, tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs in this Client's namespace, newest first, optionally of one flow, with a
        status or a tag."""
        records = scope.list_runs(
            self.stack.metadata, flow, namespace=self.namespace, status=status, tag=tag,
            limit=limit,
        )
        if not records:
            self._nothing_found()
        return [Run(self, r) for r in records]

    def run(self, ref: str) -> Run:
        """A run by id (or unique prefix), ``FLOW/latest`` (latest successful) or
        ``latest`` (the newest run of any flow), in this Client's namespace: see
        :func:`lamina.client.resolve_run`."""
        try:
            record = resolve_run(self.stack.metadata, ref, namespace=self.namespace)
        except RunNotFoundError:
            self._nothing_found()
            raise
        return Run(self, record)

    def latest_run(self, flow: str, *, successful: bool = True) -> Run:
        """The newest (successful, by default) run of ``flow`` in this Client's
        namespace."""
        runs = scope.list_runs(
            self.stack.metadata, flow, namespace=self.namespace,
            status="succeeded" if successful else None, limit=1,
        )
        if not runs:
            self._nothing_found()
            raise no_run_error(self.stack.metadata, flow, self.namespace, successful=successful)
        return Run(self, runs[0])

    def get(self, ref: str) -> Run | StepResult | Task:
        """``RUN``, ``RUN/STEP`` or ``RUN/STEP/INDEX`` (RUN may be ``FLOW/latest`` or
        ``latest``)."""
        run_ref, step, index = split_ref(ref)
        run = self.run(run_ref)
        if step is None:
            return run
        if index is None:
            return run[step]
        return run[step][index]

    def model(self, ref: str) -> Any:
        """A registered model version: ``"churn@champion"``, ``"churn/7"`` or ``"churn"``
        (the newest), the ``model:`` prefix optional, in the namespace of the stack's
        branch; a :class:`lamina.registry.RegisteredModel` (``.version``, ``.load()``,
        ``.checks``, ``.gate``)."""
        from lamina.registry import RegisteredModel, resolve

        return RegisteredModel(self.stack, resolve(ref, stack=self.stack))

    def models(self) -> list[str]:
        """The names registered in the namespace of the stack's branch."""
        from lamina.registry import names

        return list(names(stack=self.stack))

    def diff(self, a: str, b: str) -> RunDiff:
        """What changed between two runs: params, code, artifacts, metrics, timings."""
        from lamina.client.diff import diff_runs

        return diff_runs(self.run(a), self.run(b))

    def __repr__(self) -> str:
        return f"Client(stack={self.stack.name!r}, namespace={self.namespace!r})"


class Run:
    """One run: its record, its steps (``run["step"]``) and tags."""

    def __init__(self, client: Client, record: RunRecord) -> None:
        self.client = client
        self.record = record

    id = property(lambda self: self.record.run_id)
    flow = property(lambda self: self.record.flow)
    status = property(lambda self: self.record.status)
    params = property(lambda self: dict(self.record.params))
    tags = property(lambda self: tuple(self.record.tags))
    user = property(lambda self: self.record.user)
    project = property(lambda self: self.record.project)
    branch = property(lambda self: self.record.branch)
    production = property(lambda self: self.record.production)

    @property
    def namespace(self) -> str:
        """The namespace the run belongs to (its user's, for a run recorded before
        namespaces)."""
        return scope.run_namespace(self.record)
    started_at = property(lambda self: self.record.started_at)
    finished_at = property(lambda self: self.record.finished_at)
    duration = property(lambda self: self.record.duration)

    @property
    def successful(self) -> bool:
        return self.record.status == "succeeded"

    @cached_property
    def _tasks(self) -> list[TaskRecord]:
        records = self.client.stack.metadata.list_tasks(self.id)
        if records or self.record.status != "running":
            return records
        return self._live_tasks()

    def _live_tasks(self) -> list[TaskRecord]:
        """The finished tasks of a run still going, from their outcome records in the
        datastore: a run an orchestrator drives (Airflow) puts its tasks in the metadata
        store only when it finishes, and a local run in batches."""
        from lamina.runtime.stepwise import collect_task_records

        try:
            records = collect_task_records(self.client.stack.artifacts, self.id, live=True)[0]
        except LaminaError:  # no manifest in this stack's datastore: nothing to show yet
            return []
        order = {step: i for i, step in enumerate(self.record.steps)}
        return sorted(records, key=lambda r: (order.get(r.step, len(order)), r.index))

    def refresh(self) -> Run:
        """Re-read the run (its status, tags and tasks may have changed)."""
        return Run(self.client, self.client.stack.metadata.get_run(self.id))

    @property
    def steps(self) -> list[str]:
        return list(self.record.steps)

    def graph(self) -> dict[str, list[str]]:
        """Each step and the steps it takes results from, as recorded with the run (its
        manifest in the datastore), in the run's step order."""
        from lamina.runtime.layout import run_manifest_key

        manifest = self.client.stack.artifacts.get_json(run_manifest_key(self.id)) or {}
        steps = manifest.get("steps") or {}
        return {
            name: sorted({src for src, _kind in (steps.get(name) or {}).get("inputs", {}).values()
                          if src in steps})
            for name in self.record.steps
        }

    def planned_tasks(self) -> dict[str, int]:
        """How many tasks each launched step has; a step not launched yet is absent."""
        from lamina.runtime.layout import step_plan_key

        plans = {}
        for step in self.record.steps:
            plan = self.client.stack.artifacts.get_json(step_plan_key(self.id, step))
            if plan is not None:
                plans[step] = int(plan.get("count", 0))
        return plans

    def tasks(self, step: str | None = None) -> list[Task]:
        return [Task(self, t) for t in self._tasks if step is None or t.step == step]

    def __getitem__(self, step: str) -> StepResult:
        if step not in self.record.steps:
            raise RunNotFoundError(
                f"run {self.id} of flow '{self.flow}' has no step '{step}'",
                hint=f"steps: {', '.join(self.record.steps)}",
            )
        return StepResult(self, step, self.tasks(step))

    def __iter__(self) -> Iterator[StepResult]:
        return (self[s] for s in self.steps)

    def add_tags(self, *tags: str) -> None:
        """Label the run; allowed on finished runs too."""
        self.client.stack.metadata.add_tags(self.id, list(tags))
        self.record = self.client.stack.metadata.get_run(self.id)

    def remove_tags(self, *tags: str) -> None:
        """Take labels off the run (a tag it does not have is ignored)."""
        self.client.stack.metadata.remove_tags(self.id, list(tags))
        self.record = self.client.stack.metadata.get_run(self.id)

    def failed_tasks(self) -> list[Task]:
        """Tasks that failed the run."""
        return [t for t in self.tasks() if t.status == "failed"]

    def caught_tasks(self) -> list[Task]:
        """Tasks that failed in a ``catch=True`` step: their value is a
        :class:`lamina.Failed` and the run went on."""
        return [t for t in self.tasks() if t.status == "caught"]

    def notes(self) -> dict[str, list[str]]:
        """Per task id (``RUN/STEP/INDEX``), what the run noted about it: a cached or
        resumed result found damaged and computed again (see :attr:`Task.notes`)."""
        artifacts = self.client.stack.artifacts
        out: dict[str, list[str]] = {}
        for key in artifacts.list(f"runs/{self.id}/notes"):
            data = artifacts.get_json(key) or {}
            out[str(data.get("task", key))] = [str(n) for n in data.get("notes", [])]
        return out

    def diff(self, other: Run | str) -> RunDiff:
        from lamina.client.diff import diff_runs

        return diff_runs(self, other if isinstance(other, Run) else self.client.run(other))

    def resume(self, *, stack: Stack | str | None = None, **kwargs: Any) -> Run:
        """Resume this run on ``stack`` (default: this client's stack), reusing its
        successful tasks: ``Client("team").run(id).resume(stack="local")`` brings a
        production run back to the laptop. The new run is recorded on ``stack`` with
        ``resumed_from`` set to this run. Other keyword arguments are those of
        :func:`lamina.resume` (``flow=``, ``tags=``, ``snapshot=``, flow parameters)."""
        from lamina.runtime.launch import resume

        target = self.client.stack if stack is None else stack
        return resume(self.id, stack=target, origin=self.client.stack, **kwargs)

    def pull(self, stack: Stack | str | None = None) -> Run:
        """Copy this run (records, code snapshot, results) into ``stack`` (default: the
        configured one) and return it as read there: ``lamina pull RUN --from STACK``."""
        from lamina.runtime.pull import pull_run
        from lamina.stack import resolve_stack

        target = resolve_stack(stack)
        pull_run(self.id, origin=self.client.stack, stack=target)
        return Client(target).run(self.id)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.record.params.items())
        return (
            f"Run('{self.flow}/{self.id}', {self.status}, steps={len(self.steps)}, "
            f"duration={_seconds(self.duration)}, params={{{params}}})"
        )


class StepResult:
    """A step of a run: one task, or one per foreach element."""

    def __init__(self, run: Run, name: str, tasks: list[Task]) -> None:
        self.run = run
        self.name = name
        self.tasks = tasks

    @property
    def foreach(self) -> bool:
        return len(self.tasks) != 1 or self.tasks[0].record.element != ""

    @property
    def task(self) -> Task:
        """The step's only task (a step without foreach)."""
        if len(self.tasks) != 1:
            raise LaminaError(
                f"step '{self.name}' of run {self.run.id} has {len(self.tasks)} tasks",
                hint=f"use run['{self.name}'].tasks or run['{self.name}'][i]",
            )
        return self.tasks[0]

    @property
    def value(self) -> Any:
        """The step's result: a value, or for a foreach step the ordered list of values.
        A pickled value of an untrusted run is refused: see :meth:`load`."""
        return self.load()

    def load(self, *, trust: bool | None = None) -> Any:
        """:attr:`value`, with a say on trust (see :meth:`Task.load`)."""
        if self._is_foreach_step():
            return [t.load(trust=trust) for t in self.tasks]
        return self.task.load(trust=trust)

    def _is_foreach_step(self) -> bool:
        return any(t.record.element for t in self.tasks) or len(self.tasks) != 1

    def __getitem__(self, index: int | str) -> Task:
        """The task at ``index``; a nested foreach's task also by its address ``"I.J"``
        (element J of outer element I)."""
        if isinstance(index, str):
            index = self.flat_index(index)
        for t in self.tasks:
            if t.index == index:
                return t
        count = len(self.tasks)
        raise RunNotFoundError(
            f"step '{self.name}' of run {self.run.id} has no task {index}",
            hint=f"its task indexes are 0..{count - 1}" if count else "the step ran no task",
        )

    def group_sizes(self) -> list[int] | None:
        """For a nested foreach step, how many tasks each outer element fanned out to
        (None for any other step)."""
        from lamina.runtime.layout import step_plan_key

        plan = self.run.client.stack.artifacts.get_json(step_plan_key(self.run.id, self.name))
        nested = (plan or {}).get("nested")
        return list(nested["sizes"]) if nested else None

    def grouped(self, *, trust: bool | None = None) -> list[list[Any]]:
        """A nested foreach step's values grouped by outer element (a list of lists, as
        a join receives them)."""
        from lamina.runtime.scheduler import split_groups

        sizes = self.group_sizes()
        if sizes is None:
            raise LaminaError(
                f"step '{self.name}' of run {self.run.id} is not a nested foreach",
                hint=f"read run['{self.name}'].value",
            )
        return split_groups(self.load(trust=trust), sizes)

    def flat_index(self, address: str) -> int:
        """The task index of the nested address ``"I.J"``."""
        from lamina.runtime.scheduler import nested_index

        sizes = self.group_sizes()
        if sizes is None:
            raise LaminaError(
                f"step '{self.name}' of run {self.run.id} is not a nested foreach: task "
                f"{address!r} names none of its tasks",
                hint="name its tasks by index: 0, 1, 2...",
            )
        try:
            return nested_index(sizes, address)
        except (IndexError, ValueError):
            raise RunNotFoundError(
                f"nested step '{self.name}' of run {self.run.id} has no task {address}",
                hint="its outer elements have " + ", ".join(
                    f"{i}: {n} task{'s' if n != 1 else ''}" for i, n in enumerate(sizes[:20])),
            ) from None

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        states: dict[str, int] = {}
        for t in self.tasks:
            states[t.status] = states.get(t.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in states.items())
        return f"StepResult('{self.run.id}/{self.name}', {len(self.tasks)} tasks: {summary})"


@attrs.frozen
class LineageEntry:
    """An artifact a task's result was computed from, and the task that made it."""

    depth: int
    param: str
    key: str
    task_id: str  # the task whose result it is (or holds it, for a foreach element); "" if unknown
    element: bool = False  # one element of ``task_id``'s list result, not the whole result


@attrs.frozen
class Attempt:
    """One attempt of a task: its status, error and logs."""

    number: int
    status: str
    error: str
    traceback: str
    started_at: float | None
    finished_at: float | None
    stdout: str
    stderr: str


class Task:
    """One task of a run: status, timings, logs, error, and its result."""

    def __init__(self, run: Run, record: TaskRecord) -> None:
        self.run = run
        self.record = record

    id = property(lambda self: self.record.task_id)
    step = property(lambda self: self.record.step)
    index = property(lambda self: self.record.index)
    error = property(lambda self: self.record.error)
    traceback = property(lambda self: self.record.traceback)
    duration = property(lambda self: self.record.duration)
    metrics = property(lambda self: dict(self.record.metrics))

    @property
    def data_inputs(self) -> list[DataInput]:
        """What the step read from data sources (``lamina.data.read``), in order: source,
        query and parameters or table, version where the source has one, rows and content
        hash (:class:`lamina.interfaces.data_source.DataInput`). A reused task lists what
        the task it reused read."""
        return [DataInput.from_dict(d) for d in self.record.data_inputs]

    @property
    def status(self) -> str:
        """``succeeded``, ``reused`` (taken from an earlier run), or ``failed``."""
        if self.record.status == "succeeded" and self.record.reused_from:
            return "reused"
        return self.record.status

    @property
    def ref(self) -> ArtifactRef:
        if self.record.output is None:
            raise LaminaError(
                f"task {self.id} has no result (status {self.record.status}): {self.record.error}",
                hint=f"lamina show {self.id}",
            )
        return self.record.output

    @property
    def value(self) -> Any:
        """The step's return value, read from the datastore (memory-mapped where it can).
        A pickled value of a run outside the trusted namespaces is refused
        (:class:`lamina.errors.UntrustedArtifactError`): see :meth:`load`."""
        return self.load()

    def load(self, *, trust: bool | None = None) -> Any:
        """The step's return value, like :attr:`value`, with a say on trust.

        Loading a pickle runs the code it holds. By default (``trust=None``) a value
        stored as a pickle loads only when the run is in a namespace the stack trusts
        (your own, your project's, ``trusted_namespaces``; ``allow_pickle``); Arrow,
        numpy, pandas and skops values load from any run.

        :param trust: ``True``: you trust whoever made this run, load it whatever it is;
            ``False``: never unpickle, even from a trusted run.
        :raises lamina.errors.UntrustedArtifactError: a pickle without trust.
        """
        from lamina.datastore.trust import record_namespace

        stack = self.run.client.stack
        policy = stack.trust
        namespace = record_namespace(self.run.record.namespace, self.run.record.user)
        trusted = policy.trusts(namespace, self.run.record.user) if trust is None else trust
        refuse = None if trusted else (
            lambda serializer: policy.refuse(f"the result of {self.id}", namespace, serializer))
        return stack.artifacts.load(self.ref, name=self.id, refuse_code=refuse)

    @property
    def notes(self) -> list[str]:
        """What the run noted about this task: a cached or resumed result it found
        damaged (missing, truncated, altered) and so computed again. Empty for most."""
        from lamina.runtime.layout import task_notes_key

        data = self.run.client.stack.artifacts.get_json(
            task_notes_key(self.run.id, self.step, self.index))
        return [str(n) for n in (data or {}).get("notes", [])]

    def _log(self, key: str) -> str:
        if not key:
            return ""
        return self.run.client.stack.artifacts.get_bytes(key, name=f"{self.id} log").decode(
            errors="replace"
        )

    @property
    def stdout(self) -> str:
        return self._log(self.record.stdout_key)

    @property
    def stderr(self) -> str:
        return self._log(self.record.stderr_key)

    def attempts(self) -> list[Attempt]:
        """Every attempt of the task, first to last: a retried task's failed attempts
        (kept with their logs) and the attempt its record holds."""
        from lamina.runtime.layout import task_attempt_key

        artifacts = self.run.client.stack.artifacts
        out = []
        for n in range(1, self.record.attempt):
            data = artifacts.get_json(task_attempt_key(self.run.id, self.step, self.index, n))
            if data is not None:
                out.append(Attempt(n, data.get("status", "failed"), data.get("error", ""),
                                   data.get("traceback", ""), data.get("started_at"),
                                   data.get("finished_at"), self._log(data.get("stdout_key", "")),
                                   self._log(data.get("stderr_key", ""))))
        r = self.record
        out.append(Attempt(r.attempt, r.status, r.error, r.traceback, r.started_at,
                           r.finished_at, self.stdout, self.stderr))
        return out

    @property
    def card(self) -> Card | None:
        """The task's card (``current.card`` in the step, or a returned ``lamina.Card``)."""
        from lamina.cards.store import load_task_card

        return load_task_card(self.run.client.stack.artifacts, self.run.id, self.step, self.index)

    def lineage(self) -> list[LineageEntry]:
        """Every artifact this result was computed from, upstream to the flow's start,
        nearest first. Each artifact appears once, at the depth it is first reached."""
        # Inputs are wired by name: parameter P was made by step P. The producer is found
        # among P's tasks only, never by key alone: equal bytes made by another task (a
        # foreach element 1 and a square 1*1) share a content hash.
        by_step: dict[str, list[TaskRecord]] = {}
        by_output: dict[tuple[str, str], TaskRecord] = {}
        for t in self.run._tasks:
            by_step.setdefault(t.step, []).append(t)
            if t.output is not None:
                by_output.setdefault((t.step, t.output.key), t)

        def producer(param: str, key: str) -> tuple[TaskRecord | None, bool]:
            made_by = by_output.get((param, key))
            if made_by is not None:
                return made_by, False
            # an element of a list result: made by the (single) task of that step
            tasks = by_step.get(param, [])
            return (tasks[0], True) if len(tasks) == 1 else (None, True)

        out: list[LineageEntry] = []
        seen_entries: set[tuple[str, str, str]] = set()
        visited = {self.record.task_id}
        frontier = [(self.record, 1)]
        while frontier:
            record, depth = frontier.pop(0)
            for param, keys in record.inputs.items():
                for key in keys if isinstance(keys, list) else [keys]:
                    made_by, element = producer(param, key)
                    task_id = made_by.task_id if made_by is not None else ""
                    if (param, key, task_id) in seen_entries:
                        continue
                    seen_entries.add((param, key, task_id))
                    out.append(LineageEntry(depth, param, key, task_id, element))
                    if made_by is not None and task_id not in visited:
                        visited.add(task_id)
                        frontier.append((made_by, depth + 1))
        return out

    def __repr__(self) -> str:
        extra = f", element: {self.record.element}" if self.record.element else ""
        err = f", error={self.record.error!r}" if self.record.error else ""
        return f"Task('{self.id}', {self.status}, {_seconds(self.duration)}{extra}{err})"
