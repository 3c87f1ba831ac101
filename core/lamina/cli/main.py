"""``lamina``: the command line entry point (also ``python -m lamina``).

The parser is built from :data:`CORE_COMMAND_MODULES` and then from every plugin's
``lamina_cli_commands`` hook. Nothing heavy is imported before a command runs, so
``lamina --help`` stays fast; logging is configured only once a command is chosen.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from lamina.client import Client
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
    "lamina.cli.commands.schedule",
    "lamina.cli.commands.stepwise",
    "lamina.cli.commands.serve",
    "lamina.cli.commands.ab",
    "lamina.cli.commands.monitor",
    "lamina.cli.commands.features",
    "lamina.cli.commands.ui",
    "lamina.cli.commands.card",
    "lamina.cli.commands.model",
    "lamina.cli.commands.gc",
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
        help="more logging (-v info, -vv debug and every plugin hook call traced) and "
        "full tracebacks on errors",
    )


class LaminaArgumentParser(argparse.ArgumentParser):
    """Every (sub)parser accepts the global options, before or after the command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("conflict_handler", "resolve")
        top = kwargs.pop("_top", False)
        super().__init__(*args, **kwargs)
        _add_global_options(self, top=top)


def _core_parser() -> tuple[argparse.ArgumentParser, Any]:
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
    return parser, subparsers


def _describe_plugin(plugins: PluginManager, plugin: object) -> tuple[str, str]:
    """(plugin name, "distribution version") of a registered plugin object."""
    name = str(plugins.pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin)))
    for loaded in getattr(plugins, "loaded", ()):
        if loaded.plugin is plugin or loaded.name == name:
            dist = f"{loaded.distribution} {loaded.version}".strip()
            return name, dist or "no distribution"
    return name, "no distribution"


def _report_cli_plugin(plugins: PluginManager, plugin: object, exc: BaseException) -> None:
    name, dist = _describe_plugin(plugins, plugin)
    module = getattr(plugin, "__file__", None) or getattr(plugin, "__name__", "")
    print(
        f"lamina: warning: plugin {name!r} ({dist}{f', {module}' if module else ''}) could "
        f"not add its commands: {type(exc).__name__}: {exc}\n"
        f"  fix: upgrade or fix that distribution, or add {name!r} to disable_plugins in "
        "lamina.toml",
        file=sys.stderr,
    )


def build_parser(plugins: PluginManager | None = None) -> argparse.ArgumentParser:
    """The full ``lamina`` parser: core commands, then plugins' commands.

    Plugins add theirs through one pluggy call of ``lamina_cli_commands``, so
    ``tryfirst``/``trylast``, wrappers and hook tracing apply. A plugin whose hook raises
    is reported once on stderr (its name, distribution and the ``disable_plugins`` fix)
    and left out; the other plugins' commands are still there.
    """
    if plugins is None:
        return _core_parser()[0]
    from lamina.kernel.hookcalls import call_isolated

    built: list[argparse.ArgumentParser] = []

    def fresh() -> dict[str, Any]:
        # a failed call may have added some commands already: each call gets a new parser
        parser, subparsers = _core_parser()
        built.append(parser)
        return {"subparsers": subparsers}

    try:
        _, failures = call_isolated(plugins.pm, "lamina_cli_commands", fresh)
    except Exception as exc:  # no plugin fails on its own: leave them all out, say why
        print(
            "lamina: warning: plugins could not add their commands: "
            f"{type(exc).__name__}: {exc}\n  fix: run `lamina plugins` to see them; "
            "disable the one at fault with disable_plugins in lamina.toml",
            file=sys.stderr,
        )
        return _core_parser()[0]
    for failure in failures:
        _report_cli_plugin(plugins, plugins.pm.get_plugin(failure.plugin), failure.error)
    return built[-1]


#: Environment variable that turns on tracing of every hook call (set by ``-vv``).
TRACE_HOOKS_ENV = "LAMINA_TRACE_HOOKS"


