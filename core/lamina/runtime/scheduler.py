"""The scheduler the local orchestrator drives: launches steps as their inputs become
ready, fans foreach steps out into tasks, hands tasks to compute, retries, reuses cached
results, and records everything in the metadata store in batches.

Per task it does O(1) work (a spec, a cache key, one record), so a 20,000-task foreach
costs milliseconds per task, not a scan of the run.
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import RunInterruptedError
from lamina.flow.step import retry_wait
from lamina.logs import get_logger
from lamina.records import ArtifactRef, RunRecord, TaskOutcome, TaskRecord, TaskSpec
from lamina.runtime.cache import cache_key, step_cache_keys
from lamina.runtime.data_inputs import stale_inputs
from lamina.runtime.layout import step_plan_key, task_notes_key
from lamina.runtime.progress import NullProgress
from lamina.runtime.task import write_outcome

if TYPE_CHECKING:
    from lamina.runtime.context import RunContext

log = get_logger("lamina.scheduler")

_FLUSH_EVERY = 0.5  # seconds between metadata batches
_FLUSH_SIZE = 2000
#: a step with more tasks than this hands them to compute while it builds the rest
_FEED_EVERY = 1000


class ForeachError(Exception):
    """A foreach source cannot be fanned out over (raised while launching a step)."""


def _element_repr(values: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return text if len(text) <= 200 else text[:197] + "..."


#: record writers whose thread runs: a fork waits for the batch being written (see below)
_WRITERS: weakref.WeakSet[_RecordWriter] = weakref.WeakSet()


def _before_fork() -> None:
    """A worker forked while the writer thread is inside the metadata store would inherit
    the store's lock held by a thread it does not have: hold every writer's lock (the
    writer only touches the store under it) across the fork instead."""
    for writer in list(_WRITERS):
        writer.lock.acquire()
        writer.held_for_fork = True


def _after_fork() -> None:
    for writer in list(_WRITERS):
        if writer.held_for_fork:
            writer.held_for_fork = False
            writer.lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork,
                        after_in_child=_after_fork)


class _RecordWriter:
    """Writes batches of task records to the metadata store in a background thread, so
    that the scheduler keeps feeding the workers while a batch is written (a batch of a
    wide foreach takes long enough for the workers to run out of tasks and fill their
    pipes). Batches are written in order; :meth:`wait` returns once all are written and
    raises what writing one raised. ``lock`` serializes the scheduler's own metadata
    calls with the writer's."""

    def __init__(self, metadata: Any) -> None:
        self.metadata = metadata
        self.lock = threading.Lock()
        self.held_for_fork = False
        self._queue: queue.Queue[list[TaskRecord] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, batch: list[TaskRecord]) -> None:
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="lamina-records",
                                            daemon=True)
            self._thread.start()
            _WRITERS.add(self)
        self._queue.put(batch)

    def wait(self) -> None:
        if self._thread is not None:
            self._queue.join()
        self._raise()

    def close(self) -> None:
        if self._thread is not None:
            _WRITERS.discard(self)
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self._error is None:  # after a failure, the next wait() reports it
                    with self.lock:
                        self.metadata.record_tasks(batch)
            except BaseException as error:  # reported to the scheduler's thread
                self._error = error
            finally:
                self._queue.task_done()


