"""``lamina deploy TARGET``: a flow to the stack's orchestrator, a spec to serving."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_deploy(args: argparse.Namespace) -> int:
    from lamina.cli.main import load_stack_from_args
    from lamina.deploy import deploy

    stack = load_stack_from_args(args)
    result = deploy(args.target, stack=stack, dry_run=args.dry_run, apply=args.apply)
    print(result if args.dry_run else f"deployed {args.target} -> {result}")
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
    p.add_argument(
        "--apply", action="store_true",
        help="submit to the engine's API (Argo: the Kubernetes API) instead of writing a file",
    )
    p.set_defaults(handler=cmd_deploy)