def _preparse(argv: Sequence[str]) -> argparse.Namespace:
    """What must be known before the plugin manager is built: the config file (for
    ``disable_plugins``) and the verbosity (``-vv`` traces hook calls)."""
    pre = _SilentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config")
    pre.add_argument("-v", "--verbose", action="count", default=0)
    try:
        ns, _ = pre.parse_known_args(argv)
    except ValueError:  # e.g. --config without a value: the real parser says so, once
        ns = argparse.Namespace(config=None, verbose=0)
    return ns


class _SilentParser(argparse.ArgumentParser):
    """Raises on bad usage instead of printing it: the full parser reports it."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


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


def add_branch_arguments(parser: argparse.ArgumentParser) -> None:
    """``--branch NAME`` and ``--production``, for every command that runs, deploys or
    writes something a branch owns (see :mod:`lamina.namespaces`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--branch", metavar="NAME",
        help="act for this branch of the project (default: your own branch)",
    )
    group.add_argument(
        "--production", action="store_true",
        help="act for the project's production branch (explicit, and recorded)",
    )


def add_namespace_arguments(parser: argparse.ArgumentParser) -> None:
    """``--namespace NS`` and ``--all``, for every command that reads runs (see
    :class:`lamina.client.Client`): the default is your own namespace."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--namespace", metavar="NS",
        help="read runs of this namespace (user:NAME or project:P/branch:B; "
        "default: your own)",
    )
    group.add_argument("--all", action="store_true", help="read runs of every namespace")


def namespace_from_args(args: argparse.Namespace) -> Any:
    """The namespace ``--namespace``/``--all`` chose: a name, None for every namespace,
    or :data:`lamina.client.client.DEFAULT` (the user's own)."""
    from lamina.client.client import DEFAULT

    if getattr(args, "all", False):
        return None
    return getattr(args, "namespace", None) or DEFAULT


def client_from_args(args: argparse.Namespace) -> Client:
    """The Client of the stack chosen by the arguments, reading the namespace
    ``--namespace``/``--all`` chose (default: the user's own)."""
    from lamina.client import Client

    return Client(load_stack_from_args(args), namespace=namespace_from_args(args))


def load_stack_from_args(args: argparse.Namespace, *, project: str | None = None) -> Stack:
    """The stack chosen by ``--stack``/``--config`` (or their environment variables and
    the config file), sharing this invocation's plugin manager. Its ``branch`` follows
    ``--branch``/``--production`` when the command has them; ``project`` (a flow's own)
    wins over the config's."""
    from lamina.namespaces import resolve_branch
    from lamina.stack import Stack

    stack = Stack.load(
        getattr(args, "stack", None),
        config_file=getattr(args, "config", None),
        plugins=plugins_from_args(args),
    )
    branch, production = getattr(args, "branch", None), getattr(args, "production", False)
    if branch or production or project:
        stack.branch = resolve_branch(
            user=stack.branch.user, project=project or stack.config.project,
            branch=branch, production=production,
        )
    return stack


def _print_error(exc: BaseException, verbose: int) -> None:
    """``lamina: error: MESSAGE`` (and its fix), once. Under ``-v`` the traceback comes
    first, without its last line: that line would be the same message again."""
    if verbose:
        import traceback

        te = traceback.TracebackException.from_exception(exc)
        lines = list(te.format())
        last = list(te.format_exception_only())
        if lines[-len(last):] == last:
            lines = lines[: -len(last)]
        sys.stderr.write("".join(lines))
        print(f"lamina: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
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
        if pre.verbose >= 2:  # before the plugin manager exists, so it traces every call
            os.environ[TRACE_HOOKS_ENV] = "1"
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
    except OSError as exc:  # the disk under the datastore, reached outside a lamina call
        from lamina.datastore.diskerrors import storage_error

        disk = storage_error(exc, "lamina could not write")
        if disk is None:
            raise
        _print_error(disk, verbose)
        return 1
