"""``lamina deploy TARGET``: a flow to the stack's orchestrator, a spec to serving, for
the user's own branch of the project, ``--branch NAME`` or ``--production``."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_deploy(args: argparse.Namespace) -> int:
    from lamina.branch_records import describe_stamp
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import deploy_target, flow_project, is_flow_target

    target: Any = args.target
    project = None
    if is_flow_target(target):  # the flow's own project wins over the config's
        from lamina.flow.loader import load_flow_file

        target = load_flow_file(target)
        project = flow_project(target)
    stack = load_stack_from_args(args, project=project)
    done = deploy_target(target, stack, dry_run=args.dry_run, apply=args.apply,
                         force=args.force)
    if args.dry_run:
        print(done.where)
        return 0
    print(f"deployed {args.target} -> {done.where}")
    print(f"  {describe_stamp(done.stamp)}")
    for variant, pinned in (done.stamp.get("models") or {}).items():
        print(f"  {variant}: {pinned['ref']} -> {pinned['name']} version {pinned['version']} "
              f"({pinned['resolved']})" + (" FORCED past a failed gate" if pinned["forced"] else ""))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import render_tasks

    print(render_tasks(args.flow, stack=load_stack_from_args(args)), end="")
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_branch_arguments

    p = subparsers.add_parser(
        "deploy",
        help="deploy a flow to the stack's orchestrator (or a model deployment spec)",
        description="Deploy FLOW.py to the stack's orchestrator (e.g. an Airflow DAG), or "
        "a deployment spec file (e.g. deploy.toml) to the stack's serving layer. With a "
        "project, what is deployed belongs to a branch (your own by default, --branch NAME, "
        "or --production), and its names are qualified by it (the DAG churn.alice.FLOW, the "
        "deployment churn-alice-NAME); the deployment records who deployed it and when.",
    )
    p.add_argument("target", help="FLOW.py (FLOW.py:variable) or a deployment spec file")
    p.add_argument(
        "--dry-run", action="store_true",
        help="print what would be deployed (the DAG file) and write nothing",
    )
    add_branch_arguments(p)
    p.add_argument(
        "--force", action="store_true",
        help="deploy a registered version (model:NAME@ALIAS) whose checks failed "
        "(recorded as forced)",
    )
    p.add_argument(
        "--apply", action="store_true",
        help="submit to the engine's API (Argo: the Kubernetes API) instead of writing a file",
    )
    p.set_defaults(handler=cmd_deploy)

    r = subparsers.add_parser(
        "render",
        help="print the Jobs / requests the stack's compute would submit for a flow",
        description="Print, without reaching the backend, the exact manifests or API "
        "requests the stack's compute would submit for the first task of each step "
        "(Kubernetes Jobs, AWS Batch job definitions and submissions), as a YAML stream "
        "that kubernetes-validate and kubectl read. `lamina deploy --dry-run` shows the "
        "orchestrator's side (the Airflow DAG with its pods).",
    )
    r.add_argument("flow", help="FLOW.py (FLOW.py:variable)")
    r.set_defaults(handler=cmd_render)
