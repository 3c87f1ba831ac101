"""What tracker plugins (MLflow, Weights & Biases, an in-house one) share: a finished run
flattened into params, tags and metrics, and a bounded retry around the call to the
tracker that never fails the run.

A tracker plugin implements ``lamina_after_run`` / ``lamina_on_run_error`` (and the model
registry hooks) and does its work inside :func:`call_tracker`::

    @hookimpl
    def lamina_after_run(run, stack):
        options = stack.plugin_options("my_tracker")
        call_tracker("my_tracker", lambda: push(run_summary(run, stack)), stack=stack,
               run_id=run.run_id, retries=options.retries)

Both names are in :mod:`lamina.sdk`. The decisions (metric names, where a failure is
recorded) are documented in docs/trackers.md.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

if TYPE_CHECKING:
    from lamina.records import ArtifactRef, RunRecord
    from lamina.stack import Stack

_T = TypeVar("_T")

#: The tag a run gets when a tracker could not be reached: ``tracker-failed:mlflow``.
FAILED_TAG = "tracker-failed:{name}"


@attrs.frozen
class MetricPoint:
    """One metric value a task logged (``current.log_metric``).

    :param key: ``STEP/NAME`` (``train/accuracy``): the same name logged by two steps
        stays two metrics.
    :param value: the number.
    :param step: the task's foreach index (0 for a plain step): a foreach step's values
        form one series.
    :param timestamp: when the task finished (seconds since the epoch).
    """

    key: str
    value: float
    step: int
    timestamp: float


@attrs.frozen
class RunSummary:
    """A run flattened for a tracker: what MLflow and W&B both take.

    :param run: the run's record.
    :param params: flow parameters, values as recorded.
    :param tags: the run's tags split at the first ``=`` or ``:`` (``team=growth`` ->
        ``{"team": "growth"}``; a bare tag maps to ``""``).
    :param system: lamina's own facts about the run (``lamina_run_id``, ``lamina_flow``,
        ``lamina_user``, ``lamina_namespace``, ``lamina_status``, ``lamina_code_hash``,
        ``lamina_git_commit``, ``lamina_stack``, ``lamina_resumed_from``), empty values left
        out.
    :param metrics: every value every task logged, in step order.
    :param outputs: each succeeded task's stored result, by ``(step, index)``.
    """

    run: RunRecord
    params: dict[str, Any]
    tags: dict[str, str]
    system: dict[str, str]
    metrics: list[MetricPoint]
    outputs: dict[tuple[str, int], ArtifactRef]


def _split_tag(tag: str) -> tuple[str, str]:
    for sep in ("=", ":"):
        if sep in tag:
            key, _, value = tag.partition(sep)
            return key, value
    return tag, ""


def run_summary(run: RunRecord, stack: Stack) -> RunSummary:
    """Flatten a run (its record and its tasks' records from the stack's metadata store)
    into what trackers take. Reads records only: no artifact is loaded."""
    tasks = stack.metadata.list_tasks(run.run_id)
    order = {name: i for i, name in enumerate(run.steps)}
    tasks = sorted(tasks, key=lambda t: (order.get(t.step, len(order)), t.step, t.index))
    metrics = [
        MetricPoint(f"{t.step}/{name}", float(value), t.index,
                    t.finished_at or run.finished_at or run.started_at)
        for t in tasks for name, value in sorted(t.metrics.items())
    ]
    outputs = {(t.step, t.index): t.output for t in tasks
               if t.status == "succeeded" and t.output is not None}
    system = {
        "lamina_run_id": run.run_id, "lamina_flow": run.flow, "lamina_user": run.user,
        "lamina_namespace": run.namespace, "lamina_status": run.status,
        "lamina_code_hash": run.code_hash, "lamina_git_commit": run.git_commit,
        "lamina_stack": run.stack, "lamina_resumed_from": run.resumed_from,
    }
    return RunSummary(
        run=run, params=dict(run.params),
        tags=dict(_split_tag(t) for t in run.tags if not t.startswith("tracker-failed:")),
        system={k: v for k, v in system.items() if v},
        metrics=metrics, outputs=outputs,
    )


def call_tracker(name: str, call: Callable[[], _T], *, stack: Stack | None = None,
           run_id: str = "", retries: int = 2, wait: float = 0.5,
           what: str = "") -> _T | None:
    """Call a tracker, retrying a failed call ``retries`` more times with a doubling wait
    (at most 5 s each); never raises an ``Exception``.

    When every attempt failed: a :class:`lamina.errors.TrackerWarning` naming the tracker
    and the last error, and, when ``run_id`` is given, the tag ``tracker-failed:NAME`` on
    that run (``lamina runs --tag tracker-failed:mlflow`` lists what to mirror again).
    After a success, the failure tag of that run (from this call or an earlier one) is
    removed.

    :param name: the tracker's plugin name (``tracking_mlflow``).
    :param call: the work; its result is returned.
    :param what: what is mirrored, for the warning (``run churn/2026...``).
    :return: ``call()``'s result, or None when it failed.
    """
    from lamina.errors import TrackerWarning

    tag = FAILED_TAG.format(name=name.removeprefix("tracking_"))
    error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(wait * 2 ** (attempt - 1), 5.0))
        try:
            result = call()
        except Exception as exc:
            error = exc
            continue
        if stack is not None and run_id:
            _clear(stack, run_id, tag)
        return result
    assert error is not None
    text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
    if stack is not None:  # a ${VAR} secret of the config (a token in a URL) is not shown
        text = stack.redact(text)
    warnings.warn(
        f"{name}: could not mirror {what or 'to the tracker'} after {retries + 1} attempt(s) "
        f"({text}); the run is not affected"
        + (f", it is tagged {tag}" if stack is not None and run_id else ""),
        TrackerWarning, stacklevel=2)
    if stack is not None and run_id:
        _tags(stack, run_id, tag, add=True)
    return None


def _clear(stack: Stack, run_id: str, tag: str) -> None:
    try:
        tagged = tag in stack.metadata.get_run(run_id).tags
    except Exception:
        return
    if tagged:
        _tags(stack, run_id, tag, add=False)


def _tags(stack: Stack, run_id: str, tag: str, *, add: bool) -> None:
    try:
        if add:
            stack.metadata.add_tags(run_id, [tag])
        else:
            stack.metadata.remove_tags(run_id, [tag])
    except Exception as exc:  # the metadata store itself is down: the warning said enough
        warnings.warn(f"could not tag run {run_id} with {tag}: {exc}", stacklevel=3)
