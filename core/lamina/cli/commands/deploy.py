"""``lamina deploy TARGET``: a flow to the stack's orchestrator, a spec to serving."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_deploy(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import deploy

    stack = load_stack_from_args(args)
    result = deploy(args.target, stack=stack, dry_run=args.dry_run)
    print(result if args.dry_run else f"deployed {args.target} -> {result}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import render_tasks

    print(render_tasks(args.flow, stack=load_stack_from_args(args)), end="")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "deploy",
        help="deploy a flow to the stack's orchestrator (or a model deployment spec)",
        description="Deploy FLOW.py to the stack's orchestrator (e.g. an Airflow DAG), or "
        "a deployment spec file (e.g. deploy.toml) to the stack's serving layer.",
    )
    p.add_argument("target", help="FLOW.py (FLOW.py:variable) or a deployment spec file")
    p.add_argument(
        "--dry-run", action="store_true",
        help="print what would be deployed (the DAG file) and write nothing",
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
