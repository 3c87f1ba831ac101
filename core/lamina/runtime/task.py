"""Execute one task: load inputs by reference, call the step, store the result and the
outcome. The same code runs in a local worker and in ``python -m lamina task``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.cards.context import begin_task_card, end_task_card
from lamina.cards.store import save_task_card
from lamina.records import ArtifactRef, TaskOutcome, TaskSpec
from lamina.runtime import current as current_module
from lamina.runtime.layout import task_attempt_key, task_record_key

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore

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

    def write(self, text: str) -> int:
        self.buffer_text.write(text)
        if self.echo is not None:
            self.echo.write(text)
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()


def load_inputs(spec: TaskSpec, artifacts: ArtifactStore) -> dict[str, Any]:
    """Turn the spec's references into values: one per input, a list for a foreach
    upstream, the element for each foreach name, and the flow parameters."""
    kwargs: dict[str, Any] = dict(spec.params)
    for param, ref in spec.inputs.items():
        if isinstance(ref, list):
            kwargs[param] = [
                artifacts.load(r, name=f"{spec.run_id}/{param}/{i}") for i, r in enumerate(ref)
            ]
        else:
            kwargs[param] = artifacts.load(ref, name=f"{spec.run_id}/{param}")
    for param, ref in spec.elements.items():
        kwargs[param] = artifacts.load(ref, name=f"{spec.run_id}/{param} (foreach element)")
    return kwargs


def execute_task(
    spec: TaskSpec,
    fn: Callable[..., Any],
    artifacts: ArtifactStore,
    hooks: Any = None,
    *,
    echo_output: bool = False,
) -> TaskOutcome:
    """Run ``fn`` for ``spec`` and record the outcome in the datastore. Never raises for a
    failure of the step: the failure is the outcome."""
    started = time.time()
    out, err_stream = _Tee(sys.stdout if echo_output else None), _Tee(sys.stderr if echo_output else None)
    output: ArtifactRef | None = None
    failure: BaseException | None = None
    current_module.enter_task(spec.run_id, spec.flow, spec.step, spec.index, spec.attempt)
    card_token, value = begin_task_card(), None  # the task's card (lamina.cards)
    try:
        if hooks is not None:
            hooks.lamina_before_task(spec=spec)
        kwargs = load_inputs(spec, artifacts)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err_stream):
            value = fn(**kwargs)
        output, _ = artifacts.save(value, name=spec.task_id)
    except Exception as exc:
        failure = exc
    finally:
        metrics = current_module.leave_task()
        card = end_task_card(card_token)
    stdout_key = artifacts.put_bytes(out.buffer_text.getvalue().encode()) if out.buffer_text.tell() else ""
    stderr_text = err_stream.buffer_text.getvalue()
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
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    save_task_card(artifacts, spec, card, value)
    if failure is not None:  # kept for its logs: the task's record holds the last attempt only
        artifacts.put_json(task_attempt_key(spec.run_id, spec.step, spec.index, spec.attempt),
                           outcome.to_dict())
    write_outcome(artifacts, outcome)
    if hooks is not None:
        if failure is None:
            hooks.lamina_after_task(spec=spec, outcome=outcome)
        else:
            hooks.lamina_on_task_error(spec=spec, outcome=outcome, error=failure)
    return outcome


def write_outcome(artifacts: ArtifactStore, outcome: TaskOutcome, **extra: Any) -> None:
    """Store a task's outcome record (atomically) where resume and remote readers find it."""
    data = outcome.to_dict()
    data.update(extra)
    artifacts.put_json(task_record_key(outcome.run_id, outcome.step, outcome.index), data)


def read_outcome(artifacts: ArtifactStore, run_id: str, step: str, index: int) -> dict | None:
    return artifacts.get_json(task_record_key(run_id, step, index))


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, default=str).encode()
