"""``lamina`` subcommands. Each module has ``register(subparsers)``, which adds its parsers
with ``set_defaults(handler=fn)``; ``fn(args)`` returns the exit code. Modules import only
argparse at the top; the work is imported inside the handler, so ``lamina --help`` is fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def show_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command group (``lamina stack``) called without a subcommand: its
    help, and exit status 2 (a usage error)."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler
