"""The flow's DAG: built and validated before a single task starts (as a networkx graph
on demand: :attr:`FlowGraph.dag`).

Every problem is reported with the step's name and file:line, and how to fix it.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import FlowDefinitionError, ParameterError
from lamina.flow.files import is_file_annotation

if TYPE_CHECKING:
    import networkx as nx

    from lamina.flow.flow import Flow
    from lamina.flow.step import Step

_MISSING = inspect.Parameter.empty


@attrs.frozen
class Input:
    """How a step parameter is fed: the whole result of ``source`` (``value``), the
    ordered list of a foreach step's results (``list``), one element (``element``), the
    results of a nested foreach grouped by outer element, a list of lists (``groups``),
    or, in a step that fans out over the same outer elements, its own group (``group``)."""

    source: str
    kind: str  # "value" | "list" | "element" | "groups" | "group"


@attrs.frozen
class FlowParam:
    """A parameter that no step produces: set by the user, recorded with the run.
    ``help`` and ``choices`` come from a :class:`~lamina.flow.params.Param`."""

    name: str
    default: Any
    annotation: Any
    used_by: tuple[str, ...]
    help: str = ""
    choices: tuple[Any, ...] | None = None
    declared: bool = False  # given a Param: a flow parameter on purpose

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@attrs.frozen
class FlowGraph:
    """A validated flow: topological order, wiring, and resolved parameter values."""

    flow: Flow
    edges: tuple[tuple[str, str], ...]
    order: tuple[str, ...]
    inputs: Mapping[str, Mapping[str, Input]]
    step_params: Mapping[str, tuple[str, ...]]
    flow_params: Mapping[str, FlowParam]
    params: Mapping[str, Any]
    before: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def is_foreach(self, step: str) -> bool:
        return bool(self.flow.steps[step].options.foreach)

    def nest_outer(self, step: str) -> str | None:
        """The foreach step whose results a nested step (or a step fanned out over one)
        groups its tasks by, else None."""
        return nest_outer(self.flow, step)

    @property
    def dag(self) -> nx.DiGraph:
        """The flow's DAG as a networkx graph (built on demand: a run does not need
        networkx, whose import costs a tenth of a second)."""
        import networkx as nx

        dag: nx.DiGraph = nx.DiGraph()
        dag.add_nodes_from(self.order)
        dag.add_edges_from(self.edges)
        return dag

    def upstream(self, step: str) -> list[str]:
        """The steps ``step`` waits for, in the flow's order."""
        return list(self.before.get(step, ()))

    def downstream(self, step: str) -> set[str]:
        """Every step that (indirectly) waits for ``step``."""
        after: dict[str, list[str]] = {}
        for a, b in self.edges:
            after.setdefault(a, []).append(b)
        seen: set[str] = set()
        frontier = [step]
        while frontier:
            for nxt in after.get(frontier.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        return seen


def _hints(step: Step, *, extras: bool = False) -> dict[str, Any]:
    try:
        return typing.get_type_hints(step.fn, include_extras=extras)
    except Exception:  # unresolved forward references: skip type checks for this step
        return {}


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build_graph(flow: Flow, given: Mapping[str, Any], *, resolve: bool = True) -> FlowGraph:
    """Wire ``flow``'s steps by parameter name and validate everything that can be known
    before running: unknown names, cycles, missing or unknown parameters, foreach over
    something that cannot be iterated, and mismatched type annotations. ``resolve=False``
    checks the structure only (``lamina show flow.py``): parameters keep their defaults
    and a required one is not an error."""
    if not flow.steps:
        raise FlowDefinitionError(
            f"flow '{flow.name}' has no steps", hint="decorate functions with @flow.step"
        )
    edges: dict[tuple[str, str], None] = {}  # ordered, without duplicates
    inputs: dict[str, dict[str, Input]] = {}
    step_params: dict[str, tuple[str, ...]] = {}
    candidates: dict[str, list[tuple[Step, inspect.Parameter]]] = {}

    for step in flow.steps.values():
        params = step.parameters()
        names = {p.name for p in params}
        for fe in step.options.foreach:
            if fe not in flow.steps:
                raise FlowDefinitionError(
                    f"step '{step.name}' ({step.where}): foreach={fe!r} names no step"
                    f"{_suggest(fe, flow.steps)}. Steps: {', '.join(flow.steps)}",
                    hint="foreach takes the name of the step whose result to fan out over",
                )
            if fe not in names:
                raise FlowDefinitionError(
                    f"step '{step.name}' ({step.where}): foreach={fe!r} but the function "
                    f"has no parameter '{fe}' to receive each element",
                    hint=f"add a parameter named '{fe}' to {step.fn.__name__}()",
                )
        if len(set(step.options.foreach)) != len(step.options.foreach):
            raise FlowDefinitionError(
                f"step '{step.name}' ({step.where}): foreach names a step twice",
            )
        if step.options.nested and len(step.options.foreach) != 1:
            raise FlowDefinitionError(
                f"step '{step.name}' ({step.where}): nested=True needs foreach= naming "
                f"exactly one foreach step, got {len(step.options.foreach)}",
                hint="write foreach='movies', nested=True to fan out over each element of "
                "each result of the foreach step 'movies'",
            )
        wired: dict[str, Input] = {}
        own: list[str] = []
        for p in params:
            if p.name in flow.steps:
                kind = "element" if p.name in step.options.foreach else "value"
                if kind == "value" and flow.steps[p.name].options.foreach:
                    kind = "list"
                wired[p.name] = Input(p.name, kind)
                edges[(p.name, step.name)] = None
            else:
                own.append(p.name)
                candidates.setdefault(p.name, []).append((step, p))
        inputs[step.name] = wired
        step_params[step.name] = tuple(own)
        for before in step.options.after:
            if before not in flow.steps or before == step.name:
                raise FlowDefinitionError(
                    f"step '{step.name}' ({step.where}): after={before!r} names "
                    + ("the step itself" if before == step.name else
                       f"no step{_suggest(before, flow.steps)}. Steps: {', '.join(flow.steps)}"),
                    hint="after takes the names of steps that must finish first",
                )
            edges[(before, step.name)] = None

    order = _topological_order(flow, tuple(edges))
    _check_nested(flow)
    for name, wiring in inputs.items():
        for param, inp in wiring.items():
            outer = nest_outer(flow, inp.source) if inp.kind == "list" else None
            if outer is not None:
                same = fan_space(flow, name) == fan_space(flow, outer)
                wiring[param] = Input(inp.source, "group" if same else "groups")
    flow_params = _flow_params(candidates)
    _check_misspelled_inputs(flow, flow_params)
    if resolve:
        values = _resolve_params(flow, flow_params, given)
    else:
        values = {n: fp.default for n, fp in flow_params.items() if not fp.required}
    _check_types(flow, inputs)
    return FlowGraph(
        flow=flow,
        edges=tuple(edges),
        before={k: tuple(v) for k, v in _predecessors(edges, order).items()},
        order=order,
        inputs=inputs,
        step_params=step_params,
        flow_params=flow_params,
        params=values,
    )


def fan_space(flow: Flow, name: str) -> tuple[str, ...] | None:
    """What a step's task indexes count, so two steps whose index ``i`` stands for the
    same element can be matched: None for a single task; ``("over", *names)`` for a
    foreach over plain results; ``("nested", source)`` for a nested foreach over
    ``source``. A foreach over one foreach step's results counts what that step counts."""
    opts = flow.steps[name].options
    if not opts.foreach:
        return None
    if opts.nested:
        return ("nested", opts.foreach[0])
    if len(opts.foreach) == 1 and flow.steps[opts.foreach[0]].options.foreach:
        return fan_space(flow, opts.foreach[0])
    return ("over", *opts.foreach)


def nest_outer(flow: Flow, name: str) -> str | None:
    """The foreach step a nested step (or a foreach over a nested step's results) groups
    its tasks by: task ``i.j`` is element ``j`` of that step's result ``i``."""
    space = fan_space(flow, name)
    return space[1] if space is not None and space[0] == "nested" else None


def _check_nested(flow: Flow) -> None:
    for step in flow.steps.values():
        if not step.options.nested:
            continue
        source = flow.steps[step.options.foreach[0]]
        if not source.options.foreach:
            raise FlowDefinitionError(
                f"step '{step.name}' ({step.where}): nested=True over '{source.name}', which "
                f"is not a foreach step: its result is one list ({source.where})",
                hint=f"drop nested=True: foreach='{source.name}' already fans out over "
                "each element of its list",
            )
        if nest_outer(flow, source.name) is not None:
            raise FlowDefinitionError(
                f"step '{step.name}' ({step.where}): nested=True over '{source.name}', which "
                "is itself nested; a nested foreach goes two levels deep",
                hint=f"make '{source.name}' return pairs (outer, item) and fan out over "
                "them with a plain foreach, then nest once",
            )


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Edit distance of ``a`` and ``b`` counting a swap of two neighbouring letters as one
    edit (optimal string alignment), or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[-1], limit + 1)


