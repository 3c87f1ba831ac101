"""``lamina`` subcommands. Each module has ``register(subparsers)``, which adds its parsers
with ``set_defaults(handler=fn)``; ``fn(args)`` returns the exit code. Modules import only
argparse at the top; the work is imported inside the handler, so ``lamina --help`` is fast.
"""
