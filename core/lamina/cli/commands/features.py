"""``lamina features list|show|diff|apply|materialize``: the feature registry from the
shell, a thin layer over :class:`lamina.features.store.LocalFeatureStore`."""

from __future__ import annotations

import argparse
from typing import Any

from lamina.cli.commands import show_help


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "features",
        help="feature definitions: list, show, diff versions, apply, materialize",
        description="The feature store of the stack: versioned definitions (entities, "
        "feature views, feature services), and materialization into the online store.",
    )
    sub = p.add_subparsers(dest="features_command", metavar="COMMAND", title="commands")
    p.set_defaults(handler=show_help(p))

    lst = sub.add_parser("list", help="the live definitions, with their versions")
    lst.add_argument("--revision", type=int, help="as of this registry revision")
    lst.add_argument("--json", action="store_true", help="print JSON for tools")
    lst.set_defaults(handler=run_list)

    show = sub.add_parser("show", help="one definition (newest version, or --version N)")
    show.add_argument("name", help="an entity, feature view or feature service")
    show.add_argument("--version", type=int, help="a stored version")
    show.add_argument("--json", action="store_true", help="print JSON for tools")
    show.set_defaults(handler=run_show)

    diff = sub.add_parser(
        "diff",
        help="what changed between two registry revisions (or two versions of NAME)",
        description="Without NAME: compare registry revisions A and B (default: the one "
        "before the newest, and the newest). With NAME: compare its versions A and B "
        "(default: the previous and the newest).",
    )
    diff.add_argument("a", nargs="?", type=int, help="revision (or version) A")
    diff.add_argument("b", nargs="?", type=int, help="revision (or version) B")
    diff.add_argument("--name", help="compare versions of this definition")
    diff.add_argument("--json", action="store_true", help="print JSON for tools")
    diff.set_defaults(handler=run_diff)

    apply = sub.add_parser(
        "apply", help="record the definitions found in Python files (new versions only)"
    )
    apply.add_argument("files", nargs="+", help="Python files defining Entity, FeatureView, "
                       "FeatureService objects at module level")
    apply.set_defaults(handler=run_apply)

    mat = sub.add_parser("materialize", help="load the newest values into the online store")
    mat.add_argument("end", nargs="?", help="end of the window (ISO time, exclusive); "
                     "with --incremental, default: when the flow's step runs")
    mat.add_argument("--start", help="start of the window (ISO time); default: "
                     "incremental, from where the last materialization of each view ended")
    mat.add_argument("--view", action="append", help="only this view (repeatable)")
    mat.add_argument("--incremental", action="store_true",
                     help="write the materialization as a flow file (one step, from where each "
                     "view's last materialization ended) and run it on the stack's "
                     "orchestrator, recorded like any run; deploy the file to schedule it")
    mat.add_argument("--flow-file", default=None, metavar="PATH",
                     help="with --incremental: where to write the flow "
                     "(default: materialize_features.py in the project)")
    mat.add_argument("--write-only", action="store_true",
                     help="with --incremental: write the flow file, do not run it")
    mat.set_defaults(handler=run_materialize)


def _store(args: argparse.Namespace) -> Any:
    from lamina.cli.main import load_stack_from_args
    from lamina.features.training import get_store

    return get_store(load_stack_from_args(args))


