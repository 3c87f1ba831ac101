"""Execute one task: load inputs by reference, call the step, store the result and the
outcome. The same code runs in a local worker and in ``python -m lamina task``."""

from __future__ import annotations

import contextvars
import io
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.cards.context import begin_task_card, end_task_card
from lamina.cards.store import save_task_card
from lamina.errors import ImmutableRunError
from lamina.flow.files import File, is_file_param
from lamina.records import ArtifactRef, TaskOutcome, TaskSpec
from lamina.runtime import current as current_module
from lamina.runtime.layout import task_attempt_key, task_record_key
from lamina.runtime.livelogs import start_live_log, stop_live_log

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.stack import Stack

_LAMINA_DIR = str(Path(__file__).resolve().parents[1])


#: Folders this process imported a run's code snapshot into -> the folder the run was
#: launched from. A remote task runs a temporary copy of the user's files; its errors
#: name the files the user has (:func:`register_code_root`).
_CODE_ROOTS: dict[str, str] = {}


def register_code_root(snapshot_root: str, original_root: str) -> None:
    """Report errors in files under ``snapshot_root`` as under ``original_root``."""
    if snapshot_root and original_root and snapshot_root != original_root:
        _CODE_ROOTS[snapshot_root.rstrip(os.sep) + os.sep] = original_root.rstrip(os.sep) + os.sep


def _user_path(text: str) -> str:
    for snapshot, original in _CODE_ROOTS.items():
        text = text.replace(snapshot, original)
    return text


def user_location(tb: Any) -> str:
    """file:line of the innermost frame outside lamina and installed packages (the user's
    code), or of the innermost frame if there is none."""
    frames = traceback.extract_tb(tb)
    if not frames:
        return ""
    chosen = frames[-1]
    for frame in reversed(frames):
        name = frame.filename
        if name.startswith(_LAMINA_DIR) or "site-packages" in name or name.startswith("<frozen"):
            continue
        chosen = frame
        break
    return _user_path(f"{chosen.filename}:{chosen.lineno}")