class Scheduler:
    """Runs one :class:`RunContext` to the end on the stack's compute."""

    def __init__(self, ctx: RunContext, *, fail_fast: bool = True,
                 progress: NullProgress | None = None, stage_elements: bool = True):
        """:param stage_elements: let the tasks of a compute that can
        (``stores_staged_elements``) store their own foreach elements; False stores every
        element before the step's plan is written (a plan read by other processes)."""
        self.ctx = ctx
        self.stage_elements = stage_elements
        self.graph = ctx.graph
        self.fail_fast = fail_fast
        self.progress = progress or NullProgress()
        self.results: dict[str, list[ArtifactRef | None]] = {}
        self.remaining: dict[str, int] = {}
        self.state: dict[str, str] = dict.fromkeys(self.graph.order, "waiting")
        self.specs: dict[tuple[str, int], TaskSpec] = {}
        self.element_text: dict[tuple[str, int], str] = {}
        #: nested steps: how many tasks each outer result fanned out to
        self.nest_sizes: dict[str, list[int]] = {}
        #: (step, foreach name, position) -> bytes of an element its task stores itself
        self.staged: dict[tuple[str, str, int], bytes] = {}
        self._defers: dict[str | None, bool] = {}
        self.computes: dict[str | None, Any] = {}
        self.pending: dict[str | None, list[TaskSpec]] = {}
        #: retries waiting for their delay: (due monotonic time, compute name, spec), a heap
        self.delayed: list[tuple[float, int, str | None, TaskSpec]] = []
        self._seq = itertools.count()
        self.buffer: list[TaskRecord] = []
        self.writer = _RecordWriter(ctx.stack.metadata)
        self.last_flush = time.monotonic()
        self.done = self.failed = 0
        self.failures: list[TaskRecord] = []

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> RunRecord:
        ctx = self.ctx
        status = "succeeded"
        self.progress.start(ctx.run_id, ctx.flow.name)
        try:
            self._launch_ready()
            while self._in_flight():
                self._feed()
                for outcome in self._poll():
                    self._handle(outcome)
                self._maybe_flush()
                self._report()
            if self.failures or any(s != "done" for s in self.state.values()):
                status = "failed"
        except KeyboardInterrupt:
            self._shutdown(cancel=True)
            self._flush()
            self.progress.stop()
            ctx.stack.metadata.finish_run(
                ctx.run_id, status="interrupted", finished_at=time.time(),
                error="interrupted by the user (Ctrl-C)",
            )
            raise RunInterruptedError(
                f"run {ctx.run_id} of flow '{ctx.flow.name}' was interrupted; finished tasks "
                "are kept",
                run_id=ctx.run_id,
                hint=f"lamina resume {ctx.run_id}",
            ) from None
        except BaseException:
            self._shutdown(cancel=True)
            self._flush()
            self.progress.stop()
            raise
        self._shutdown(cancel=False)
        self._flush()
        self.progress.stop()
        error = ""
        if status == "failed":
            error = "; ".join(
                f"{t.step}[{t.index}] {t.error} ({t.location})" for t in self.failures[:3]
            ) or "some steps did not run"
        ctx.stack.metadata.finish_run(
            ctx.run_id, status=status, finished_at=time.time(), error=error
        )
        return ctx.stack.metadata.get_run(ctx.run_id)

    def _in_flight(self) -> bool:
        return (any(self.pending.values()) or bool(self.delayed)
                or any(c.running() for c in self.computes.values()))

    def _stopping(self) -> bool:
        return self.fail_fast and bool(self.failures)

    def _poll(self) -> list[TaskOutcome]:
        active = [c for c in self.computes.values() if c.running()]
        if not active and self.delayed and not any(self.pending.values()):
            # only retries waiting out their delay: sleep until the first is due
            time.sleep(min(0.2, max(0.0, self.delayed[0][0] - time.monotonic())))
            return []
        timeout = 0.2 if len(active) <= 1 else 0.02
        outcomes: list[TaskOutcome] = []
        for compute in active:
            outcomes.extend(compute.poll(timeout))
        return outcomes

    def _feed(self) -> None:
        if self._stopping():
            for queue in self.pending.values():
                queue.clear()
            self.delayed.clear()
            return
        now = time.monotonic()
        while self.delayed and self.delayed[0][0] <= now:
            _due, _seq, name, spec = heapq.heappop(self.delayed)
            self.pending[name].append(spec)
        for name, queue in self.pending.items():
            compute = self.computes[name]
            depth = getattr(compute, "max_queued", compute.max_in_flight * 2)
            room = max(0, depth - compute.running())
            while queue and room > 0:
                compute.submit(queue.pop())
                room -= 1

    def _report(self) -> None:
        running = sum(c.running() for c in self.computes.values())
        self.progress.update(done=self.done, running=running, failed=self.failed)

    # -- launching steps ------------------------------------------------------------------

    def _launch_ready(self) -> None:
        if self._stopping():
            return
        launched = True
        while launched:
            launched = False
            for step in self.graph.order:
                if self.state[step] != "waiting":
                    continue
                if all(self.state[up] == "done" for up in self.graph.upstream(step)):
                    self._launch(step)
                    launched = True

    def _launch(self, step_name: str) -> None:
        ctx = self.ctx
        step = ctx.flow.steps[step_name]
        try:
            element_lists = self.foreach_elements(step_name)
        except ForeachError as err:
            self._fail_step_before_tasks(step_name, str(err))
            return
        names = list(step.options.foreach)
        if names:
            combos: Iterable[tuple[tuple[ArtifactRef, Any], ...]] = itertools.product(
                *(element_lists[n] for n in names)
            )
            count = 1
            for n in names:
                count *= len(element_lists[n])
        else:
            combos, count = [()], 1
        plan: dict[str, Any] = {
            "step": step_name,
            "count": count,
            "foreach": {n: [ref.to_dict() for ref, _ in element_lists[n]] for n in names},
        }
        nesting = self.nest_plan(step_name)
        if nesting is not None:
            plan["nested"] = nesting
        ctx.artifacts.put_json(step_plan_key(ctx.run_id, step_name), plan)
        self.state[step_name] = "running"
        self.results[step_name] = [None] * count
        self.remaining[step_name] = count
        self.progress.add_total(count)
        if count == 0:
            self._step_done(step_name)
            return
        common_inputs = self._inputs(step_name)
        per_group = {p: split_groups(self.results[i.source], self.group_sizes(i.source))
                     for p, i in self.graph.inputs[step_name].items() if i.kind == "group"}
        params = {p: self.graph.params[p] for p in self.graph.step_params[step_name]}
        compute_name = step.options.compute
        if compute_name not in self.computes:
            compute = ctx.stack.compute_for(compute_name)
            compute.start(ctx)
            self.computes[compute_name] = compute
            self.pending[compute_name] = []
        want_cache = step.options.cache if step.options.cache is not None else ctx.cache
        to_submit: list[TaskSpec] = []
        key_of = step_cache_keys(
            flow=ctx.flow.name,
            step=step_name,
            code_hash=ctx.step_code[step_name],
            inputs=common_inputs,
            params=params,
        )
        staged = self.staged
        datastore_url = ctx.stack.redact(ctx.stack.datastore.url)
        queue_ = self.pending[compute_name]
        base = len(queue_)  # this step's tasks go above what is already pending
        positions: Iterable[tuple[int, ...]] = (
            itertools.product(*(range(len(element_lists[n])) for n in names)) if names else [()])
        for index, (combo, where) in enumerate(zip(combos, positions, strict=True)):
            elements = {n: ref for n, (ref, _) in zip(names, combo, strict=True)}
            own = {n: staged[(step_name, n, p)] for n, p in zip(names, where, strict=True)
                   if (step_name, n, p) in staged} if staged else {}
            inputs = common_inputs
            if per_group:
                inputs = {**common_inputs, **{p: g[index] for p, g in per_group.items()}}
                key = cache_key(flow=ctx.flow.name, step=step_name,
                                code_hash=ctx.step_code[step_name], inputs=inputs,
                                elements=elements, params=params)
            else:
                key = key_of(elements)
            spec = TaskSpec(
                run_id=ctx.run_id,
                flow=ctx.flow.name,
                step=step_name,
                index=index,
                attempt=1,
                datastore_url=datastore_url,
                inputs=inputs,
                elements=elements,
                params=params,
                timeout=step.options.timeout,
                resources=step.options.resources,
                cache_key=key,
                datastore_spec=ctx.datastore_spec,
                staged=own,
            )
            if names:
                self.element_text[(step_name, index)] = _element_repr(
                    {n: shown for n, (_, shown) in zip(names, combo, strict=True)}
                )
            self.specs[(step_name, index)] = spec
            if not self._try_reuse(spec, want_cache):
                to_submit.append(spec)
                if len(to_submit) >= _FEED_EVERY:  # a wide step: the workers start now
                    base = min(base, len(queue_))
                    queue_[base:base] = reversed(to_submit)
                    to_submit = []
                    self._feed()
        for key_ in [k for k in staged if k[0] == step_name]:
            del staged[key_]  # the specs hold them now
        # pending lists are popped from the end: reverse so tasks start in index order
        base = min(base, len(queue_))
        queue_[base:base] = reversed(to_submit)
        if self.remaining[step_name] == 0 and self.state[step_name] == "running":
            self._step_done(step_name)

    def _inputs(self, step_name: str) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for param, inp in self.graph.inputs[step_name].items():
            if inp.kind == "value":
                inputs[param] = self.results[inp.source][0]
            elif inp.kind == "list":
                inputs[param] = list(self.results[inp.source])
            elif inp.kind == "groups":
                inputs[param] = split_groups(self.results[inp.source], self.group_sizes(inp.source))
        return inputs

    def foreach_elements(self, step_name: str) -> dict[str, list[tuple[ArtifactRef, Any]]]:
        """For each foreach name, the element references (and a short display value).
        A nested step gets the elements of every result of its source, outer-major (task
        ``i.j`` at flat index ``sizes[0] + ... + sizes[i-1] + j``); the sizes are kept in
        :attr:`nest_sizes` for the step's plan."""
        ctx = self.ctx
        step = ctx.flow.steps[step_name]
        out: dict[str, list[tuple[ArtifactRef, Any]]] = {}
        for name in step.options.foreach:
            source = ctx.flow.steps[name]
            if step.options.nested:
                refs: list[tuple[ArtifactRef, Any]] = []
                sizes = []
                for i, outer in enumerate(self.results[name]):
                    assert outer is not None
                    value = ctx.artifacts.load(outer, name=f"{ctx.run_id}/{name}/{i}")
                    items = self._listed(step_name, f"{name}[{i}]", value)
                    sizes.append(len(items))
                    for j, item in enumerate(items):
                        element_ref, data = self._element(
                            step_name, item, f"{ctx.run_id}/{name}/{i}/element/{j}")
                        if data is not None:
                            self.staged[(step_name, name, len(refs))] = data
                        refs.append((element_ref, ElementText(f"{i}.{j}: {element_text(item)!r}")))
                self.nest_sizes[step_name] = sizes
                out[name] = refs
                continue
            if source.options.foreach:  # fan out over another foreach's results
                out[name] = [(ref, ElementText(f"<{name}[{i}]>"))  # type: ignore[misc]
                             for i, ref in enumerate(self.results[name])]
                continue
            ref = self.results[name][0]
            assert ref is not None
            value = ctx.artifacts.load(ref, name=f"{ctx.run_id}/{name}/0")
            items = self._listed(step_name, name, value)
            refs = []
            for i, item in enumerate(items):
                element_ref, data = self._element(step_name, item,
                                                  f"{ctx.run_id}/{name}/element/{i}")
                if data is not None:
                    self.staged[(step_name, name, i)] = data
                refs.append((element_ref, element_text(item)))
            out[name] = refs
        return out

    def _element(self, step_name: str, item: Any, name: str) -> tuple[ArtifactRef, bytes | None]:
        """Store one foreach element, or, when the step's tasks can store their own
        (:attr:`TaskSpec.staged`), only serialize it: its reference and the bytes the task
        stores before it runs. A wide foreach's elements are then written by the workers,
        in parallel with the tasks, instead of one by one before the first task starts."""
        if self._defers_elements(step_name):
            staged = self.ctx.artifacts.stage(item, name=name)
            if staged is not None:
                return staged
        return self.ctx.artifacts.save(item, name=name)[0], None

    def _defers_elements(self, step_name: str) -> bool:
        if not self.stage_elements:
            return False
        compute_name = self.ctx.flow.steps[step_name].options.compute
        if compute_name not in self._defers:
            compute = self.computes.get(compute_name) or self.ctx.stack.compute_for(compute_name)
            self._defers[compute_name] = bool(getattr(compute, "stores_staged_elements", False))
        return self._defers[compute_name]

    def _listed(self, step_name: str, name: str, value: Any) -> list[Any]:
        """The elements of the result ``name`` a step fans out over, or a ForeachError."""
        step = self.ctx.flow.steps[step_name]
        source = self.ctx.flow.steps[name.split("[")[0]]
        if isinstance(value, (str, bytes, bytearray, Mapping)):
            kind = type(value).__name__
            raise ForeachError(
                f"step '{step_name}' ({step.where}): foreach over '{name}', whose result "
                f"is a {kind}; foreach needs a list-like value ({source.where})"
                + ("; a dict would fan out over its keys only" if kind == "dict" else "")
            )
        try:
            return list(value)
        except TypeError:
            raise ForeachError(
                f"step '{step_name}' ({step.where}): foreach over '{name}', whose result "
                f"is a {type(value).__name__}, which is not iterable ({source.where}); "
                f"make '{source.name}' return a list"
            ) from None

    def nest_plan(self, step_name: str) -> dict[str, Any] | None:
        """What a step's plan records of its nesting: the outer foreach step and how many
        tasks each of its results fanned out to (None for a step that is not nested)."""
        outer = self.graph.nest_outer(step_name)
        if outer is None:
            return None
        sizes = self.nest_sizes.get(step_name)
        if sizes is None:  # a foreach over a nested step's results counts what it counts
            sizes = self.group_sizes(self.ctx.flow.steps[step_name].options.foreach[0])
            self.nest_sizes[step_name] = sizes
        return {"outer": outer, "sizes": sizes}

    def group_sizes(self, step_name: str) -> list[int]:
        """The group sizes of a nested step that was launched (from its plan)."""
        if step_name not in self.nest_sizes:
            plan = self.ctx.artifacts.get_json(step_plan_key(self.ctx.run_id, step_name)) or {}
            self.nest_sizes[step_name] = list((plan.get("nested") or {}).get("sizes") or [])
        return self.nest_sizes[step_name]

    # -- outcomes -------------------------------------------------------------------------

    def _try_reuse(self, spec: TaskSpec, want_cache: bool) -> bool:
        ctx = self.ctx
        origin: TaskRecord | None = None
        reused_from = ""
        previous = ctx.reuse.get(spec.cache_key)
        if previous is not None and previous.get("output"):
            output = ArtifactRef.from_dict(previous["output"])
            reused_from = previous.get("reused_from") or (
                f"{previous['run_id']}/{previous['step']}/{previous['index']}"
            )
            metrics = previous.get("metrics") or {}
            data_inputs = list(previous.get("data_inputs") or [])
        elif want_cache:
            with self.writer.lock:
                origin = ctx.stack.metadata.find_cached(spec.cache_key)
            if origin is None or origin.output is None:
                return False
            output = origin.output
            reused_from = origin.reused_from or origin.task_id
            metrics = dict(origin.metrics)
            data_inputs = list(origin.data_inputs)
        else:
            return False
        stale = stale_inputs(ctx.stack, data_inputs, reused_from) if data_inputs else []
        if stale:
            for note in stale:
                log.warning(note, task=spec.task_id)
            ctx.artifacts.put_json(task_notes_key(spec.run_id, spec.step, spec.index),
                                   {"task": spec.task_id, "notes": stale})
            return False
        problem = ctx.artifacts.damage(output, name=reused_from)
        if problem is not None:
            note = (f"computed again: the result of {reused_from} it would have reused is "
                    f"damaged ({problem})")
            log.warning("damaged result not reused", task=spec.task_id, source=reused_from,
                        problem=problem)
            ctx.artifacts.put_json(task_notes_key(spec.run_id, spec.step, spec.index),
                                   {"task": spec.task_id, "notes": [note]})
            return False
        for param, data in spec.staged.items():  # its task will not run to store them
            ctx.artifacts.commit_staged(spec.elements[param], data, name=spec.task_id)
        now = time.time()
        outcome = TaskOutcome(
            run_id=spec.run_id, step=spec.step, index=spec.index, attempt=1,
            status="succeeded", started_at=now, finished_at=now, output=output,
            cache_key=spec.cache_key, metrics=metrics, host=socket.gethostname(),
            data_inputs=data_inputs,
        )
        write_outcome(ctx.artifacts, outcome, reused_from=reused_from)
        self._succeeded(outcome, reused_from=reused_from)
        return True

    def _handle(self, outcome: TaskOutcome) -> None:
        spec = self.specs[(outcome.step, outcome.index)]
        if outcome.status == "succeeded":
            self._succeeded(outcome)
            return
        step = self.ctx.flow.steps[outcome.step]
        if outcome.attempt <= step.options.retries:
            log.warning(
                "task failed, retrying", task=outcome.task_id, attempt=outcome.attempt,
                error=outcome.error,
            )
            retry = attrs.evolve(spec, attempt=outcome.attempt + 1)
            self.specs[(outcome.step, outcome.index)] = retry
            wait = retry_wait(step.options, outcome.attempt)
            if wait > 0:
                due = time.monotonic() + wait
                heapq.heappush(self.delayed, (due, next(self._seq), step.options.compute, retry))
            else:
                self.computes[step.options.compute].submit(retry)
            return
        if step.options.catch:
            self._caught(outcome)
            return
        record = self._record(outcome)
        self.failed += 1
        self.failures.append(record)
        self.state[outcome.step] = "failed"
        log.error(
            "task failed", task=outcome.task_id, error=outcome.error, location=outcome.location
        )

    def _caught(self, outcome: TaskOutcome) -> None:
        """A failure in a ``catch=True`` step: its result becomes a ``Failed`` value, the
        task is recorded as ``caught`` (error and traceback kept), and the flow goes on."""
        from lamina.flow.failed import Failed

        failed = Failed(step=outcome.step, index=outcome.index, attempt=outcome.attempt,
                        error_type=outcome.error_type, message=outcome.error,
                        location=outcome.location, traceback=outcome.traceback)
        ref, _new = self.ctx.artifacts.save(
            failed, name=f"{outcome.run_id}/{outcome.step}/{outcome.index}")
        log.warning("task failed, caught", task=outcome.task_id, error=outcome.error,
                    location=outcome.location)
        self._succeeded(attrs.evolve(outcome, status="caught", output=ref))

    def _succeeded(self, outcome: TaskOutcome, reused_from: str = "") -> None:
        self._record(outcome, reused_from=reused_from)
        self.results[outcome.step][outcome.index] = outcome.output
        self.remaining[outcome.step] -= 1
        self.done += 1
        if self.remaining[outcome.step] == 0 and self.state[outcome.step] == "running":
            self._step_done(outcome.step)

    def _step_done(self, step_name: str) -> None:
        self.state[step_name] = "done"
        self._launch_ready()

    def _fail_step_before_tasks(self, step_name: str, message: str) -> None:
        step = self.ctx.flow.steps[step_name]
        now = time.time()
        record = TaskRecord(
            run_id=self.ctx.run_id, step=step_name, index=0, status="failed",
            started_at=now, finished_at=now, error=message, error_type="ForeachError",
            location=step.where, exit_reason="foreach",
        )
        self.buffer.append(record)
        self.failures.append(record)
        self.failed += 1
        self.state[step_name] = "failed"
        log.error("step cannot start", step=step_name, error=message)

    def _record(self, outcome: TaskOutcome, reused_from: str = "") -> TaskRecord:
        spec = self.specs.get((outcome.step, outcome.index))
        inputs = spec.input_keys() if spec is not None else {}
        record = TaskRecord(
            run_id=outcome.run_id,
            step=outcome.step,
            index=outcome.index,
            status=outcome.status,
            attempt=outcome.attempt,
            started_at=outcome.started_at,
            finished_at=outcome.finished_at,
            output=outcome.output,
            inputs=inputs,
            element=self.element_text.get((outcome.step, outcome.index), ""),
            error=outcome.error,
            error_type=outcome.error_type,
            location=outcome.location,
            traceback=outcome.traceback,
            exit_reason=outcome.exit_reason,
            stdout_key=outcome.stdout_key,
            stderr_key=outcome.stderr_key,
            cache_key=outcome.cache_key,
            reused_from=reused_from,
            metrics=dict(outcome.metrics),
            data_inputs=list(outcome.data_inputs),
        )
        self.buffer.append(record)
        return record

    def _maybe_flush(self) -> None:
        """Hand the records gathered so far to the writer thread (every 0.5 s or 2,000
        records): one transaction each, written while the run goes on."""
        if len(self.buffer) >= _FLUSH_SIZE or time.monotonic() - self.last_flush > _FLUSH_EVERY:
            if self.buffer:
                self.writer.submit(self.buffer)
                self.buffer = []
            self.last_flush = time.monotonic()

    def _flush(self) -> None:
        """Write every record gathered so far and wait until they are written."""
        try:
            if self.buffer:
                self.writer.submit(self.buffer)
                self.buffer = []
            self.writer.wait()
        finally:
            self.writer.close()
        self.last_flush = time.monotonic()

    def _shutdown(self, *, cancel: bool) -> None:
        for compute in self.computes.values():
            try:
                compute.shutdown(cancel=cancel)
            except Exception as err:  # keep shutting the others down
                log.warning("compute shutdown failed", error=str(err))


