"""``lamina run`` and ``lamina resume``."""

from __future__ import annotations

import argparse
from typing import Any


def parse_sets(flow: Any, pairs: list[str]) -> dict[str, Any]:
    """``--set NAME=VALUE`` pairs parsed by each parameter's annotation."""
    from lamina.errors import ParameterError
    from lamina.flow.graph import NO_ANNOTATION, flow_parameters, parse_param_value

    known = flow_parameters(flow) if flow is not None else {}
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"--set {pair!r} is not NAME=VALUE", hint="--set alpha=0.3")
        fp = known.get(name)
        annotation = fp.annotation if fp else NO_ANNOTATION
        try:
            values[name] = parse_param_value(text, annotation)
        except (ValueError, TypeError) as err:
            shown = getattr(annotation, "__name__", annotation)
            raise ParameterError(
                f"--set {name}={text}: {err}",
                hint=f"parameter '{name}' is annotated {shown}",
            ) from None
    return values


def _run_and_show(start: Any) -> int:
    """Run, then print the run. A failed run's report already names each failed task,
    where and why, and the ``lamina resume`` fix: the error is not printed a second time,
    the exit status is 1."""
    from lamina.cli.commands.inspect import print_run
    from lamina.errors import LaminaError, RunFailedError

    try:
        run = start()
    except RunFailedError as err:
        if err.run is None:
            raise
        print_run(err.run)
        return 1
    except LaminaError as err:  # a backend failed under the run: its summary, then the cause
        ended = getattr(err, "lamina_run", None)
        if ended is not None:
            print_run(ended)
        raise
    print_run(run)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.flow.loader import load_flow_file

    flow = load_flow_file(args.flow)
    params = parse_sets(flow, args.set or [])
    stack = load_stack_from_args(args)
    return _run_and_show(
        lambda: flow.run(stack=stack, tags=args.tag or (), cache=args.cache, **params)
    )


def cmd_resume(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.flow.loader import load_flow_file
    from lamina.runtime.launch import resume

    stack = load_stack_from_args(args)
    flow = load_flow_file(args.flow) if args.flow else None
    params = parse_sets(flow, args.set or [])
    return _run_and_show(
        lambda: resume(
            args.run, stack=stack, flow=flow, tags=tuple(args.tag or ()),
            cache=not args.no_cache, **params,
        )
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a flow on the stack", description="Run a flow file.")
    p.add_argument("flow", help="FLOW.py (or FLOW.py:variable when the file holds several flows)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="set a flow parameter")
    p.add_argument("--tag", action="append", metavar="TAG", help="label the run (repeatable)")
    p.add_argument("--cache", action="store_true", help="reuse results of identical earlier tasks")
    p.set_defaults(handler=cmd_run)

    r = subparsers.add_parser(
        "resume", help="rerun what failed in a run, reusing what succeeded",
        description="Start a new run that reuses every successful task of RUN whose code, "
        "inputs and parameters are unchanged, and runs the rest.",
    )
    r.add_argument("run", help="the run to resume: its id, a unique prefix of it, latest (the "
                   "newest run) or FLOW/latest (the flow's newest successful run)")
    r.add_argument("--flow", help="the flow file to use (default: the one the run was launched from)")
    r.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a flow parameter")
    r.add_argument("--tag", action="append", metavar="TAG", help="label the new run (repeatable)")
    r.add_argument("--no-cache", action="store_true", help="do not reuse results of other runs")
    r.set_defaults(handler=cmd_resume)
