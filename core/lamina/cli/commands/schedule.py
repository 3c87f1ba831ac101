"""``lamina schedule run FLOW.py ...`` (the local scheduler) and ``lamina trigger``."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_schedule_run(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.cli.output import echo
    from lamina.flow.loader import load_flow_file
    from lamina.runtime.schedule import LocalScheduler, describe

    flows = [load_flow_file(f) for f in args.flows]
    stack = load_stack_from_args(args)
    echo(describe(flows))
    scheduler = LocalScheduler(flows, stack=stack)

    def show(run: Any) -> None:
        echo(f"{run.flow}: run {run.id} {run.status}")

    if args.once:
        for run in scheduler.tick():
            show(run)
        return 0
    echo(f"checking every {args.interval:g}s; Ctrl-C stops")
    try:
        scheduler.serve(args.interval, on_run=show)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    from lamina.cli.commands.run import parse_sets
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import trigger

    stack = load_stack_from_args(args)
    if args.event:
        try:
            payload = json.loads(args.payload or "{}")
        except ValueError as err:
            from lamina.errors import ParameterError

            raise ParameterError(f"--payload is not JSON: {err}",
                                 hint='--payload \'{"uri": "s3://bucket/key"}\'') from None
        print(trigger(event=args.event, payload=payload, stack=stack))
        return 0
    if not args.flow:
        from lamina.errors import ParameterError

        raise ParameterError("lamina trigger needs a flow or --event NAME",
                             hint="lamina trigger FLOW.py --set alpha=0.3, or "
                             "lamina trigger --event data-ready --payload '{...}'")
    from lamina.flow.loader import load_flow_file

    flow = load_flow_file(args.flow)
    print(trigger(flow.name, params=parse_sets(flow, args.set or []), stack=stack))
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.commands import show_help

    p = subparsers.add_parser(
        "schedule", help="start flows on their schedules and triggers, here",
        description="The local scheduler: start each flow on its schedule, after a "
        "successful run of the flows it is trigger_on_finish of, and on its events.",
    )
    sub = p.add_subparsers(dest="schedule_command", metavar="ACTION")
    r = sub.add_parser("run", help="watch FLOW.py files and start their runs when due")
    r.add_argument("flows", nargs="+", metavar="FLOW.py", help="the flows to watch")
    r.add_argument("--interval", type=float, default=30.0, help="seconds between checks")
    r.add_argument("--once", action="store_true", help="check once, start what is due, exit")
    r.set_defaults(handler=cmd_schedule_run)
    p.set_defaults(handler=show_help(p))

    t = subparsers.add_parser(
        "trigger", help="start a deployed flow, or send an event to the flows it triggers",
        description="Start an execution of a deployed flow on the stack's orchestrator "
        "(Step Functions: an execution), or send an event (--event) that starts the flows "
        "with a trigger for it (its --payload sets their parameters).",
    )
    t.add_argument("flow", nargs="?", help="FLOW.py of the deployed flow")
    t.add_argument("--set", action="append", metavar="NAME=VALUE", help="set a flow parameter")
    t.add_argument("--event", metavar="NAME", help="send the event NAME instead")
    t.add_argument("--payload", metavar="JSON", help="the event's payload (a JSON object)")
    t.set_defaults(handler=cmd_trigger)
