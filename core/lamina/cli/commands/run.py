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

    if args.help or not args.flow:
        # `lamina run flow.py --help`: the command's options, then the flow's parameters
        print(args.parser.format_help().rstrip())
        if args.flow:
            from lamina.cli.commands.describe import parameters_text

            print()
            print(parameters_text(load_flow_file(args.flow)))
            return 0
        if args.help:
            return 0
        from lamina.errors import LaminaError

        raise LaminaError("lamina run needs a flow file", hint="lamina run flow.py")
    flow = load_flow_file(args.flow)
    params = parse_sets(flow, args.set or [])
    stack = load_stack_from_args(args, project=flow.project or None)
    return _run_and_show(
        lambda: flow.run(stack=stack, tags=args.tag or (), cache=args.cache, echo=args.echo,
                         **params)
    )


def typed_like_recorded(values: dict[str, Any], recorded: dict[str, Any],
                        flow: Any) -> dict[str, Any]:
    """``--set`` values of parameters the flow does not annotate, typed like the value the
    run recorded: ``delay=0`` stays ``0.0`` for a parameter recorded as a float."""
    from lamina.flow.graph import NO_ANNOTATION, flow_parameters

    known = flow_parameters(flow) if flow is not None else {}
    typed = dict(values)
    for name, value in values.items():
        fp = known.get(name)
        if fp is not None and fp.annotation is not NO_ANNOTATION:
            continue
        before = recorded.get(name)
        if isinstance(before, float) and isinstance(value, int) and not isinstance(value, bool):
            typed[name] = float(value)
    return typed


def cmd_resume(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.flow.loader import load_flow_file
    from lamina.runtime.launch import resume, resume_flow
    from lamina.runtime.pull import open_origin
    from lamina.stack import Stack

    stack = load_stack_from_args(args)
    origin = stack
    if args.origin:
        origin = Stack.load(args.origin, config_file=getattr(args, "config", None),
                            plugins=stack.plugins)
    # latest / FLOW/latest: yours on this stack, anyone's on another (--from) stack
    found = open_origin(args.run, origin,
                        namespace=None if args.origin else stack.branch.namespace)
    if args.flow:
        flow = load_flow_file(args.flow)
    else:  # typed --set values need the flow's annotations: load it before parsing
        flow = resume_flow(found, stack, snapshot=args.snapshot)
    params = typed_like_recorded(parse_sets(flow, args.set or []), found.record.params, flow)
    return _run_and_show(
        lambda: resume(
            found.record.run_id, stack=stack, origin=origin if args.origin else None, flow=flow,
            tags=tuple(args.tag or ()), cache=not args.no_cache, echo=args.echo, **params,
        )
    )


def cmd_pull(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from lamina.cli.commands.inspect import _console
    from lamina.cli.main import load_stack_from_args
    from lamina.runtime.pull import pull_run
    from lamina.stack import Stack

    target = load_stack_from_args(args)
    origin = Stack.load(args.origin, config_file=getattr(args, "config", None),
                        plugins=target.plugins)
    report = pull_run(args.run, origin=origin, stack=target)
    _console().print(escape(f"{report} (from stack '{origin.name}' into '{target.name}')"))
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_branch_arguments

    p = subparsers.add_parser("run", help="run a flow on the stack", description="Run a flow file.",
                              add_help=False)
    p.add_argument("-h", "--help", action="store_true",
                   help="show this help; with FLOW.py, also the flow's parameters")
    p.add_argument("flow", nargs="?",
                   help="FLOW.py (or FLOW.py:variable when the file holds several flows)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="set a flow parameter")
    p.add_argument("--tag", action="append", metavar="TAG", help="label the run (repeatable)")
    p.add_argument("--cache", action="store_true", help="reuse results of identical earlier tasks")
    add_branch_arguments(p)
    p.add_argument("--echo", action="store_true",
                   help="stream what the steps print, each line prefixed with STEP[INDEX]")
    p.set_defaults(handler=cmd_run, parser=p)

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
    r.add_argument("--from", dest="origin", metavar="STACK",
                   help="the stack whose metadata store holds RUN when it ran elsewhere "
                   "(production back to the laptop: --from team --stack local)")
    r.add_argument("--snapshot", action="store_true",
                   help="run the run's code snapshot even when its flow file is here")
    r.add_argument("--echo", action="store_true",
                   help="stream what the steps print, each line prefixed with STEP[INDEX]")
    r.set_defaults(handler=cmd_resume)

    pl = subparsers.add_parser(
        "pull", help="copy a run from another stack into this one",
        description="Copy RUN from stack --from (its record, task records, datastore "
        "records, code snapshot and results) into the stack chosen by --stack, run id "
        "kept, so that `lamina show` and the Client read it here. Idempotent.",
    )
    pl.add_argument("run", help="the run to copy (an id, a unique prefix, latest or FLOW/latest)")
    pl.add_argument("--from", dest="origin", metavar="STACK", required=True,
                    help="the stack the run was recorded on")
    pl.set_defaults(handler=cmd_pull)
