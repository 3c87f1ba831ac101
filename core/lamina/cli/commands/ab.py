"""``lamina ab``: A/B experiments on a deployment's variants, read from its logs."""

from __future__ import annotations

import argparse
from typing import Any

from lamina.cli.commands import show_help


def _experiment(args: argparse.Namespace) -> Any:
    """The experiment the flags describe: an experiment file, then each flag over it."""
    import attrs

    from lamina.serving.experiment import Covariate, Experiment, MetricSpec, parse_weights

    exp = Experiment.from_file(args.experiment) if args.experiment else Experiment()
    changes: dict[str, Any] = {}
    if args.metric:
        changes["primary"] = attrs.evolve(exp.primary, name=args.metric)
    if args.goal:
        changes["primary"] = attrs.evolve(changes.get("primary", exp.primary), goal=args.goal)
    if args.secondary:
        changes["secondary"] = exp.secondary + tuple(
            MetricSpec(m, "secondary") for m in args.secondary)
    if args.guardrail:
        changes["guardrails"] = exp.guardrails + tuple(_guardrail(g) for g in args.guardrail)
    for name in ("method", "alpha", "horizon", "control"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.weights:
        changes["weights"] = parse_weights(args.weights)
    if args.covariate:
        if not (args.covariate_key and args.covariate_column):
            from lamina.serving.errors import ServingError

            raise ServingError("--covariate needs --covariate-key and --covariate-column",
                               hint="--covariate pre.parquet --covariate-key user_id "
                               "--covariate-column spend")
        changes["covariate"] = Covariate(args.covariate, args.covariate_key, args.covariate_column)
    return attrs.evolve(exp, **changes) if changes else exp


def _guardrail(text: str) -> Any:
    """``latency_ms:10%`` (higher is worse) or ``accuracy:-5%`` (lower is worse)."""
    from lamina.serving.errors import ServingError
    from lamina.serving.experiment import MetricSpec

    name, _, limit = text.rpartition(":")
    try:
        value: float | None = float(limit.strip().rstrip("%")) / 100.0
    except ValueError:
        value = None
    if not name or value is None or value != value:
        raise ServingError(f"--guardrail {text!r} is not METRIC:PERCENT",
                           hint="--guardrail latency_ms:10% (stop when it rises 10%), "
                           "--guardrail accuracy:-5% (stop when it falls 5%)")
    goal = "increase" if value < 0 else "decrease"
    return MetricSpec(name, "guardrail", goal, abs(value))


def _report(args: argparse.Namespace) -> Any:
    from lamina.cli.main import load_stack_from_args
    from lamina.serving.ab import ab_report
    from lamina.serving.deployment import qualified_name

    stack = load_stack_from_args(args)
    return stack, ab_report(stack, qualified_name(stack, args.deployment), start=args.start, end=args.end,
                            experiment=_experiment(args))


def cmd_report(args: argparse.Namespace) -> int:
    import json
    import sys

    _stack, report = _report(args)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report)
    if report.srm.passed is False:
        print(f"lamina: error: sample ratio mismatch in {args.deployment!r}: the split is "
              "broken, no result of this experiment can be trusted", file=sys.stderr)
        return 1
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    import json
    import time

    from lamina.serving.deployment import qualified_name
    from lamina.serving.errors import ServingError
    from lamina.serving.experiment import record_decision
    from lamina.versioning.environment import current_user

    stack, report = _report(args)
    suggested = report.decision
    action = args.action or suggested.action
    variant = args.variant or (suggested.variant if action == suggested.action else None)
    if action == "ship" and not variant:
        raise ServingError("shipping needs a variant", hint="lamina ab decide DEPLOYMENT "
                           "--action ship --variant NAME")
    overridden = action != suggested.action or (action == "ship" and variant != suggested.variant)
    if overridden and not args.force:
        raise ServingError(
            f"the report says {suggested.action}"
            + (f" {suggested.variant}" if suggested.variant else "")
            + f" ({suggested.reason}), not {action}" + (f" {variant}" if variant else ""),
            hint="add --force to record a decision against the report (it is recorded as forced)")
    decision = {
        "deployment": args.deployment, "action": action, "variant": variant,
        "reason": args.reason or suggested.reason, "suggested": suggested.action,
        "forced": overridden, "user": current_user(), "at": time.time(),
        "report": report.to_dict(),
    }
    promoted = None
    if action == "ship" and variant and not args.no_promote:
        from lamina.serving.experiment import promote_winner

        # the winner's registered version takes the alias (gates apply; --force is recorded)
        promoted = promote_winner(stack, qualified_name(stack, args.deployment), variant,
                                  alias=args.alias, reason=str(decision["reason"]),
                                  force=args.force)
        decision["promoted"] = promoted
    record_decision(stack.datastore, qualified_name(stack, args.deployment), decision)
    print(json.dumps({k: v for k, v in decision.items() if k != "report"}, indent=2,
                     default=str) if args.json else
          f"recorded: {action}" + (f" {variant}" if variant else "")
          + f" for {args.deployment} by {decision['user']}"
          + (" (forced against the report)" if overridden else "") + f": {decision['reason']}"
          + (f"\npromoted {promoted['name']} version {promoted['version']} to "
             f"@{promoted['alias']}" + (f" (was {promoted['previous']})"
                                        if promoted.get("previous") is not None else "")
             if promoted else ""))
    return 0


