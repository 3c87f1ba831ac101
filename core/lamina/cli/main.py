"""``lamina``: the command line entry point (also ``python -m lamina``).

The parser is built from :data:`CORE_COMMAND_MODULES` and then from every plugin's
``lamina_cli_commands`` hook. Nothing heavy is imported before a command runs, so
``lamina --help`` stays fast; logging is configured only once a command is chosen.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.kernel.pluginmanager import PluginManager
    from lamina.stack import Stack

#: Modules whose ``register(subparsers)`` adds the core's subcommands, in help order.
CORE_COMMAND_MODULES: list[str] = [
    "lamina.cli.commands.run",
    "lamina.cli.commands.inspect",
    "lamina.cli.commands.task",
    "lamina.cli.commands.plugins",
    "lamina.cli.commands.stack",
    "lamina.cli.commands.deploy",
    "lamina.cli.commands.stepwise",
    "lamina.cli.commands.serve",
    "lamina.cli.commands.ab",
    "lamina.cli.commands.monitor",
    "lamina.cli.commands.features",
    "lamina.cli.commands.ui",
    "lamina.cli.commands.card",
]

_PLUGINS_ATTR = "_lamina_plugins"


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subcommands the same options are accepted after the command name; their default
    # is SUPPRESS there so that they never overwrite what was given before it.
    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--stack", metavar="NAME", default=default(None),
        help="the stack to use (default: $LAMINA_STACK, then default_stack in the config)",
    )
    group.add_argument(
        "--config", metavar="FILE", default=default(None),
        help="the config file (default: $LAMINA_CONFIG, else lamina.toml or "
        "[tool.lamina] in pyproject.toml, searched upwards)",
    )
    group.add_argument(
        "--log-format", choices=("console", "json"), default=default("console"),
        help="how log events are written to stderr (default: console)",
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=default(0),
        help="more logging (-v info, -vv debug) and full tracebacks on errors",
    )


class LaminaArgumentParser(argparse.ArgumentParser):
    """Every (sub)parser accepts the global options, before or after the command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("conflict_handler", "resolve")
        top = kwargs.pop("_top", False)
        super().__init__(*args, **kwargs)
        _add_global_options(self, top=top)


def build_parser(plugins: PluginManager | None = None) -> argparse.ArgumentParser:
    """The full ``lamina`` parser: core commands, then plugins' commands."""
    from lamina import __version__

    parser = LaminaArgumentParser(
        prog="lamina",
        description="lamina: flows of plain Python steps on a stack of pluggable layers.",
        epilog="Run `lamina COMMAND --help` for a command's options.",
        _top=True,
    )
    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module_name in CORE_COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    if plugins is not None:
        for impl in plugins.hook.lamina_cli_commands.get_hookimpls():
            try:
                impl.function(*[{"subparsers": subparsers}[a] for a in impl.argnames])
            except Exception as exc:
                print(
                    f"lamina: warning: plugin {impl.plugin_name!r} could not add its "
                    f"commands: {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )
    return parser


def _preparse(argv: Sequence[str]) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    ns, _ = pre.parse_known_args(argv)
    return ns


def _plugin_manager(config_file: str | None) -> PluginManager:
    """The CLI's plugin manager, honouring ``disable_plugins`` of the config when it can be
    read (a broken config is reported later, by the command that loads the stack)."""
    from lamina.config import config_path
    from lamina.config.locate import read_disable_plugins
    from lamina.kernel.pluginmanager import PluginManager

    path = config_path(config_file=config_file)
    disabled = read_disable_plugins(path) if path is not None else ()
    return PluginManager(disabled=disabled)


def plugins_from_args(args: argparse.Namespace) -> PluginManager:
    """The plugin manager ``main`` built for this invocation (a new one if none)."""
    pm = getattr(args, _PLUGINS_ATTR, None)
    if pm is None:
        pm = _plugin_manager(getattr(args, "config", None))
        setattr(args, _PLUGINS_ATTR, pm)
    return pm


def load_stack_from_args(args: argparse.Namespace) -> Stack:
    """The stack chosen by ``--stack``/``--config`` (or their environment variables and
    the config file), sharing this invocation's plugin manager."""
    from lamina.stack import Stack

    return Stack.load(
        getattr(args, "stack", None),
        config_file=getattr(args, "config", None),
        plugins=plugins_from_args(args),
    )


def _print_error(exc: BaseException, verbose: int) -> None:
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(f"lamina: error: {exc}", file=sys.stderr)


def _show_lamina_warnings() -> None:
    """Print lamina's own warnings (e.g. a broken plugin a run can do without) as one
    ``lamina: warning:`` line, like its errors; others keep Python's format."""
    import warnings

    default = warnings.showwarning

    def show(message: Any, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if category.__module__.startswith("lamina."):
            print(f"lamina: warning: {message}", file=sys.stderr)
            return
        default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lamina`` command line; returns the exit code (never calls sys.exit).

    0 success, 1 a lamina error (message and fix on stderr), 2 bad usage, 130 Ctrl-C.
    """
    from lamina.errors import LaminaError

    args_list = list(sys.argv[1:] if argv is None else argv)
    verbose = 0
    try:
        pre = _preparse(args_list)
        plugins = _plugin_manager(pre.config)
        parser = build_parser(plugins)
        try:
            args = parser.parse_args(args_list)
        except SystemExit as exc:  # --help, --version, usage errors
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 2)
        setattr(args, _PLUGINS_ATTR, plugins)
        verbose = getattr(args, "verbose", 0) or 0
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help(sys.stderr)
            return 2
        from lamina.logs import configure_logging

        configure_logging(args.log_format, verbosity=verbose)
        _show_lamina_warnings()
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("lamina: interrupted", file=sys.stderr)
        return 130
    except LaminaError as exc:
        _print_error(exc, verbose)
        from lamina.errors import RunInterruptedError

        return 130 if isinstance(exc, RunInterruptedError) else 1
    except BrokenPipeError:
        return 1
