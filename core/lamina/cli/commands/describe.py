"""What a flow file is, without running it: ``lamina show flow.py`` (its steps, edges,
foreach, options and parameters) and ``lamina run flow.py --help`` (its parameters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.flow.loader import split_flow_ref


def is_flow_file(ref: str) -> bool:
    """Whether a command's argument names a flow file (``flow.py``, ``flow.py:var``)
    rather than a run reference."""
    path, _name = split_flow_ref(ref)
    return path.endswith(".py") and Path(path).is_file()


def _type_name(annotation: Any) -> str:
    from lamina.flow.graph import NO_ANNOTATION

    if annotation is NO_ANNOTATION:
        return "any"
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def parameters_text(flow: Any) -> str:
    """The flow's parameters, one per line: name, type, default (or required), choices,
    help, and the steps that take it."""
    from lamina.flow.graph import flow_parameters

    params = flow_parameters(flow)
    if not params:
        return f"flow {flow.name} has no parameters"
    rows = []
    for fp in params.values():
        default = "required" if fp.required else f"default {fp.default!r}"
        extra = f"; one of {', '.join(repr(c) for c in fp.choices)}" if fp.choices else ""
        rows.append((f"--set {fp.name}=", _type_name(fp.annotation), default + extra,
                     fp.help, ", ".join(fp.used_by)))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"parameters of flow {flow.name}:"]
    for name, kind, default, help_text, used in rows:
        line = f"  {name:<{width[0]}}  {kind:<{width[1]}}  {default:<{width[2]}}"
        lines.append(line + (f"  {help_text}" if help_text else "") + f"  (used by {used})")
    return "\n".join(lines)


def _options(step: Any, flow: Any = None) -> str:
    o = step.options
    parts = []
    if o.retries:
        parts.append(f"retries {o.retries}")
    if getattr(o, "retry_delay", 0):
        backoff = getattr(o, "retry_backoff", 1.0)
        parts.append(f"retry delay {o.retry_delay:g}s"
                     + (f" x{backoff:g} each retry" if backoff != 1 else ""))
    if o.timeout:
        parts.append(f"timeout {o.timeout:g}s")
    r = o.resources
    for what, value in (("cpu", r.cpu), ("memory", r.memory), ("gpu", r.gpu)):
        if value:
            parts.append(f"{what} {value}")
    if o.cache is not None:
        parts.append("cache" if o.cache else "no cache")
    if o.compute:
        parts.append(f"compute {o.compute}")
    if getattr(o, "catch", False):
        parts.append("catch")
    env = flow.step_env(step.name) if flow is not None else None
    if env is not None:
        parts.append(env.describe())
    return ", ".join(parts)


def graph_text(flow: Any) -> str:
    """The flow's DAG in topological order: each step, where it is defined, its options,
    what it receives from which step, and the parameters it takes."""
    from lamina.flow.graph import build_graph

    graph = build_graph(flow, {}, resolve=False)
    kinds = {"value": "the result", "list": "the results, as a list",
             "element": "one element per task",
             "groups": "the results grouped by outer element, as a list of lists",
             "group": "the results of this task's outer element, as a list"}
    lines = [f"flow {flow.name}: {len(graph.order)} steps"
             + (f" - {flow.description}" if flow.description else "")]
    for name in graph.order:
        step = flow.steps[name]
        head = f"  {name}  ({step.where})"
        if step.options.foreach:
            head += f"  foreach {' x '.join(step.options.foreach)}"
            if step.options.nested:
                head += " (nested: each element of each result)"
        options = _options(step, flow)
        lines.append(head + (f"  [{options}]" if options else ""))
        for param, inp in graph.inputs[name].items():
            lines.append(f"      <- {inp.source}: {kinds[inp.kind]}"
                         + (f" (as {param})" if param != inp.source else ""))
        for before in step.options.after:
            lines.append(f"      <- {before}: finished first (after=, no result passed)")
        if graph.step_params[name]:
            lines.append(f"      parameters: {', '.join(graph.step_params[name])}")
    lines.append("")
    lines.append(parameters_text(flow))
    return "\n".join(lines)