def _when(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def run_list(args: argparse.Namespace) -> int:
    from lamina.cli.output import echo, print_json, print_table

    store = _store(args)
    versions = store.list_definitions(args.revision)
    if args.json:
        print_json([{"kind": v.kind, "name": v.name, "version": v.version,
                     "fingerprint": v.fingerprint, "revision": v.revision,
                     "applied_at": v.applied_at} for v in versions])
        return 0
    if not versions:
        echo("no feature definitions (apply some: lamina features apply FILE.py)")
        return 0
    rows = []
    for v in versions:
        spec = v.spec or {}
        detail = ""
        if v.kind == "feature_view":
            detail = f"{len(spec.get('features', []))} features from {spec.get('source')}"
        elif v.kind == "feature_service":
            detail = ", ".join(spec.get("features", []))
        elif v.kind == "entity":
            detail = "keys: " + ", ".join(spec.get("join_keys", []))
        rows.append((v.kind, v.name, f"v{v.version}", v.fingerprint[:12], _when(v.applied_at),
                     detail))
    print_table(("kind", "name", "version", "fingerprint", "applied", "detail"), rows,
                title=f"feature registry, revision {store.registry.revision()}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import json

    from lamina.cli.output import echo, print_json

    store = _store(args)
    v = store.show(args.name, args.version)
    data = {"kind": v.kind, "name": v.name, "version": v.version, "fingerprint": v.fingerprint,
            "revision": v.revision, "applied_at": v.applied_at, "definition": v.spec}
    if args.json:
        print_json(data)
        return 0
    history = store.history(args.name)
    echo(f"{v.kind} {v.name} v{v.version} (fingerprint {v.fingerprint[:12]}, revision "
         f"{v.revision}, applied {_when(v.applied_at)}; {len(history)} version(s))")
    echo(json.dumps(v.spec, indent=2, sort_keys=True) if v.spec else "(removed)")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from lamina.cli.output import echo, print_json

    store = _store(args)
    changes = store.diff(args.a, args.b, name=args.name)
    if args.json:
        print_json([{"definition": c[0], "field": c[1], "a": c[2], "b": c[3]} for c in changes])
        return 0
    if not changes:
        echo("no difference")
        return 0
    current = None
    for what, field, a, b in changes:
        if what != current:
            echo(what + ":")
            current = what
        echo(f"  {field}: {a!r} -> {b!r}")
    return 0


def run_apply(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    from lamina.cli.output import echo
    from lamina.errors import FeatureStoreError
    from lamina.features.definitions import collect

    found: list[Any] = []
    for file in args.files:
        path = Path(file)
        if not path.exists():
            raise FeatureStoreError(f"definitions file {file} does not exist",
                                    hint="pass the path of a Python file")
        spec = importlib.util.spec_from_file_location(f"_lamina_features_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.extend(collect(module))
    if not found:
        raise FeatureStoreError(
            f"no Entity, FeatureView or FeatureService defined at module level in "
            f"{', '.join(args.files)}", hint="define them as module-level variables")
    echo(str(_store(args).apply(found)))
    return 0


def run_materialize(args: argparse.Namespace) -> int:
    from lamina.cli.output import echo
    from lamina.errors import FeatureStoreError

    if args.incremental:
        return _materialize_flow(args)
    if args.flow_file or args.write_only:
        raise FeatureStoreError("--flow-file and --write-only go with --incremental",
                                hint="lamina features materialize --incremental --write-only")
    if not args.end:
        raise FeatureStoreError("lamina features materialize: give END, the end of the window",
                                hint="lamina features materialize 2026-12-01T00:00, or "
                                "--incremental to materialize up to now as a flow run")
    store = _store(args)
    if args.start:
        written = store.materialize(args.start, args.end, args.view)
    else:
        written = store.materialize_incremental(args.end, args.view)
    for view, rows in written.items():
        echo(f"{view}: {rows} keys written")
    return 0


def _materialize_flow(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lamina.cli.commands.run import _run_and_show
    from lamina.cli.main import load_stack_from_args
    from lamina.cli.output import echo
    from lamina.errors import FeatureStoreError
    from lamina.features.schedule import DEFAULT_FILE, write_flow
    from lamina.flow.loader import load_flow_file

    if args.start:
        raise FeatureStoreError(
            "--start does not go with --incremental: each run starts where the last "
            "materialization of each view ended",
            hint="drop --start, or materialize a fixed window without --incremental")
    stack = load_stack_from_args(args)
    path = Path(args.flow_file) if args.flow_file else Path(stack.project_root) / DEFAULT_FILE
    write_flow(path, args.view)
    echo(f"wrote {path}: schedule it with an orchestrator (lamina deploy {path})")
    if args.write_only:
        return 0
    flow = load_flow_file(str(path))
    params = {"end": args.end} if args.end else {}
    return _run_and_show(lambda: flow.run(stack=stack, **params))