def split_groups(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    """``items`` (a nested step's results, outer-major) cut into one list per outer
    element: ``sizes[i]`` items for outer element ``i``."""
    out, start = [], 0
    for size in sizes:
        out.append(list(items[start:start + size]))
        start += size
    return out


def nested_address(sizes: list[int], index: int) -> str:
    """``i.j`` of the flat task ``index`` of a nested step: element ``j`` of outer ``i``."""
    start = 0
    for i, size in enumerate(sizes):
        if index < start + size:
            return f"{i}.{index - start}"
        start += size
    raise IndexError(index)


def nested_index(sizes: list[int], address: str) -> int:
    """The flat task index of the address ``i.j`` (:func:`nested_address`'s inverse)."""
    outer, _, inner = address.partition(".")
    i, j = int(outer), int(inner)
    if not (0 <= i < len(sizes) and 0 <= j < sizes[i]):
        raise IndexError(address)
    return sum(sizes[:i]) + j


def _short(value: Any) -> bool:
    return isinstance(value, int | float | str | bool) and len(repr(value)) <= 60


#: How long the text of one foreach element may get in a task's record.
SHOWN_MAX = 60


class ElementText(str):
    """The text that stands for a foreach element that is not a short scalar: shown as it
    is (its repr has no quotes), e.g. ``{'lr': 0.1, 'depth': 3}`` or ``<ndarray>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def element_text(value: Any) -> Any:
    """How a foreach element is shown in its task's record: a short scalar as itself; a
    dict, list or tuple as its repr (cut at :data:`SHOWN_MAX` characters); anything else
    as ``<TYPE>``."""
    if _short(value):
        return value
    if isinstance(value, dict | list | tuple):
        text = repr(value)
        return ElementText(text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 4] + " ...")
    return ElementText(f"<{type(value).__name__}>")
