"""``lamina stepwise start|prepare|finish``: a run driven one command at a time by an
external scheduler (the tasks of a deployed Airflow DAG). Not listed in ``lamina --help``:
engines call it, people rarely do."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _write_xcom(path: str | None, value: Any) -> None:
    if path:
        import os

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as handle:
            json.dump(value, handle)


def cmd_start(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.errors import ParameterError
    from lamina.runtime.stepwise import start_run

    try:
        params = json.loads(args.params or "{}")
    except ValueError as err:
        raise ParameterError(f"--params is not a JSON object: {err}", hint='--params \'{"alpha": 0.3}\'') from None
    if not isinstance(params, dict):
        raise ParameterError("--params must be a JSON object", hint='--params \'{"alpha": 0.3}\'')
    if args.datastore_spec:  # an engine's process (a pod): the deployment's recorded stack
        from lamina.runtime.stepwise import deployment_stack

        stack = deployment_stack(args.datastore_spec, args.flow, args.deployment)
    else:
        stack = load_stack_from_args(args)
    run_id = start_run(
        stack, flow=args.flow, deployment_id=args.deployment, params=params,
        tags=tuple(args.tag or ()), orchestrator=args.orchestrator,
        orchestrator_run_id=args.orchestrator_run_id,
    )
    _write_xcom(args.xcom_file, run_id)
    print(run_id)  # the last line: engines read the run id from it
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from lamina.runtime.remote import task_stack
    from lamina.runtime.stepwise import prepare_step, task_indexes

    # the run's recorded stack, so foreach elements go through the stack's own datastore
    stack, _ = task_stack(args.run, datastore_url=args.datastore or "",
                          datastore_spec=args.datastore_spec or "")
    count = prepare_step(stack.artifacts, args.run, args.step)
    _write_xcom(args.xcom_file, task_indexes(count))
    print(f"step {args.step} of run {args.run}: {count} task(s)")
    print(count)
    return 0


def cmd_finish(args: argparse.Namespace) -> int:
    import sys

    from lamina.cli.main import load_stack_from_args
    from lamina.errors import LaminaError
    from lamina.runtime.remote import task_stack
    from lamina.runtime.stepwise import finish_run

    if args.run in ("", "None", "null"):  # the engine's start task failed before a run existed
        raise LaminaError(
            "no lamina run to close: the start task failed before it recorded one, so no "
            "step ran",
            hint="read the start task's log for the cause (e.g. a flow parameter in the "
            "trigger's conf that the flow does not have), fix it and trigger again",
        )

    if args.datastore_spec:  # an engine's process (a pod): the run's recorded stack
        stack, _ = task_stack(args.run, datastore_spec=args.datastore_spec)
    else:
        stack = load_stack_from_args(args)
    record = finish_run(stack, args.run)
    if record.status != "succeeded":
        print(f"run {record.run_id} {record.status}: {record.error}\n  fix: lamina show "
              f"{record.run_id}   (then: lamina resume {record.run_id})", file=sys.stderr)
        return 1
    print(f"run {record.run_id} succeeded")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "stepwise",
        description="Drive a run one command at a time (what a deployed DAG's tasks run): "
        "start records the run, prepare writes a step's plan and prints its task count, "
        "finish records the tasks and closes the run.",
    )
    sub = p.add_subparsers(dest="stepwise_command", metavar="ACTION", required=True)
    s = sub.add_parser("start", help="record a new run of a deployed flow; prints its id")
    s.add_argument("--flow", required=True, help="the flow's name")
    s.add_argument("--deployment", required=True, help="the deployment id (code snapshot)")
    s.add_argument("--params", default="{}", help="flow parameters as a JSON object")
    s.add_argument("--tag", action="append", metavar="TAG", help="label the run (repeatable)")
    s.add_argument("--orchestrator", default="", help="the engine's name, recorded on the run")
    s.add_argument("--orchestrator-run-id", default="", help="the engine's id of this run")
    s.add_argument("--xcom-file", help="also write the run id there as JSON")
    s.add_argument("--datastore-spec", metavar="JSON",
                   help="the stack's datastore as recorded: the run is started on the stack "
                   "the deployment recorded (no config file needed, as in a pod)")
    s.set_defaults(handler=cmd_start)

    q = sub.add_parser("prepare", help="write a step's plan; prints its task count")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--datastore-spec", metavar="JSON",
                       help="the stack's datastore component and options, as the run recorded "
                       "them (what the orchestrator passes)")
    where.add_argument("--datastore", help="the run's datastore URL (the fallback)")
    q.add_argument("--run", required=True, help="run id")
    q.add_argument("--step", required=True, help="step name")
    q.add_argument("--xcom-file", help="also write the task indexes there as a JSON list")
    q.set_defaults(handler=cmd_prepare)

    f = sub.add_parser("finish", help="record the run's tasks and close it")
    f.add_argument("--run", required=True, help="run id")
    f.add_argument("--datastore-spec", metavar="JSON",
                   help="the stack's datastore as recorded: the run is closed on the stack it "
                   "recorded (no config file needed, as in a pod)")
    f.set_defaults(handler=cmd_finish)
