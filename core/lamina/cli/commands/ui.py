"""``lamina ui``: serve the read-only web UI over the stack's runs."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_ui(args: argparse.Namespace) -> int:
    import os

    from lamina.cli.main import load_stack_from_args, namespace_from_args
    from lamina.ui import serve

    stack = load_stack_from_args(args)
    token = args.token if args.token is not None else os.environ.get("LAMINA_UI_TOKEN")

    def ready(url: str) -> None:
        print(f"lamina ui: {url}   (stack {stack.name}; Ctrl-C stops)", flush=True)

    serve(stack, host=args.host, port=args.port, token=token, on_ready=ready,
          namespace=namespace_from_args(args))
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_namespace_arguments

    p = subparsers.add_parser(
        "ui",
        help="browse runs, steps, logs, artifacts and cards in a web browser",
        description="Serve a read-only web UI over the stack's runs: runs list, each run's "
        "graph coloured by status, tasks with their logs and errors, artifact previews, "
        "cards, and compare. Binds 127.0.0.1; on any other address it warns and asks for "
        "a token (made up if not given).",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    p.add_argument("--token", default=None,
                   help="require this access token (default: $LAMINA_UI_TOKEN; on a "
                   "non-loopback address one is made up; '' for none)")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_ui)
