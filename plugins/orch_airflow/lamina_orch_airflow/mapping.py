"""What a flow's steps and parameters become in Airflow, and what cannot be expressed.

Kept apart from the text of the DAG file so that each decision (and its error message)
is in one place and testable without Airflow.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs

from lamina.sdk import LaminaError

_MISSING_TYPES: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}

_BY_NAME = {t.__name__: t for t in _MISSING_TYPES}


@attrs.frozen
class StepTask:
    """One step as Airflow runs it.

    :param name: the step (and the Airflow task id).
    :param foreach: whether the step fans out (dynamic task mapping).
    :param upstream: steps whose tasks must finish first.
    :param retries: Airflow task retries.
    :param timeout: Airflow ``execution_timeout`` in seconds, or None.
    :param pool_slots: Airflow pool slots (from ``resources.cpu``).
    :param cpu: cores asked (for a Kubernetes pod's requests).
    :param memory: MiB asked.
    :param gpu: GPUs asked.
    """

    name: str
    foreach: bool
    upstream: tuple[str, ...]
    retries: int
    timeout: float | None
    pool_slots: int
    cpu: float | None = None
    memory: int | None = None
    gpu: int | None = None


def dag_id_for(prefix: str, flow: str) -> str:
    """The DAG id of a flow: the prefix and the flow's name, with characters Airflow does
    not accept replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{prefix}{flow}")


def step_tasks(plan: Any, options: Any, *, compute: str, on_kubernetes: bool) -> list[StepTask]:
    """Map every step's options to Airflow's, or raise :class:`LaminaError` naming the
    step, its file:line and the option Airflow cannot express."""
    flow, graph = plan.flow, plan.graph
    tasks = []
    for name in graph.order:
        step = flow.steps[name]
        opts = step.options
        where = f"step '{name}' ({step.where})"
        if opts.compute is not None and opts.compute != compute:
            raise LaminaError(
                f"{where} asks for compute={opts.compute!r}, but a flow deployed to Airflow "
                f"runs every step on the stack's compute ({compute!r})",
                hint=f"drop compute= from the step, or deploy with a stack whose compute is "
                f"{opts.compute!r}",
            )
        if opts.cache:
            raise LaminaError(
                f"{where} sets cache=True, which Airflow cannot honour: each Airflow task runs "
                "its step, it does not look up earlier results",
                hint="drop cache=True for the deployed flow (or reproduce locally with "
                "`lamina resume`, which reuses results)",
            )
        res = opts.resources
        if not on_kubernetes and (res.memory or res.gpu) and not options.ignore_resources:
            asked = ", ".join(f"{k}={v}" for k, v in (("memory", res.memory), ("gpu", res.gpu)) if v)
            raise LaminaError(
                f"{where} asks for {asked}, which Airflow cannot reserve for a local (Bash) "
                "task",
                hint="deploy with a stack whose compute is k8s (pods get the resources), or "
                "set ignore_resources = true in the stack's orchestrator options",
            )
        retries = opts.retries if opts.retries else options.retries
        tasks.append(StepTask(
            name=name,
            foreach=bool(opts.foreach),
            upstream=tuple(sorted(graph.upstream(name), key=graph.order.index)),
            retries=retries,
            timeout=opts.timeout,
            pool_slots=max(1, math.ceil(res.cpu)) if res.cpu else 1,
            cpu=res.cpu,
            memory=res.memory,
            gpu=res.gpu,
        ))
    return tasks


def _json_literal(value: Any) -> bool:
    try:
        return json.loads(json.dumps(value)) == value and not isinstance(value, tuple)
    except (TypeError, ValueError):
        return False


def param_source(plan: Any, name: str) -> str:
    """``Param(default, type=...)`` for one flow parameter, as Python source."""
    fp = plan.params[name]
    annotation = getattr(fp.annotation, "__origin__", fp.annotation)
    if isinstance(annotation, str):  # under `from __future__ import annotations`
        annotation = _BY_NAME.get(annotation, annotation)
    kind = _MISSING_TYPES.get(annotation)
    if fp.required:
        used = plan.flow.steps[fp.used_by[0]]
        description = f"required by step {used.name}"
        args = []
    else:
        if not _json_literal(fp.default):
            used = plan.flow.steps[fp.used_by[0]]
            raise LaminaError(
                f"flow parameter '{name}' of step '{used.name}' ({used.where}) has the default "
                f"{fp.default!r} ({type(fp.default).__name__}), which an Airflow param cannot "
                "hold (params are JSON values)",
                hint="give it a default that is a number, string, bool, None, list or dict",
            )
        if kind is None and fp.default is not None:
            kind = _MISSING_TYPES.get(type(fp.default))
        description = f"used by {', '.join(fp.used_by)}"
        args = [repr(fp.default)]
    if kind is not None:
        nullable = not fp.required and fp.default is None
        args.append(f"type={[kind, 'null']!r}" if nullable else f"type={kind!r}")
    args.append(f"description={description!r}")
    return f"Param({', '.join(args)})"