def format_user_traceback(err: BaseException) -> str:
    """The traceback without lamina's own frames, so the user sees their code first."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_LAMINA_DIR):
        tb = tb.tb_next
    return _user_path("".join(traceback.format_exception(type(err), err, tb or err.__traceback__)))


class _Tee(io.TextIOBase):
    """Collects what a step prints (and forwards it when ``echo`` is set)."""

    def __init__(self, echo: Any | None) -> None:
        self.buffer_text = io.StringIO()
        self.echo = echo
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.buffer_text.write(text)
        if self.echo is not None:
            self.echo.write(text)
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()

    def text(self) -> str:
        with self._lock:
            return self.buffer_text.getvalue()


class _Dispatch(io.TextIOBase):
    """Installed as ``sys.stdout`` (``sys.stderr``) while tasks run: a write goes to the
    capture of the task running in the writer's context (:mod:`lamina.runtime.current`),
    and outside a task to the stream it replaced. ``contextlib.redirect_stdout`` would
    swap the stream for the whole process, mixing the output of two concurrent tasks."""

    def __init__(self, real: Any, which: str) -> None:
        self.real = real
        self.which = which

    def _capture(self) -> _Tee | None:
        state = current_module.task_state()
        return getattr(state, self.which, None) if state is not None else None

    def write(self, text: str) -> int:
        tee = self._capture()
        if tee is not None:
            return tee.write(text)
        return int(self.real.write(text) or 0)

    def flush(self) -> None:
        tee = self._capture()
        if tee is not None:
            tee.flush()
        else:
            self.real.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False if self._capture() is not None else bool(self.real.isatty())

    def fileno(self) -> int:
        if self._capture() is not None:
            raise io.UnsupportedOperation("a task's captured output has no file descriptor")
        return int(self.real.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.real, "errors", None)

    def __getattr__(self, name: str) -> Any:  # buffer, mode, name... of the real stream
        if self._capture() is not None:
            raise AttributeError(f"a task's captured {self.which} has no attribute {name!r}")
        return getattr(self.real, name)


_CAPTURE_LOCK = threading.Lock()
_capturing = 0


def _install_capture() -> None:
    """Put the dispatchers in place (once, however many tasks run at once)."""
    global _capturing
    with _CAPTURE_LOCK:
        _capturing += 1
        if not isinstance(sys.stdout, _Dispatch):
            sys.stdout = _Dispatch(sys.stdout, "stdout")
        if not isinstance(sys.stderr, _Dispatch):
            sys.stderr = _Dispatch(sys.stderr, "stderr")


def _remove_capture() -> None:
    """Give the streams back when the last running task ended (unless someone replaced
    them meanwhile: then theirs stays)."""
    global _capturing
    with _CAPTURE_LOCK:
        _capturing -= 1
        if _capturing:
            return
        if isinstance(sys.stdout, _Dispatch):
            sys.stdout = sys.stdout.real
        if isinstance(sys.stderr, _Dispatch):
            sys.stderr = sys.stderr.real


def _load_refs(artifacts: ArtifactStore, ref: Any, name: str) -> Any:
    """A reference's value; a list (of lists, a nested foreach's groups) of values."""
    if isinstance(ref, list):
        return [_load_refs(artifacts, r, f"{name}/{i}") for i, r in enumerate(ref)]
    return artifacts.load(ref, name=name)


def load_inputs(spec: TaskSpec, artifacts: ArtifactStore) -> dict[str, Any]:
    """Turn the spec's references into values: one per input, a list for a foreach
    upstream, the element for each foreach name, and the flow parameters."""
    for param, data in spec.staged.items():  # elements the scheduler left to the task
        artifacts.commit_staged(spec.elements[param], data, name=f"{spec.run_id}/{param}")
    kwargs: dict[str, Any] = {
        name: File.stored(value) if is_file_param(value) else value
        for name, value in spec.params.items()
    }
    for param, ref in spec.inputs.items():
        kwargs[param] = _load_refs(artifacts, ref, f"{spec.run_id}/{param}")
    for param, ref in spec.elements.items():
        kwargs[param] = artifacts.load(ref, name=f"{spec.run_id}/{param} (foreach element)",
                                       held=spec.staged.get(param))
    return kwargs


def execute_task(
    spec: TaskSpec,
    fn: Callable[..., Any],
    stack: Stack,
    *,
    artifacts: ArtifactStore | None = None,
    echo_output: bool = False,
) -> TaskOutcome:
    """Run ``fn`` for ``spec`` and record the outcome in the datastore. Never raises for a
    failure of the step: the failure is the outcome.

    The task runs in a copy of the caller's :mod:`contextvars` context, so
    ``lamina.current``, the captured output and whatever a task hook sets in a context
    variable are the task's own, even when several tasks run at once in one process.

    :param stack: the stack the task runs on: its hooks are called, and task hooks get it
        in their ``context`` (:class:`lamina.runtime.context.TaskContext`).
    :param artifacts: the artifact store (default: ``stack.artifacts``).
    :param echo_output: also write what the step prints to this process's streams.
    """
    store = artifacts if artifacts is not None else stack.artifacts
    return contextvars.copy_context().run(_execute, spec, fn, store, stack, echo_output)


def _execute(
    spec: TaskSpec,
    fn: Callable[..., Any],
    artifacts: ArtifactStore,
    stack: Stack,
    echo_output: bool,
) -> TaskOutcome:
    from lamina.runtime.context import TaskContext

    hooks = stack.hook
    context = TaskContext(stack=stack, spec=spec, artifacts=artifacts)
    started = time.time()
    real_out, real_err = _real(sys.stdout), _real(sys.stderr)
    out, err_stream = _Tee(real_out if echo_output else None), _Tee(real_err if echo_output else None)
    output: ArtifactRef | None = None
    failure: BaseException | None = None
    token = current_module.enter_task(
        spec.run_id, spec.flow, spec.step, spec.index, spec.attempt, context=context
    )
    state = current_module.task_state(fallback=False)
    card_token, value = begin_task_card(), None  # the task's card (lamina.cards)
    try:
        hooks.lamina_before_task(spec=spec, context=context)
        kwargs = load_inputs(spec, artifacts)
        assert state is not None
        state.stdout, state.stderr = out, err_stream
        _install_capture()
        live = start_live_log(artifacts, spec.run_id, spec.step, spec.index, spec.attempt,
                              out, err_stream)
        try:
            value = fn(**kwargs)
        finally:
            stop_live_log(live)
            state.stdout = state.stderr = None
            _remove_capture()
        output, _ = artifacts.save(value, name=spec.task_id)
        if state.registrations:
            _register_output(stack, spec, output, state.registrations)
    except Exception as exc:
        failure = exc
    finally:
        metrics = current_module.leave_task(token)
        card = end_task_card(card_token)
    out_text = out.text()
    stdout_key = artifacts.put_bytes(out_text.encode()) if out_text else ""
    stderr_text = err_stream.text()
    if failure is not None:
        stderr_text += format_user_traceback(failure)
    stderr_key = artifacts.put_bytes(stderr_text.encode()) if stderr_text else ""
    outcome = TaskOutcome(
        run_id=spec.run_id,
        step=spec.step,
        index=spec.index,
        attempt=spec.attempt,
        status="failed" if failure else "succeeded",
        started_at=started,
        finished_at=time.time(),
        output=output,
        error=f"{type(failure).__name__}: {failure}" if failure else "",
        error_type=type(failure).__name__ if failure else "",
        location=user_location(failure.__traceback__) if failure else "",
        traceback=format_user_traceback(failure) if failure else "",
        exit_reason="exception" if failure else "",
        stdout_key=stdout_key,
        stderr_key=stderr_key,
        cache_key=spec.cache_key,
        metrics=metrics,
        host=_host(),
        pid=os.getpid(),
        data_inputs=[read.to_dict() for read in (state.data_inputs if state else ())],
    )
    save_task_card(artifacts, spec, card, value)
    if failure is not None:  # kept for its logs: the task's record holds the last attempt only
        artifacts.put_json(task_attempt_key(spec.run_id, spec.step, spec.index, spec.attempt),
                           outcome.to_dict())
    write_outcome(artifacts, outcome)
    if failure is None:
        hooks.lamina_after_task(spec=spec, outcome=outcome, context=context)
    else:
        hooks.lamina_on_task_error(spec=spec, outcome=outcome, error=failure, context=context)
    return outcome


def _register_output(stack: Stack, spec: TaskSpec, output: ArtifactRef,
                     registrations: list[tuple[str, dict[str, Any]]]) -> None:
    """Register the step's stored output under each name ``current.register_model`` was
    given (lamina.registry), in the run's namespace."""
    from lamina.registry import register_ref

    ref = f"{spec.flow}/{spec.run_id}/{spec.step}"
    for name, metadata in registrations:
        register_ref(stack, name, ref, spec.run_id, {
            "artifact": output.key, "type": output.type, "serializer": output.serializer,
            **metadata})