def _typo_limit(a: str, b: str) -> int:
    """How many edits still look like a typo: none between very short names (``n`` and
    ``xs`` are different words), one up to seven letters (``featres``, but not ``scale``
    next to ``sales``), two beyond."""
    shorter = min(len(a), len(b))
    return 0 if shorter < 3 else 1 if shorter <= 7 else 2


def _check_misspelled_inputs(flow: Flow, flow_params: Mapping[str, FlowParam]) -> None:
    """A parameter with a default that is one or two letters from a step's name is almost
    always a misspelled input: as a flow parameter it would silently take its default
    instead of the step's result. Declared with ``Param`` it is a parameter on purpose."""
    for fp in flow_params.values():
        if fp.required or fp.declared:
            continue
        close = [s for s in flow.steps if 0 < edit_distance(fp.name, s) <= _typo_limit(fp.name, s)]
        if close:
            step = flow.steps[fp.used_by[0]]
            raise FlowDefinitionError(
                f"step '{step.name}' ({step.where}): parameter '{fp.name}' is no step's "
                f"name, so it would be a flow parameter that silently keeps its default "
                f"{fp.default!r}; did you mean the result of step '{close[0]}'?",
                hint=f"rename it '{close[0]}' to receive that step's result, or declare the "
                f"flow parameter on purpose: {fp.name}: Annotated[..., Param(help=...)]",
            )


