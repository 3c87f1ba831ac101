"""``lamina stack list|show|check``: the stacks of the config, the resolved one, and
whether each of its components can reach its backend."""

from __future__ import annotations

import argparse
from typing import Any

from lamina.cli.commands import show_help


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stack",
        help="list, show and check stacks",
        description="Stacks are chosen in lamina.toml (or [tool.lamina] in pyproject.toml): "
        "one component per layer.",
    )
    sub = p.add_subparsers(dest="stack_command", metavar="COMMAND", title="commands")
    p.set_defaults(handler=show_help(p))

    lst = sub.add_parser("list", help="the stacks defined in the config")
    lst.add_argument("--json", action="store_true", help="print JSON for tools")
    lst.set_defaults(handler=run_list)

    show = sub.add_parser(
        "show",
        help="the resolved stack: component, distribution and options of each layer",
        description="Resolve and validate the stack (builds no component) and print which "
        "installed distribution serves each layer, with its options (secrets masked).",
    )
    _stack_name_argument(show)
    show.add_argument("--json", action="store_true", help="print JSON for tools")
    show.set_defaults(handler=run_show)

    check = sub.add_parser(
        "check",
        help="validate the stack and ask each component to reach its backend",
        description="Validate the stack (config, plugins, each plugin's "
        "lamina_validate_stack), then build each component and call its check(). "
        "Exit status 1 if anything fails.",
    )
    _stack_name_argument(check)
    check.set_defaults(handler=run_check)


def _stack_name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "stack_name", nargs="?", metavar="NAME",
        help="the stack (the same as --stack NAME; default: $LAMINA_STACK, then "
        "default_stack in the config)",
    )


def _load_named_stack(args: argparse.Namespace) -> Any:
    """The stack named by ``NAME`` or ``--stack NAME`` (they must agree if both are
    given), else the configured one."""
    from lamina.cli.main import load_stack_from_args
    from lamina.errors import ConfigError

    name = getattr(args, "stack_name", None)
    given = getattr(args, "stack", None)
    if name and given and name != given:
        raise ConfigError(
            f"two stacks named: {name!r} and --stack {given!r}",
            hint=f"name one: `lamina stack {args.stack_command} {name}`",
        )
    if name:
        args.stack = name
    return load_stack_from_args(args)


def _written(comp: Any) -> str:
    if comp.plugin is None:
        return comp.url or ""
    extra = dict(comp.options)
    if not extra:
        return comp.plugin
    from lamina.cli.output import format_value

    opts = ", ".join(f"{k} = {format_value(v)}" for k, v in extra.items())
    return f"{comp.plugin} ({opts})"


def run_list(args: argparse.Namespace) -> int:
    import os

    from lamina.cli.output import echo, print_json
    from lamina.config import load_config
    from lamina.config.secrets import MASK, has_reference, looks_secret
    from lamina.errors import ConfigError
    from lamina.stack import DEFAULT_COMPONENTS, DEFAULT_STACK, choose_stack

    cfg = load_config(config_file=getattr(args, "config", None))
    try:
        chosen = choose_stack(cfg, getattr(args, "stack", None), os.environ)[0]
    except ConfigError:
        chosen = None

    def masked(comp: Any) -> Any:
        opts = {
            k: (MASK if has_reference(v) or looks_secret(k)
                or (*comp.keys, k) in cfg.secret_keys else v)
            for k, v in comp.options.items()
        }
        return type(comp)(comp.layer, comp.plugin, opts, comp.keys, comp.url)

    if args.json:
        print_json({
            "config_file": str(cfg.path) if cfg.path else None,
            "current": chosen,
            "stacks": {
                name: {layer: {"plugin": c.plugin, "options": masked(c).options}
                       for layer, c in s.components.items()}
                for name, s in cfg.stacks.items()
            },
        })
        return 0
    if not cfg.stacks:
        where = f"{cfg.source.display} defines no stacks" if cfg.source else (
            "No config file found (lamina.toml, or [tool.lamina] in pyproject.toml)")
        echo(f"{where}; the embedded default stack is used:")
        echo(f"* {DEFAULT_STACK}")
        for layer, default_name in DEFAULT_COMPONENTS.items():
            echo(f"    {layer:<13} {default_name}")
        return 0
    echo(f"Stacks in {cfg.source.display if cfg.source else '?'}:")
    for name, s in cfg.stacks.items():
        mark = "*" if name == chosen else " "
        desc = f"  - {s.description}" if s.description else ""
        echo(f"{mark} {name}{desc}")
        for layer, comp in s.components.items():
            echo(f"    {layer:<13} {_written(masked(comp))}")
        for layer, default_name in DEFAULT_COMPONENTS.items():
            if layer not in s.components:
                echo(f"    {layer:<13} {default_name} (default)")
    if chosen is None:
        echo("\nNo stack is selected: pass --stack NAME or set default_stack.")
    return 0


#: Layers that work when not set, and what then serves them (lamina.registry.get_registry).
_IMPLIED = {"registry": "builtin, on the metadata store"}


def run_show(args: argparse.Namespace) -> int:
    from lamina.cli.output import echo, format_value, print_json

    stack = _load_named_stack(args)
    layers = stack.describe()
    if args.json:
        print_json({
            "stack": stack.name,
            "config_file": str(stack.config_file) if stack.config_file else None,
            "project_root": str(stack.project_root),
            "layers": layers,
            "data": stack.describe_data(),
        })
        return 0
    source = (stack.config.source.display if stack.config.source
              else "embedded default, no config file")
    echo(f"Stack {stack.name!r} ({source})")
    echo(f"project root: {stack.project_root}")
    for item in layers:
        if item["component"] is None:
            implied = _IMPLIED.get(item["layer"])
            echo(f"  {item['layer']:<13} " + (f"{implied}  (implied: not set)" if implied
                                              else "(not set)"))
            continue
        origin = " [default]" if item["origin"] == "default" else ""
        dist = f"{item['distribution'] or '(unpackaged)'} {item['version'] or ''}".rstrip()
        echo(f"  {item['layer']:<13} {item['component']}  from {dist}{origin}")
        for key, value in item["options"].items():
            echo(f"      {key} = {format_value(value)}")
    for item in stack.describe_data():
        dist = f"{item['distribution'] or '(unpackaged)'} {item['version'] or ''}".rstrip()
        echo(f"  {'data.' + item['name']:<13} {item['plugin']}  from {dist}")
        for key, value in item["options"].items():
            echo(f"      {key} = {format_value(value)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from lamina.cli.output import echo, status_mark

    stack = _load_named_stack(args)
    failed = False
    try:
        problems = stack.validate()
        echo(f"Checking stack {stack.name!r}")
        if problems:
            failed = True
            echo("Problems:")
            for p in problems:
                echo(f"  {status_mark(False)} {p}")
        for layer, (ok, message) in stack.check().items():
            failed = failed or not ok
            name = (stack.data_source_spec(layer[5:]).name if layer.startswith("data.")
                    else stack.spec(layer).name)
            text = message.replace("\n", "\n        ")
            echo(f"  {status_mark(ok)} {layer:<13} {name}: {text}")
    finally:
        stack.close()
    echo("Stack check failed." if failed else "Stack is ready.")
    return 1 if failed else 0
