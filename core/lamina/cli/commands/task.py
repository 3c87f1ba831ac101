"""``lamina task``: run one task from the datastore (what remote compute launches)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_task(args: argparse.Namespace) -> int:
    import sys

    from lamina.runtime.remote import run_remote_task

    outcome = run_remote_task(args.datastore, args.run, args.step, args.index, args.attempt)
    if outcome.status != "succeeded":
        print(
            f"task {outcome.task_id} failed at {outcome.location}: {outcome.error}\n{outcome.traceback}",
            file=sys.stderr,
        )
        return 1
    print(f"task {outcome.task_id} succeeded: {outcome.output.key if outcome.output else ''}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "task",
        help="run one task of a run from the datastore (remote backends launch this)",
        description="Run one task given only the datastore: `python -m lamina task "
        "--datastore URL --run RUN --step STEP --index I`.",
    )
    p.add_argument("--datastore", required=True, help="the run's datastore URL")
    p.add_argument("--run", required=True, help="run id")
    p.add_argument("--step", required=True, help="step name")
    p.add_argument("--index", type=int, default=0, help="task index (foreach element)")
    p.add_argument("--attempt", type=int, default=1, help="attempt number (retries)")
    p.set_defaults(handler=cmd_task)