def _predecessors(edges: Iterable[tuple[str, str]], order: Sequence[str]) -> dict[str, list[str]]:
    rank = {name: i for i, name in enumerate(order)}
    before: dict[str, list[str]] = {}
    for a, b in edges:
        before.setdefault(b, []).append(a)
    for names in before.values():
        names.sort(key=rank.__getitem__)
    return before


def _topological_order(flow: Flow, edges: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The steps in dependency order, ties broken by definition order (the order a
    lexicographical topological sort on the definition rank gives); a cycle is an error
    naming each step in it and where it is defined."""
    import heapq

    rank = {name: i for i, name in enumerate(flow.steps)}
    waiting = dict.fromkeys(flow.steps, 0)
    after: dict[str, list[str]] = {}
    for a, b in edges:
        waiting[b] += 1
        after.setdefault(a, []).append(b)
    ready = [rank[n] for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names = list(flow.steps)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for nxt in after.get(name, ()):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, rank[nxt])
    if len(order) < len(names):
        _report_cycle(flow, edges, {n for n, count in waiting.items() if count > 0})
    return tuple(order)


def _report_cycle(flow: Flow, edges: tuple[tuple[str, str], ...], stuck: set[str]) -> None:
    # every stuck step waits for a stuck step: walking back from one, a step repeats
    before: dict[str, list[str]] = {}
    for a, b in edges:
        if a in stuck and b in stuck:
            before.setdefault(b, []).append(a)
    path: list[str] = [min(stuck, key=list(flow.steps).index)]
    while path[-1] not in path[:-1]:
        path.append(before[path[-1]][0])
    names = list(reversed(path[path.index(path[-1]):-1]))
    first = names.index(min(names, key=list(flow.steps).index))
    names = names[first:] + names[:first]
    where = ", ".join(f"'{n}' ({flow.steps[n].where})" for n in names)
    cycle = " -> ".join([*names, names[0]])
    raise FlowDefinitionError(
        f"flow '{flow.name}' has a cycle: {cycle}; steps involved: {where}",
        hint="a step may only take results of steps that do not (indirectly) take its own",
    )


def flow_parameters(flow: Flow) -> dict[str, FlowParam]:
    """The flow's parameters (those no step produces), without checking values: what
    ``--set`` may name, with the annotation that parses it."""
    candidates: dict[str, list[tuple[Step, inspect.Parameter]]] = {}
    for step in flow.steps.values():
        for p in step.parameters():
            if p.name not in flow.steps:
                candidates.setdefault(p.name, []).append((step, p))
    return _flow_params(candidates)


def _flow_params(
    candidates: Mapping[str, list[tuple[Step, inspect.Parameter]]],
) -> dict[str, FlowParam]:
    from lamina.flow.params import param_of

    hints: dict[str, dict[str, Any]] = {}
    result: dict[str, FlowParam] = {}
    for name, uses in candidates.items():
        read = []
        for s, p in uses:
            if s.name not in hints:
                hints[s.name] = _hints(s, extras=True)
            read.append((s, *param_of(p, hints[s.name])))
        defaults = {
            (repr(default) if default is not _MISSING else "<none>"): (s, default)
            for s, _decl, default, _ann in read
            if default is not _MISSING
        }
        if len(defaults) > 1:
            listing = "; ".join(f"{s.name} ({s.where}) = {d!r}" for s, d in defaults.values())
            raise FlowDefinitionError(
                f"flow parameter '{name}' has conflicting defaults: {listing}",
                hint="give it one default (or none) in every step that takes it",
            )
        default = next(iter(defaults.values()))[1] if defaults else _MISSING
        annotation = next((ann for *_, ann in read if ann is not _MISSING), _MISSING)
        declared = [decl for _s, decl, _d, _a in read if decl is not None]
        result[name] = FlowParam(
            name=name,
            default=default,
            annotation=annotation,
            used_by=tuple(s.name for s, _ in uses),
            help=next((d.help for d in declared if d.help), ""),
            choices=next((d.choices for d in declared if d.choices is not None), None),
            declared=bool(declared),
        )
    return result


def _resolve_params(
    flow: Flow, flow_params: Mapping[str, FlowParam], given: Mapping[str, Any]
) -> dict[str, Any]:
    unknown = [k for k in given if k not in flow_params]
    if unknown:
        known = ", ".join(sorted(flow_params)) or "none"
        name = unknown[0]
        hint = (
            f"'{name}' is a step, not a parameter"
            if name in flow.steps
            else f"known parameters: {known}"
        )
        raise ParameterError(
            f"flow '{flow.name}' has no parameter '{name}'{_suggest(name, flow_params)}",
            hint=hint,
        )
    values: dict[str, Any] = {}
    for name, fp in flow_params.items():
        if name in given:
            values[name] = given[name]
            if fp.choices is not None and given[name] not in fp.choices:
                raise ParameterError(
                    f"flow '{flow.name}': parameter '{name}' = {given[name]!r} is not one of "
                    f"its choices: {', '.join(repr(c) for c in fp.choices)}",
                    hint=f"pass one of them: --set {name}={fp.choices[0]}",
                )
        elif not fp.required:
            values[name] = fp.default
        else:
            step = flow.steps[fp.used_by[0]]
            raise ParameterError(
                f"flow parameter '{name}' of step '{step.name}' ({step.where}) has no "
                "default and was not set, and no step named it exists",
                hint=f"pass --set {name}=VALUE (or flow.run({name}=...)), give it a default, "
                f"or add a step named '{name}'{_suggest(name, flow.steps)}",
            )
    return values


_NOT_ITERABLE = (int, float, complex, bool, type(None))


def _element_type(tp: Any) -> Any:
    """The element type of ``list[X]``-like annotations, else None."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, set, frozenset, Sequence, Iterable, typing.Iterable) and args:
        return args[0]
    return None


def _compatible(produced: Any, wanted: Any) -> bool:
    """Best effort: only plain classes are compared; anything generic passes."""
    if produced is _MISSING or wanted is _MISSING or wanted is Any or produced is Any:
        return True
    wanted_origin = typing.get_origin(wanted) or wanted
    produced_origin = typing.get_origin(produced) or produced
    if not isinstance(wanted_origin, type) or not isinstance(produced_origin, type):
        return True
    if wanted_origin is float and produced_origin is int:
        return True
    try:
        return issubclass(produced_origin, wanted_origin)
    except TypeError:
        return True


def _check_types(flow: Flow, inputs: Mapping[str, Mapping[str, Input]]) -> None:
    hints = {name: _hints(step) for name, step in flow.steps.items()}
    for name, wiring in inputs.items():
        step = flow.steps[name]
        for param, inp in wiring.items():
            source = flow.steps[inp.source]
            produced = hints[inp.source].get("return", _MISSING)
            wanted = hints[name].get(param, _MISSING)
            if inp.kind == "element":
                # over a foreach step's results (not nested), each result is an element
                each_result = bool(source.options.foreach) and not step.options.nested
                if (not each_result and isinstance(produced, type)
                        and issubclass(produced, _NOT_ITERABLE)):
                    raise FlowDefinitionError(
                        f"step '{name}' ({step.where}): foreach over '{inp.source}', whose "
                        f"result is annotated {produced.__name__} ({source.where}), which "
                        "cannot be iterated",
                        hint=f"make '{inp.source}' return a list, or drop foreach",
                    )
                if source.options.foreach and not step.options.nested:
                    produced_item = produced
                else:
                    produced_item = _element_type(produced) if produced is not _MISSING else None
                if produced_item is not None and not _compatible(produced_item, wanted):
                    _mismatch(flow, name, param, inp.source, produced_item, wanted, "each element of")
            elif inp.kind in ("list", "groups", "group"):
                if wanted is not _MISSING and not _compatible(list, wanted):
                    what = "a list" if inp.kind != "groups" else "a list of lists"
                    raise FlowDefinitionError(
                        f"step '{name}' ({step.where}): parameter '{param}' receives the "
                        f"results of foreach step '{inp.source}' as {what}, but is annotated "
                        f"{getattr(wanted, '__name__', wanted)}",
                        hint=f"annotate it list[...] (or iterate over '{inp.source}' with "
                        f"foreach='{inp.source}')",
                    )
            elif not _compatible(produced, wanted):
                _mismatch(flow, name, param, inp.source, produced, wanted, "the result of")


def _mismatch(
    flow: Flow, name: str, param: str, source: str, produced: Any, wanted: Any, what: str
) -> None:
    def show(tp: Any) -> str:
        return getattr(tp, "__name__", None) or str(tp)

    raise FlowDefinitionError(
        f"step '{name}' ({flow.steps[name].where}): parameter '{param}' is annotated "
        f"{show(wanted)} but {what} step '{source}' ({flow.steps[source].where}) is "
        f"annotated {show(produced)}",
        hint="fix one of the two annotations",
    )


NO_ANNOTATION = _MISSING


def parse_param_value(text: str, annotation: Any = _MISSING) -> Any:
    """Turn ``--set name=TEXT`` into a value, guided by the parameter's annotation.

    Without an annotation, JSON is tried (numbers, booleans, lists) and the raw text is
    kept otherwise.
    """
    import json

    target = annotation
    if target is _MISSING or target is Any:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if isinstance(target, str):  # postponed annotation we could not resolve
        target = {"int": int, "float": float, "bool": bool, "str": str}.get(target)
    if target is str or is_file_annotation(target):  # a File: the path as given
        return text
    if target is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean (true/false), got {text!r}")
    if target in (int, float):
        return target(text)
    return json.loads(text) if text[:1] in "[{\"" or text[:1].isdigit() else text
