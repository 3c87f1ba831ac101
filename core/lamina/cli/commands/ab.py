"""``lamina ab``: A/B testing of a deployment's variants, from the prediction log."""

from __future__ import annotations

import argparse
from typing import Any

from lamina.cli.commands import show_help


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from lamina.cli.main import load_stack_from_args
    from lamina.serving.ab import ab_report
    from lamina.serving.deployment import qualified_name

    stack = load_stack_from_args(args)
    report = ab_report(stack, qualified_name(stack, args.deployment), metric=args.metric,
                       control=args.control, start=args.start, end=args.end, alpha=args.alpha)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ab", help="compare the variants of a deployment (A/B tests)",
                              description="A/B tests over the prediction and outcome logs.")
    sub = p.add_subparsers(dest="ab_command", metavar="COMMAND", title="commands")
    r = sub.add_parser(
        "report",
        help="per-variant counts, mean metric with 95%% CI, and a two-sample test",
        description="Compare a deployment's variants on logged outcomes (or a numeric "
        "column of the prediction log): counts, means with 95% confidence intervals, and "
        "a two-proportion z-test (0/1 outcomes) or Welch's t-test against the control.",
    )
    r.add_argument("deployment", help="the deployment name (on a project's branch: the "
                   "branch's deployment of that name, churn-alice-NAME)")
    r.add_argument("--metric", default="outcome",
                   help="`outcome` (default) or a numeric prediction-log column (latency_ms)")
    r.add_argument("--control", help="the variant the others are compared with "
                   "(default: the first by name)")
    r.add_argument("--start", help="only requests at or after this time (ISO, UTC)")
    r.add_argument("--end", help="only requests before this time (ISO, UTC)")
    r.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    r.add_argument("--json", action="store_true", help="print JSON")
    from lamina.cli.main import add_branch_arguments

    add_branch_arguments(r)
    r.set_defaults(handler=cmd_report)
    p.set_defaults(handler=show_help(p))
