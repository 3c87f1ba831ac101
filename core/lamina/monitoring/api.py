"""Monitoring as a flow: launch it, find its report, write the flow into a project."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.client import Run
    from lamina.stack import Stack

TEMPLATE = Path(__file__).with_name("template.py")


def monitor(
    target: str,
    *,
    stack: Stack | str | None = None,
    reference: str = "",
    current: str = "",
    start: str = "",
    end: str = "",
    window: str = "",
    prediction: str = "",
    tags: tuple[str, ...] = (),
) -> Run:
    """Run the monitoring flow for a deployment (its prediction log over a window) or a
    model (``FLOW/RUN/STEP``, compared with ``current``), and return the finished run.

    The run is versioned like any other: ``run["summary"].value`` is the JSON summary,
    ``run["html"].value`` the HTML report, ``run["alerts"].value`` the alerts raised.

    :param reference: a Parquet/Arrow file, ``RUN/STEP`` or ``log:DEPLOYMENT``; default: the
        training set of the model (for a deployment, of the model that served most requests).
    :param current: like ``reference``; default: the deployment's prediction log.
    :param start: ISO time (UTC when naive); default ``end - window``.
    :param end: ISO time; default now.
    :param window: ``30m``, ``12h``, ``1d``...; default the stack's monitoring ``window``.
    :param prediction: the ``out.*`` column holding the prediction, when there are several.

    On a project's branch (``stack.branch``) a deployment's name (``target``, and
    ``log:DEPLOYMENT`` sources) means the branch's deployment (``churn-alice-NAME``),
    whose prediction log is the branch's own; the monitoring run is the branch's too.
    """
    from lamina.monitoring.template import flow
    from lamina.stack import resolve_stack

    if not target:
        raise LaminaError("monitor: no target given",
                          hint="lamina monitor DEPLOYMENT, or lamina monitor FLOW/RUN/STEP")
    resolved = resolve_stack(stack)
    name = stack if isinstance(stack, str) else (resolved.name if stack is not None else "")
    target = for_branch(resolved, target)
    reference, current = for_branch(resolved, reference), for_branch(resolved, current)
    return flow.run(
        stack=resolved, tags=("monitoring", f"monitor:{target}", *tags),
        target=target, reference=reference, current=current, start=start, end=end,
        window=window, prediction=prediction, stack_name=name or "",
    )


def for_branch(stack: Stack, source: str) -> str:
    """A deployment name (or a ``log:DEPLOYMENT`` source) as the stack's branch names it
    (``churn-alice-NAME``, unchanged without a project); a model reference
    (``FLOW/RUN/STEP``) or a file is returned as it is."""
    from lamina.monitoring.sources import LOG_PREFIX
    from lamina.serving.deployment import qualified_name

    if source.startswith(LOG_PREFIX):
        return LOG_PREFIX + qualified_name(stack, source[len(LOG_PREFIX):])
    if not source or "/" in source or "." in source:
        return source
    return qualified_name(stack, source)


def report_file_name(run: Run) -> str:
    """The report's file name: the run id, qualified by the run's project branch
    (``churn.alice.RUN.html``), so each branch's reports sit apart."""
    from lamina.namespaces import Branch

    record = run.record
    branch = Branch(user=record.user or "", project=getattr(record, "project", "") or "",
                    name=getattr(record, "branch", "") or "")
    return f"{branch.qualify(run.id, '.')}.html"


def report_path(run: Run | str, *, stack: Stack | str | None = None,
                directory: str | Path | None = None) -> Path:
    """The HTML report of a monitoring run as a file (written from the run's ``html``
    artifact on first use): ``<project>/.lamina/reports/<RUN>.html`` by default
    (``churn.alice.<RUN>.html`` for a run of a project's branch)."""
    from lamina.client import Client

    if isinstance(run, str):
        run = Client(stack).run(run)
    if "html" not in run.steps:
        raise LaminaError(f"run {run.id} (flow {run.flow!r}) is not a monitoring run: it has "
                          "no 'html' step", hint="lamina runs --tag monitoring")
    html = run["html"].value
    folder = Path(directory) if directory else run.client.stack.project_root / ".lamina" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / report_file_name(run)
    if not path.exists() or path.read_text(encoding="utf-8") != html:
        tmp = path.with_suffix(".html.tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    return path


def write_flow(target: str, path: str | Path, *, name: str | None = None) -> Path:
    """Write the monitoring flow for ``target`` into a project file (to edit, version and
    schedule): the template with its target and flow name filled in."""
    path = Path(path)
    if path.exists():
        raise LaminaError(f"{path} already exists", hint="choose another file or remove it")
    flow_name = name or "monitor-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", target).strip("-")
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('TARGET = ""', f"TARGET = {target!r}", 1)
    text = text.replace('FLOW_NAME = "monitoring"', f"FLOW_NAME = {flow_name!r}", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
