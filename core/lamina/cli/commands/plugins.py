"""``lamina plugins``: what is installed, what each plugin offers, and what is broken."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plugins",
        help="list installed plugins, their components and hooks, and broken ones",
        description="List every plugin distribution: version, entry point, the components "
        "(layer/name) and hooks it provides; plugins that failed to load, with their "
        "error; component names offered twice; hook names that match no lamina hook.",
    )
    p.add_argument("--json", action="store_true", help="print JSON for tools")
    p.set_defaults(handler=run)


def report(pm: Any) -> dict[str, Any]:
    """Everything ``lamina plugins`` shows, as plain data."""
    by_plugin = pm.components_by_plugin()  # a failing component hook lands in broken
    data_by_plugin = pm.data_sources_by_plugin()
    plugins = []
    for p in pm.loaded:
        plugins.append({
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "entry_point": p.entry_point,
            "module": p.module,
            "hooks": list(p.hooks),
            "components": [
                {"layer": c.layer, "name": c.name, "description": c.description}
                for c in by_plugin.get(p.name, [])
            ] + [
                {"layer": "data", "name": s.name, "description": s.description}
                for s in data_by_plugin.get(p.name, [])
            ],
        })
    return {
        "autoload": pm.autoload,
        "plugins": plugins,
        "broken": [
            {"name": b.name, "distribution": b.distribution, "version": b.version,
             "entry_point": b.entry_point, "error": b.error, "traceback": b.traceback}
            for b in pm.broken
        ],
        "conflicts": [
            {"layer": layer, "name": name, "distributions": dists}
            for layer, name, dists in pm.conflicts()
        ],
        "unknown_hooks": [{"plugin": p, "hook": h} for p, h in pm.unknown_hooks()],
        "undecorated_hooks": [
            {"plugin": p, "function": f} for p, f in pm.undecorated_hooks()
        ],
        "disabled": list(pm.skipped),
    }


def by_distribution(plugins: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Group the plugins of :func:`report` under one ``"distribution version"`` heading each.

    A distribution that registers several entry points (the core registers its builtin
    backends as four) is listed once, its entry points beneath it in load order; plugins
    registered without a distribution share the ``(unpackaged)`` heading.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in plugins:
        heading = f"{p['distribution'] or '(unpackaged)'} {p['version'] or ''}".rstrip()
        groups.setdefault(heading, []).append(p)
    return list(groups.items())


def run(args: argparse.Namespace) -> int:
    from lamina.cli.main import plugins_from_args
    from lamina.cli.output import echo, print_json
    from lamina.kernel.suggest import did_you_mean

    pm = plugins_from_args(args)
    data = report(pm)
    if args.json:
        print_json(data)
        return 0
    for i, (heading, entries) in enumerate(by_distribution(data["plugins"])):
        if i:
            echo("")
        echo(heading)
        for p in entries:
            echo(f"  entry point: {p['entry_point'] or p['name']}")
            comps = ", ".join(f"{c['layer']}/{c['name']}" for c in p["components"])
            echo(f"  components:  {comps or '-'}")
            echo(f"  hooks:       {', '.join(p['hooks']) or '-'}")
    if not data["autoload"]:
        echo("\nPlugin autoloading is off (LAMINA_DISABLE_PLUGIN_AUTOLOAD): only the builtin "
             "plugin is loaded.")
    if data["disabled"]:
        echo(f"\nDisabled (disable_plugins): {', '.join(data['disabled'])}")
    if data["broken"]:
        echo("\nBroken plugins (not loaded; everything else works):")
        for b in data["broken"]:
            echo(f"  {b['distribution'] or '(unpackaged)'} {b['version']}  "
                 f"entry point {b['entry_point'] or b['name']}")
            echo(f"    error: {b['error']}")
            if getattr(args, "verbose", 0) and b["traceback"]:
                echo("    " + b["traceback"].rstrip().replace("\n", "\n    "))
    if data["conflicts"]:
        echo("\nConflicts (a stack naming one of these fails until one is removed):")
        for c in data["conflicts"]:
            echo(f"  {c['layer']}/{c['name']} is offered by {', '.join(c['distributions'])}")
    if data["unknown_hooks"]:
        echo("\nUnknown hooks (never called; misspelled?):")
        names = pm.hook_names()
        for u in data["unknown_hooks"]:
            echo(f"  plugin {u['plugin']!r}: {u['hook']}{did_you_mean(u['hook'], names)}")
    if data["undecorated_hooks"]:
        echo("\nFunctions named like hooks but not decorated with @lamina.hookimpl (never "
             "called):")
        for u in data["undecorated_hooks"]:
            echo(f"  plugin {u['plugin']!r}: {u['function']}")
    return 0
