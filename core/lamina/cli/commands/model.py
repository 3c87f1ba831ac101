"""``lamina model``: the model registry (register, list, versions, show, history,
promote, alias) and black-box checks (``lamina model check``)."""

from __future__ import annotations

import argparse
from typing import Any

from lamina.cli.commands import show_help


def _plain(value: Any) -> str:
    """``value`` as one terminal-safe line: control characters shown escaped."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _stack(args: argparse.Namespace) -> Any:
    from lamina.cli.main import load_stack_from_args

    return load_stack_from_args(args)


def _print_json(data: Any) -> None:
    import json

    print(json.dumps(data, indent=2, default=str))


def _version_dict(v: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(v)


def _line(v: Any) -> str:
    aliases = f"  @{' @'.join(v.aliases)}" if v.aliases else ""
    return (f"{v.name}/{v.version}{_plain(aliases)}  {_plain(v.ref)}  by {_plain(v.registered_by)} "
            f"at {_plain(v.registered_at)}")


def cmd_register(args: argparse.Namespace) -> int:
    from lamina.registry import register_model

    metadata: dict[str, Any] = {}
    for item in args.meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from lamina.errors import ModelRegistryError

            raise ModelRegistryError(f"--meta {item!r} is not KEY=VALUE",
                                     hint="e.g. --meta description='first gradient boosting'")
        metadata[key] = value
    stack = _stack(args)
    v = register_model(args.name, args.ref, metadata=metadata, stack=stack)
    if args.json:
        _print_json(_version_dict(v))
    else:
        print(f"registered {v.name} version {v.version} -> {_plain(v.ref)} "
              f"(namespace {_plain(v.namespace)})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from lamina.registry import get_registry

    registry = get_registry(_stack(args))
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        versions = registry.versions(name)
        latest = versions[-1]
        aliases = {a: v.version for v in versions for a in v.aliases}
        rows.append({"name": name, "versions": len(versions), "latest": latest.version,
                     "aliases": aliases})
    if args.json:
        _print_json(rows)
    elif not rows:
        print(f"no models registered in {_plain(registry_namespace(registry))}")
    else:
        for r in rows:
            shown = ", ".join(f"@{a}={v}" for a, v in sorted(r["aliases"].items()))
            print(f"{_plain(r['name'])}  {r['versions']} version(s), latest {r['latest']}"
                  + (f"  {_plain(shown)}" if shown else ""))
    return 0


def registry_namespace(registry: Any) -> str:
    return str(getattr(registry, "namespace", "this namespace"))


def cmd_versions(args: argparse.Namespace) -> int:
    from lamina.registry import versions

    found = versions(args.name, stack=_stack(args))
    if args.json:
        _print_json([_version_dict(v) for v in found])
    else:
        for v in found:
            print(_line(v))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from lamina.registry import checks, gate, resolve

    stack = _stack(args)
    v = resolve(args.ref, stack=stack)
    results = checks(v.name, v.version, stack=stack)
    status = gate(v.name, v.version, stack=stack)
    if args.json:
        _print_json({**_version_dict(v), "checks": results,
                     "gate": {"passed": status.passed, "reason": status.reason}})
        return 0
    print(_line(v))
    print(f"  run {_plain(v.run_id)}, namespace {_plain(v.namespace)}")
    for key, value in sorted(v.metadata.items()):
        print(f"  {_plain(key)}: {_plain(value)}")
    mark = {True: "PASSED", False: "FAILED", None: "none"}[status.passed]
    print(f"  gate: {mark} ({_plain(status.reason)})")
    for r in results:
        print(f"  check {_plain(r.get('suite'))} at {_plain(r.get('at'))} by "
              f"{_plain(r.get('user'))}: {'passed' if r.get('passed') else 'FAILED'}"
              + (f" vs {_plain(r['champion'])}" if r.get("champion") else "")
              + (f" (report: lamina model report {v.name}/{v.version})" if r.get("report") else ""))
        for c in r.get("checks", []):
            print(f"    {'ok  ' if c.get('passed') else 'FAIL'} {_plain(c.get('name'))}: "
                  f"{_plain(c.get('detail'))}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    import attrs

    from lamina.registry import history

    changes = history(args.name, stack=_stack(args))
    if args.json:
        _print_json([attrs.asdict(c) for c in changes])
        return 0
    if not changes:
        print(f"no alias of {_plain(args.name)} was ever set")
    for c in changes:
        move = (f"@{c.alias} -> {c.version}" if c.version is not None
                else f"@{c.alias} removed")
        print(f"{_plain(c.at)}  {_plain(move)}"
              + (f" (was {c.previous})" if c.previous is not None else "")
              + f"  by {_plain(c.user)}" + ("  FORCED" if c.forced else "")
              + (f": {_plain(c.reason)}" if c.reason else ""))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from lamina.registry import promote

    change = promote(args.name, args.version, args.alias, reason=args.reason or "",
                     force=args.force, stack=_stack(args))
    print(f"{_plain(change.name)}@{_plain(change.alias)} -> version {change.version}"
          + (f" (was {change.previous})" if change.previous is not None else "")
          + (" FORCED past a failed gate" if change.forced else ""))
    return 0


def cmd_alias(args: argparse.Namespace) -> int:
    from lamina.errors import ModelRegistryError
    from lamina.registry import promote, remove_alias

    stack = _stack(args)
    if args.remove:
        if args.version is not None:
            raise ModelRegistryError("--remove takes no version",
                                     hint=f"lamina model alias {args.name} {args.alias} --remove")
        change = remove_alias(args.name, args.alias, reason=args.reason or "", stack=stack)
        print(f"removed {_plain(change.name)}@{_plain(change.alias)} (was {change.previous})")
        return 0
    if args.version is None:
        raise ModelRegistryError(
            f"say which version {args.alias!r} points at, or --remove it",
            hint=f"lamina model alias {args.name} {args.alias} VERSION (or --remove)")
    change = promote(args.name, args.version, args.alias, reason=args.reason or "",
                     force=args.force, stack=stack)
    print(f"{_plain(change.name)}@{_plain(change.alias)} -> version {change.version}"
          + (" FORCED past a failed gate" if change.forced else ""))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamina import checks

    stack = _stack(args)
    result = checks.run(args.suite, f"model:{args.name}/{args.version}", args.data,
                        champion=args.champion, stack=stack, record=not args.no_record,
                        trust=True if args.trust else None)
    if args.html:
        Path(args.html).write_text(
            result.to_html(title=f"Checks of {args.name} version {args.version}"),
            encoding="utf-8")
    if args.json:
        _print_json(result.to_dict())
    else:
        print(_plain_lines(str(result)))
        if args.html:
            print(f"report written to {_plain(args.html)}")
    return 0 if result.passed else 1


def _plain_lines(text: str) -> str:
    return "\n".join(_plain(line) for line in text.splitlines())


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamina.errors import ModelRegistryError
    from lamina.registry import checks, resolve

    stack = _stack(args)
    v = resolve(args.ref, stack=stack)
    found = [r for r in checks(v.name, v.version, stack=stack) if r.get("report")]
    if not found:
        raise ModelRegistryError(f"{v.name} version {v.version} has no check report",
                                 hint=f"lamina model check {v.name} {v.version} --suite "
                                 "checks.toml --data DATA")
    html = stack.artifacts.get_bytes(found[-1]["report"]).decode()
    Path(args.output).write_text(html, encoding="utf-8")
    print(f"wrote {_plain(args.output)} (suite {_plain(found[-1].get('suite'))})")
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_branch_arguments

    p = subparsers.add_parser(
        "model", help="the model registry: versions, aliases, checks and gates",
        description="Register a run's step as a numbered version of a named model, move "
        "aliases (champion, challenger...) with a recorded reason, and run check suites "
        "whose results gate promotion and deployment. Versions live in the namespace of "
        "your branch (--branch NAME, --production).",
    )
    sub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND")

    def add(name: str, help_text: str, handler: Any, *, json_flag: bool = True
            ) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help_text, description=help_text)
        add_branch_arguments(q)
        if json_flag:
            q.add_argument("--json", action="store_true", help="print JSON")
        q.set_defaults(handler=handler)
        return q

    q = add("register", "register a run's step output as the next version of a model",
            cmd_register)
    q.add_argument("ref", metavar="RUN/STEP", help="RUN/STEP or FLOW/RUN/STEP")
    q.add_argument("--name", required=True, help="the model's name (e.g. churn)")
    q.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="a field kept with the version (repeatable)")
    add("list", "the registered models, their latest version and aliases", cmd_list)
    q = add("versions", "every version of a model", cmd_versions)
    q.add_argument("name")
    q = add("show", "one version: where it comes from, its aliases, checks and gate",
            cmd_show)
    q.add_argument("ref", metavar="NAME[/VERSION|@ALIAS]")
    q = add("history", "every alias move of a model: who, when, why", cmd_history)
    q.add_argument("name")
    q = add("promote", "point an alias (default champion) at a version; refused when its "
            "checks failed unless --force", cmd_promote, json_flag=False)
    q.add_argument("name")
    q.add_argument("version", type=int)
    q.add_argument("--alias", default="champion", help="the alias (default: champion)")
    q.add_argument("--reason", help="why (recorded)")
    q.add_argument("--force", action="store_true",
                   help="promote a version whose checks failed (recorded as forced)")
    q = add("alias", "set or --remove an alias", cmd_alias, json_flag=False)
    q.add_argument("name")
    q.add_argument("alias")
    q.add_argument("version", type=int, nargs="?")
    q.add_argument("--remove", action="store_true", help="remove the alias")
    q.add_argument("--reason", help="why (recorded)")
    q.add_argument("--force", action="store_true",
                   help="point it at a version whose checks failed (recorded as forced)")
    q = add("check", "run a check suite on a version; the result gates promote and deploy "
            "(exit status 1 when it fails)", cmd_check)
    q.add_argument("name")
    q.add_argument("version", type=int)
    q.add_argument("--suite", required=True, help="the suite (checks.toml)")
    q.add_argument("--data", required=True, help="the data (Parquet or CSV)")
    q.add_argument("--champion", metavar="REF",
                   help="compare with this version (default: model:NAME@champion)")
    q.add_argument("--html", metavar="PATH", help="also write the HTML report here")
    q.add_argument("--no-record", action="store_true",
                   help="do not store the result with the version (a dry check)")
    q.add_argument("--trust", action="store_true",
                   help="load a model pickled by a run outside your trusted namespaces "
                   "(see docs/security.md)")
    q = add("report", "write the HTML report of a version's latest check", cmd_report,
            json_flag=False)
    q.add_argument("ref", metavar="NAME[/VERSION|@ALIAS]")
    q.add_argument("-o", "--output", default="model-checks.html", help="where to write it")
    p.set_defaults(handler=show_help(p))
