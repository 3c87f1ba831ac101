"""``lamina monitor``: run the monitoring flow for a deployment or a model, show a
monitoring run's HTML report, or write the monitoring flow into the project."""

from __future__ import annotations

import argparse
from typing import Any


def _print_summary(run: Any, path: Any) -> None:
    summary = run["summary"].value["summary"]
    alerts = run["alerts"].value
    drifted = ", ".join(summary["drifted"]) or "none"
    print(f"monitoring run {run.id}: {len(summary['drifted'])} of {summary['columns']} columns "
          f"drifted ({drifted}); {summary['quality_issues']} quality issues; "
          f"{len(alerts)} alerts")
    for alert in alerts:
        print(f"  [{alert['severity']}] {alert['message']}")
    print(f"report: {path}")


def cmd_monitor(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.errors import LaminaError

    words = list(args.words)
    if words[0] == "report":
        if len(words) != 2:
            raise LaminaError("lamina monitor report takes one run id",
                              hint="lamina monitor report RUN [--open]")
        return _report(args, words[1])
    if len(words) != 1:
        raise LaminaError(f"lamina monitor takes one target, got {' '.join(words)}",
                          hint="lamina monitor DEPLOYMENT, or lamina monitor FLOW/RUN/STEP")
    target = words[0]
    if args.write_flow:
        from lamina.monitoring.api import write_flow

        path = write_flow(target, args.write_flow)
        print(f"wrote {path}: run it with `lamina run {path}` (or schedule it)")
        return 0
    import os

    from lamina.monitoring.api import monitor, report_path

    stack = load_stack_from_args(args)
    if getattr(args, "config", None):  # the flow's steps open the stack by name: same file
        os.environ["LAMINA_CONFIG"] = str(os.path.abspath(args.config))
    run = monitor(
        target, stack=stack, reference=args.reference or "", current=args.current or "",
        start=args.start or "", end=args.end or "", window=args.window or "",
        prediction=args.prediction or "", tags=tuple(args.tag or ()),
    )
    _print_summary(run, report_path(run))
    return 0


def _report(args: argparse.Namespace, run_ref: str) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.client import Client
    from lamina.monitoring.api import report_path

    run = Client(load_stack_from_args(args)).run(run_ref)
    path = report_path(run, directory=args.dir)
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.as_uri())
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "monitor",
        help="drift, data quality and performance of a deployment or model (a flow run)",
        description="`lamina monitor DEPLOYMENT` compares the deployment's prediction log "
        "over a window with the training set of its model; `lamina monitor FLOW/RUN/STEP "
        "--current SRC` compares any data with a model's training set. The work runs as a "
        "versioned flow; `lamina monitor report RUN` prints (or --open's) its HTML report. On "
        "a project's branch (your own by default, --branch NAME, --production) DEPLOYMENT "
        "is that branch's deployment (churn-alice-DEPLOYMENT) and its prediction log.",
    )
    p.add_argument("words", nargs="+", metavar="TARGET",
                   help="DEPLOYMENT, FLOW/RUN/STEP, or: report RUN")
    p.add_argument("--reference", metavar="SRC",
                   help="reference data: a Parquet/Arrow file, RUN/STEP, or log:DEPLOYMENT "
                   "(default: the model's training set)")
    p.add_argument("--current", metavar="SRC",
                   help="current data, same forms (default: the deployment's prediction log)")
    p.add_argument("--window", metavar="SPAN", help="how far back from --end: 30m, 12h, 1d, 7d "
                   "(default: the stack's monitoring window, 1d)")
    p.add_argument("--start", metavar="TIME", help="window start, ISO (UTC when naive)")
    p.add_argument("--end", metavar="TIME", help="window end, ISO (default: now)")
    p.add_argument("--prediction", metavar="COLUMN",
                   help="the out.* column holding the prediction, when there are several")
    p.add_argument("--tag", action="append", metavar="TAG", help="tag the monitoring run")
    p.add_argument("--write-flow", metavar="FILE",
                   help="write the monitoring flow for TARGET into FILE instead of running it")
    p.add_argument("--open", action="store_true", help="(report) open the report in a browser")
    p.add_argument("--dir", metavar="DIR", help="(report) where to write the HTML file "
                   "(default: .lamina/reports in the project)")
    from lamina.cli.main import add_branch_arguments

    add_branch_arguments(p)
    p.set_defaults(handler=cmd_monitor)
