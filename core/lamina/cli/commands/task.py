"""``lamina task``: run one task from the datastore (what remote compute launches), on the
run's own stack rebuilt from its record."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_task(args: argparse.Namespace) -> int:
    import sys

    from lamina.runtime.remote import run_remote_task

    index = args.index
    if args.index_env:  # an Indexed Job's / array job's position, added to --index
        import os

        from lamina.errors import LaminaError

        raw = os.environ.get(args.index_env, "")
        if not raw.strip().isdigit():
            raise LaminaError(
                f"--index-env {args.index_env}: the variable is {raw!r}, not a task position",
                hint="launch this command where the engine sets it (an Indexed Job's "
                "JOB_COMPLETION_INDEX, a Batch array job's AWS_BATCH_JOB_ARRAY_INDEX)",
            )
        index += int(raw)
    if not args.datastore and not args.datastore_spec:
        from lamina.errors import ConfigError

        raise ConfigError(
            "lamina task: give the run's datastore with --datastore-spec JSON (what remote "
            "backends pass) or --datastore URL",
            hint="copy the command the backend launched (its --datastore-spec names the "
            "stack's datastore component and options)",
        )
    outcome = run_remote_task(
        args.datastore or "", args.run, args.step, index, args.attempt,
        datastore_spec=args.datastore_spec or "",
    )
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
        "--datastore-spec JSON --run RUN --step STEP --index I`. The task runs on the run's "
        "own stack, rebuilt from what the run recorded (secrets re-read from the "
        "environment).",
    )
    p.add_argument(
        "--datastore-spec", metavar="JSON",
        help="the stack's datastore component and its recorded options, as the run's "
        "launcher wrote them (e.g. '{\"component\":\"file\",\"options\":{\"url\":"
        "\"/data/lamina\"}}'); secrets only as ${VAR}, read from this environment",
    )
    p.add_argument(
        "--datastore", metavar="URL",
        help="fallback: the run's datastore URL, served by the plain component for its "
        "scheme (enough when the stack's datastore is that component); the rest of the "
        "stack is still rebuilt from the run's record",
    )
    p.add_argument("--run", required=True, help="run id")
    p.add_argument("--step", required=True, help="step name")
    p.add_argument("--index", type=int, default=0, help="task index (foreach element)")
    p.add_argument("--attempt", type=int, default=1, help="attempt number (retries)")
    p.add_argument(
        "--index-env", metavar="VAR",
        help="add the integer in environment variable VAR to --index (bulk fan-out: "
        "JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX)",
    )
    p.set_defaults(handler=cmd_task)