def cmd_decisions(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from lamina.cli.main import load_stack_from_args
    from lamina.serving.deployment import qualified_name
    from lamina.serving.experiment import decisions

    stack = load_stack_from_args(args)
    found = decisions(stack.datastore, qualified_name(stack, args.deployment))
    if args.json:
        print(json.dumps([{k: v for k, v in d.items() if k != "report"} for d in found],
                         indent=2, default=str))
        return 0
    if not found:
        print(f"no decision recorded for {args.deployment}")
    for d in found:
        when = dt.datetime.fromtimestamp(float(d.get("at", 0)), dt.UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{when}  {d.get('action')} {d.get('variant') or ''}  by {d.get('user')}"
              + ("  (forced)" if d.get("forced") else "") + f"  {d.get('reason')}")
    return 0


def _report_arguments(r: argparse.ArgumentParser) -> None:
    from lamina.cli.main import add_branch_arguments

    r.add_argument("deployment", help="the deployment name (on a project's branch: the "
                   "branch's deployment of that name, churn-alice-NAME)")
    add_branch_arguments(r)
    r.add_argument("--experiment", metavar="FILE",
                   help="an experiment file: metrics, method, weights, covariate (TOML)")
    r.add_argument("--metric", help="the primary metric: `outcome` (default) or a numeric "
                   "prediction-log column (latency_ms)")
    r.add_argument("--goal", choices=("increase", "decrease"),
                   help="which direction of the primary metric is better (increase)")
    r.add_argument("--secondary", action="append", metavar="METRIC",
                   help="a secondary metric (repeatable; Benjamini-Hochberg adjusted)")
    r.add_argument("--guardrail", action="append", metavar="METRIC:PERCENT",
                   help="stop when METRIC degrades by more than PERCENT: latency_ms:10%% "
                   "(rises), accuracy:-5%% (falls); repeatable")
    r.add_argument("--method", choices=("sequential", "fixed"),
                   help="sequential (default: read at any time) or fixed (read once)")
    r.add_argument("--alpha", type=float, help="significance level (0.05)")
    r.add_argument("--horizon", type=int, help="units per variant the experiment plans to "
                   "reach; tunes when the sequential test is most sensitive (10000)")
    r.add_argument("--control", help="the variant the others are compared with "
                   "(default: the first by name)")
    r.add_argument("--weights", metavar="A=PCT,B=PCT",
                   help="the intended split (default: the one the server recorded at start)")
    r.add_argument("--covariate", metavar="FILE",
                   help="CUPED: a Parquet/CSV file of a pre-period value per sticky key")
    r.add_argument("--covariate-key", metavar="COLUMN", help="its column of sticky-key values")
    r.add_argument("--covariate-column", metavar="COLUMN", help="its numeric column")
    r.add_argument("--start", help="only requests at or after this time (ISO, UTC)")
    r.add_argument("--end", help="only requests before this time (ISO, UTC)")
    r.add_argument("--json", action="store_true", help="print JSON")


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_branch_arguments

    p = subparsers.add_parser("ab", help="A/B experiments on a deployment's variants",
                              description="A/B experiments over the prediction and outcome logs.")
    sub = p.add_subparsers(dest="ab_command", metavar="COMMAND", title="commands")
    r = sub.add_parser(
        "report",
        help="sample-ratio check, every metric per variant, always-valid tests, decision",
        description="Read a deployment's experiment: the sample-ratio check first (the "
        "command fails on a mismatch), then each metric per variant with an always-valid "
        "confidence sequence and p-value against the control (or the fixed-horizon test "
        "with --method fixed), CUPED with a covariate, guardrails, and the decision: ship, "
        "keep running or stop.",
    )
    _report_arguments(r)
    r.set_defaults(handler=cmd_report)
    d = sub.add_parser(
        "decide", help="record a decision on the experiment (who, when, why)",
        description="Record the decision the report suggests (or, with --force, another), "
        "with the user, the time, the reason and the report it was taken on.",
    )
    _report_arguments(d)
    d.add_argument("--action", choices=("ship", "keep running", "stop"),
                   help="the decision (default: the report's)")
    d.add_argument("--variant", help="the variant shipped")
    d.add_argument("--reason", help="why (default: the report's reason)")
    d.add_argument("--force", action="store_true",
                   help="record a decision the report does not support (marked forced); "
                   "also promotes a version whose checks failed (recorded as forced)")
    d.add_argument("--alias", default="champion",
                   help="shipping moves this alias to the winner's registered version "
                   "(default: champion)")
    d.add_argument("--no-promote", action="store_true",
                   help="record the decision without promoting in the model registry")
    d.set_defaults(handler=cmd_decide)
    h = sub.add_parser("decisions", help="the decisions recorded for a deployment")
    h.add_argument("deployment", help="the deployment name")
    add_branch_arguments(h)
    h.add_argument("--json", action="store_true", help="print JSON")
    h.set_defaults(handler=cmd_decisions)
    p.set_defaults(handler=show_help(p))