_HOST: list[str] = []


def _host() -> str:
    """This machine's name, asked once per process (it is in every task's outcome)."""
    if not _HOST:
        _HOST.append(socket.gethostname())
    return _HOST[0]


def _real(stream: Any) -> Any:
    """The stream under the dispatcher, if it is installed."""
    return stream.real if isinstance(stream, _Dispatch) else stream


def write_outcome(artifacts: ArtifactStore, outcome: TaskOutcome, **extra: Any) -> None:
    """Store a task's outcome record (atomically) where resume and remote readers find it.

    The first record is written exclusively; a later attempt replaces a failed record, but
    a succeeded record is final: nothing rewrites it.

    :raises lamina.errors.ImmutableRunError: the task's record says it succeeded already.
    """
    data = outcome.to_dict()
    data.update(extra)
    key = task_record_key(outcome.run_id, outcome.step, outcome.index)
    if artifacts.put_json(key, data, exclusive=True):
        return
    check_not_finished(read_outcome(artifacts, outcome.run_id, outcome.step, outcome.index),
                       outcome.task_id)
    artifacts.put_json(key, data)


def record_failure(artifacts: ArtifactStore, outcome: TaskOutcome) -> TaskOutcome:
    """Record a failure the engine saw (a worker died, a timeout, a job failed) and return
    it; when the task's record already says it succeeded (it finished just before), that
    recorded outcome is the truth and is returned instead."""
    try:
        write_outcome(artifacts, outcome)
    except ImmutableRunError:
        done = read_outcome(artifacts, outcome.run_id, outcome.step, outcome.index)
        assert done is not None
        return TaskOutcome.from_dict(done)
    return outcome


def check_not_finished(record: Mapping[str, Any] | None, task_id: str) -> None:
    """Refuse to run or record a task whose record says it succeeded.

    :raises lamina.errors.ImmutableRunError: it did; the message says when and how to get
        a new result (a new run, or ``lamina resume``).
    """
    if not record or record.get("status") != "succeeded":
        return
    run_id = task_id.split("/", 1)[0]
    raise ImmutableRunError(
        f"task {task_id} already succeeded (attempt {record.get('attempt', '?')}); a "
        "finished task's record is never rewritten",
        hint=f"lamina show {task_id} shows its result; to compute it again start a new run "
        f"(lamina resume {run_id} reruns what failed)",
    )


def read_outcome(artifacts: ArtifactStore, run_id: str, step: str, index: int) -> dict | None:
    return artifacts.get_json(task_record_key(run_id, step, index))


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, default=str).encode()
