"""``lamina gc``: apply the stack's retention policy (docs/retention.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: Runs listed one per line by ``--dry-run`` before "... and N more" (``--json``: all).
SHOWN_RUNS = 50


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def cmd_gc(args: argparse.Namespace) -> int:
    import datetime as dt

    from rich.console import Console
    from rich.markup import escape

    from lamina.cli.main import load_stack_from_args
    from lamina.config.retention import parse_duration
    from lamina.errors import ConfigError
    from lamina.retention import collect

    grace = None
    if args.grace is not None:
        try:
            grace = parse_duration(args.grace, "--grace")
        except ValueError as error:
            raise ConfigError(str(error), hint="--grace 24h (or 90m, 2d, 3600)") from None
    stack = load_stack_from_args(args)
    err = Console(stderr=True, highlight=False)
    progress = None if args.json else (lambda line: err.print(f"[dim]gc: {escape(line)}[/]"))
    report = collect(stack, dry_run=args.dry_run, grace=grace, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    out = Console(highlight=False, soft_wrap=True)
    verb = "would delete" if report.dry_run else "deleted"
    if report.dry_run:
        for run_id, flow, started in report.runs_deleted[:SHOWN_RUNS]:
            when = dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M")
            out.print(f"would delete run {escape(run_id)}  {escape(flow)}  {when}")
        more = len(report.runs_deleted) - SHOWN_RUNS
        if more > 0:
            out.print(f"... and {more:,} more runs (--json lists them all)")
    out.print(
        f"stack {escape(stack.name)}: kept {report.runs_kept:,} of {report.runs_total:,} runs; "
        f"{verb} {len(report.runs_deleted):,} runs ({report.records_deleted:,} records), "
        f"{report.objects_deleted:,} of {report.objects_scanned:,} objects "
        f"({_size(report.bytes_reclaimed)} reclaimed), {report.logs_deleted:,} prediction-log "
        f"parts ({_size(report.log_bytes_reclaimed)}), {report.reports_deleted:,} monitoring "
        f"reports; {report.objects_in_grace:,} unreferenced objects younger than the grace "
        f"period ({report.grace_seconds:,.0f} s) stay; "
        f"{report.seconds:.1f} s"
    )
    if report.dry_run:
        print("dry run: nothing was deleted (run `lamina gc` to delete it)", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "gc", help="delete the runs the retention policy lets go and the objects nothing "
        "kept points at",
        description="Apply the stack's retention policy ([stacks.S.retention]): delete old "
        "runs (never a running, tagged, production or deployed one), then every object no "
        "kept run points at and older than the grace period, old prediction logs and "
        "monitoring reports. Safe while flows run and while another gc runs "
        "(docs/retention.md).",
    )
    p.add_argument("--dry-run", action="store_true",
                   help="delete nothing: print what would go and the bytes reclaimed")
    p.add_argument("--grace", metavar="AGE",
                   help="leave unreferenced objects younger than this (24h, 90m, 2d; default: "
                   "the policy's grace)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_gc)
