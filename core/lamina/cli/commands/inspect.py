"""``lamina runs | show | logs | diff | get | tag``: answer "what changed, why did it
break, who did what and when" from the terminal. Each is a thin shell over the Client."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

#: How every command that takes a run names it (resolved by lamina.client.resolve_run).
RUN_FORMS = "RUN is a run id, a unique prefix of one, FLOW/latest or latest"


def _console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, stderr=stderr)
    if not console.is_terminal:  # piped: do not squeeze tables into 80 columns
        console = Console(highlight=False, soft_wrap=True, stderr=stderr,
                          width=max(console.width, 200))
    return console


def escape(text: str) -> str:
    """User text (a tag, a param, a step name, an error) as Rich shows it literally."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _client(args: argparse.Namespace) -> Any:
    from lamina.cli.main import client_from_args

    return client_from_args(args)


_STATUS_STYLE = {
    "succeeded": "green", "reused": "cyan", "failed": "red", "running": "yellow",
    "caught": "yellow",
    "interrupted": "magenta", "crashed": "red",
}


def _status(text: str) -> str:
    return f"[{_STATUS_STYLE.get(text, 'white')}]{escape(text)}[/]"


def _describe_ref(ref: Any) -> str:
    if ref is None:
        return "-"
    info = ", ".join(f"{k}={v}" for k, v in ref.info.items() if k in ("shape", "dtype", "rows", "columns"))
    short = ref.type.rsplit(".", 1)[-1] if ref.type else ref.serializer
    return escape(f"{short}{f' ({info})' if info else ''} {ref.size:,} B {ref.key[:12]}")


def print_run(run: Any, console: Any = None) -> None:
    """The run, its steps and, for failures, where and why."""
    from rich.markup import escape
    from rich.table import Table

    console = console or _console()
    r = run.record
    console.print(f"[bold]run[/] {escape(r.run_id)}  flow [bold]{escape(r.flow)}[/]  "
                  f"{_status(run.status)}")
    console.print(escape(
        f"  started {_when(r.started_at)}  duration {_secs(r.duration)}  user {r.user}@{r.host}"
        f"  stack {r.stack}"
    ))
    console.print(f"  namespace {escape(run.namespace)}"
                  + ("  [bold]production[/]" if r.production else ""))
    if r.params:
        console.print(escape("  params " + ", ".join(f"{k}={v!r}" for k, v in r.params.items())))
    if r.tags:
        console.print(escape("  tags " + ", ".join(r.tags)))
    git = f"{r.git_commit[:10]}{' (dirty)' if r.git_dirty else ''}" if r.git_commit else "not a git repo"
    console.print(escape(f"  code {r.code_hash[:12] or '-'} ({len(r.code_files)} files, "
                         f"{r.flow_file or 'notebook'})  git {git}"))
    if r.resumed_from:
        console.print(escape(f"  resumed from {r.resumed_from}"))
    table = Table(box=None, pad_edge=False)
    for col in ("step", "tasks", "status", "time", "result"):
        table.add_column(col)
    tasks = run.tasks()
    for step in run.steps:
        mine = [t for t in tasks if t.step == step]
        counts: dict[str, int] = {}
        for t in mine:
            counts[t.status] = counts.get(t.status, 0) + 1
        status = " ".join(f"{_status(s)}:{n}" if len(counts) > 1 or n > 1 else _status(s) for s, n in counts.items()) or "[dim]not run[/]"
        spent = sum(t.duration or 0.0 for t in mine if t.status != "reused")
        result = (
            _describe_ref(mine[0].record.output) if len(mine) == 1
            else f"{len(mine)} results" if mine else "-"
        )
        table.add_row(escape(step), str(len(mine)), status, _secs(spent) if mine else "-", result)
    console.print(table)
    reads = [(t.id, d) for t in tasks for d in t.data_inputs]
    if reads:
        console.print("[bold]data inputs[/]")
        for task_id, d in reads:
            console.print(escape(f"  {task_id}: {d.describe()}"))
    for task_id, notes in run.notes().items():
        for note in notes:
            console.print(f"[yellow]note[/] {escape(task_id)}: {escape(note)}")
    for t in run.failed_tasks()[:5]:
        console.print(f"\n[red bold]{escape(t.id)} failed[/] at "
                      f"{escape(f'{t.record.location}: {t.error}')}")
        if t.record.traceback:
            console.print(t.record.traceback.rstrip(), markup=False)
    if run.status == "failed":
        from rich.markup import escape

        failed = run.failed_tasks()
        outside = [t for t in failed if t.record.exit_reason == "backend"]
        if r.error and (not failed or outside):
            # the cause is not a step's: a backend (the datastore...) failed under the run
            console.print(f"\n[red bold]run failed[/]: {escape(r.error)}")
            console.print(f"\nfix the cause, then: [bold]lamina resume {escape(r.run_id)}[/]")
        else:
            console.print(f"\nfix the step, then: [bold]lamina resume {escape(r.run_id)}[/]")
    elif run.status in ("interrupted", "crashed"):
        console.print(f"\ncontinue with: [bold]lamina resume {escape(r.run_id)}[/]")


def cmd_delete(args: argparse.Namespace) -> int:
    """``lamina runs --delete RUN [--force]``."""
    from lamina.retention import delete_run

    client = _client(args)
    run = client.run(args.delete)  # in the reader's namespace: --all for a colleague's run
    done = delete_run(client.stack, run.id, force=args.force)
    forced = f" (forced past: {done.forced_past})" if done.forced_past else ""
    print(f"deleted run {done.run_id} of flow {done.flow}: {done.records} records{forced}; "
          "objects only it used go at the next `lamina gc`")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    if args.delete:
        return cmd_delete(args)
    if args.force:
        from lamina.errors import LaminaError

        raise LaminaError("--force goes with --delete RUN", hint="lamina runs --delete RUN --force")
    client = _client(args)
    runs = client.runs(args.flow, status=args.status, tag=args.tag, limit=args.limit)
    if args.json:
        print(json.dumps([_run_json(r) for r in runs], indent=2, default=str))
        return 0
    table = Table(box=None, pad_edge=False)
    columns = ["run", "flow", "status", "started", "duration", "user", "params", "tags"]
    if client.namespace is None:
        columns.insert(1, "namespace")
    for col in columns:
        table.add_column(col)
    for run in runs:
        r = run.record
        params = ", ".join(f"{k}={v!r}" for k, v in r.params.items())
        row = [escape(r.run_id), escape(r.flow), _status(r.status), _when(r.started_at),
               _secs(r.duration), escape(r.user), escape(params[:60]), escape(",".join(r.tags))]
        if client.namespace is None:
            row.insert(1, escape(run.namespace) + (" [bold]production[/]" if r.production else ""))
        table.add_row(*row)
    console = _console()
    where = ("every namespace" if client.namespace is None
             else f"namespace {client.namespace} (--all for every namespace)")
    if runs:
        console.print(table)
        # which runs these are, on stderr: the table stays the whole of stdout for scripts
        _console(stderr=True).print(f"[dim]{escape(where)}[/]")
        return 0
    filters = [
        f for f in (args.flow, args.status and f"--status {args.status}",
                    args.tag and f"--tag {args.tag}") if f
    ]
    if filters:
        console.print(f"no runs match {' '.join(filters)} in {where}: lamina runs lists them all",
                      markup=False)
    else:
        console.print(f"no runs yet in {where}: lamina run FLOW.py", markup=False)
    return 0


def _run_json(run: Any) -> dict[str, Any]:
    """``id`` (as ``Run.id``), then every field of the run record as stored."""
    import attrs

    return {"id": run.id, **attrs.asdict(run.record)}


def _task_json(task: Any) -> dict[str, Any]:
    """``id`` (``RUN/STEP/INDEX``, as ``Task.id``), then every field of the task record,
    with ``status`` as the Client reports it (``reused`` included)."""
    import attrs

    data = {"id": task.id, **attrs.asdict(task.record)}
    data["status"] = task.status
    return data


def _print_stale_note(stack: Any, record: Any, console: Any) -> None:
    """Say so when the flow file here no longer holds the code the run executed."""
    from rich.markup import escape

    from lamina.errors import LaminaError
    from lamina.runtime.launch import stale_code_note

    try:
        note = stale_code_note(stack, record)
    except (LaminaError, OSError):  # the datastore cannot be read: the run is shown anyway
        return
    if note:
        console.print(f"\n[yellow]note[/]: {escape(note)}")


def _print_registered(stack: Any, run_id: str, console: Any) -> None:
    """The registered model versions made from this run (in the stack's namespace), their
    aliases and the gate of their checks; nothing when there are none."""
    from lamina.errors import LaminaError
    from lamina.registry import gate, get_registry

    try:
        registry = get_registry(stack)
        found = [v for name in registry.names() for v in registry.versions(name)
                 if v.run_id == run_id]
        for v in found:
            status = gate(v.name, v.version, stack=stack)
            mark = {True: "[green]checks passed[/]", False: "[red]checks FAILED[/]",
                    None: "[dim]no checks[/]"}[status.passed]
            aliases = f" @{' @'.join(v.aliases)}" if v.aliases else ""
            console.print(f"  registered {escape(f'{v.name}/{v.version}{aliases}')} "
                          f"({escape(v.ref.rsplit('/', 1)[-1])})  {mark}")
    except LaminaError:
        return  # a registry that cannot answer never hides the run


def cmd_show(args: argparse.Namespace) -> int:
    from lamina.cli.commands.describe import graph_text, is_flow_file
    from lamina.client import Run, StepResult

    if is_flow_file(args.ref):  # a flow file: its DAG, nothing run
        from lamina.flow.loader import load_flow_file

        print(graph_text(load_flow_file(args.ref)))
        return 0

    client = _client(args)
    target = client.get(args.ref)
    console = _console()
    if isinstance(target, Run):
        if args.json:
            print(json.dumps(_run_json(target), indent=2, default=str))
        else:
            print_run(target, console)
            _print_registered(client.stack, target.id, console)
            _print_stale_note(client.stack, target.record, console)
        return 0
    tasks = target.tasks if isinstance(target, StepResult) else [target]
    if args.json:
        print(json.dumps([_task_json(t) for t in tasks], indent=2, default=str))
        return 0
    for t in tasks:
        r = t.record
        console.print(f"[bold]task[/] {escape(t.id)}  {_status(t.status)}  attempt {r.attempt}  "
                      f"{_secs(t.duration)}")
        if r.element:
            console.print(escape(f"  element {r.element}"))
        if r.reused_from:
            console.print(escape(f"  reused from {r.reused_from}"))
        for note in t.notes:
            console.print(f"  [yellow]note[/] {escape(note)}")
        console.print(f"  result {_describe_ref(r.output)}")
        for param, keys in r.inputs.items():
            shown = f"{len(keys)} artifacts" if isinstance(keys, list) else keys[:12]
            console.print(escape(f"  input {param}: {shown}"))
        for d in t.data_inputs:
            console.print(escape(f"  data input {d.describe()}"))
            if d.params:
                console.print(escape("    params " + ", ".join(
                    f"{k}={v!r}" for k, v in d.params.items())))
            console.print(escape(f"    content {d.content_hash[:12] or '-'}  read {d.read_at}"))
        if r.metrics:
            console.print(escape("  metrics " + ", ".join(f"{k}={v:g}" for k, v in r.metrics.items())))
        if r.error:
            console.print(f"  [red]error[/] at {escape(f'{r.location}: {r.error}')}")
            if r.traceback:
                console.print(r.traceback.rstrip(), markup=False)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from lamina.client import Run, StepResult

    if args.follow:
        return _follow_logs(args)
    target = _client(args).get(args.ref)
    if isinstance(target, Run):
        tasks = target.tasks()
    elif isinstance(target, StepResult):
        tasks = target.tasks
    else:
        tasks = [target]
    for t in tasks:
        every = t.attempts()
        attempts = [a for a in every if args.attempt in (None, a.number)]
        for a in attempts:
            out = "" if args.stderr else a.stdout
            err = "" if args.stdout else a.stderr
            if not (out or err):
                continue
            if len(tasks) > 1 or len(attempts) > 1:
                more = f" attempt {a.number} ({a.status})" if len(every) > 1 else ""
                print(f"==> {t.id}{more} <==")
            sys.stdout.write(out)
            sys.stdout.write(err)
    return 0


def _follow_logs(args: argparse.Namespace) -> int:
    """``logs -f``: show the run's output as its tasks print it, until the run ends."""
    import time

    from lamina.client.refs import split_ref
    from lamina.runtime.livelogs import FLUSH_INTERVAL, LinePrefixer, LogFollower

    client = _client(args)
    run_ref, step, address = split_ref(args.ref)
    run = client.run(run_ref)
    index: int | None = None
    if isinstance(address, str) and step is not None:  # I.J of a nested foreach's task
        index = run[step].flat_index(address)
    elif isinstance(address, int):
        index = address
    out = None if args.stderr else sys.stdout
    err = None if args.stdout else sys.stderr
    writer = LinePrefixer(out, err)

    def write(step_: str, index_: int, attempt: int, name: str, text: str) -> None:
        if writer.targets[name] is None or (args.attempt is not None and attempt != args.attempt):
            return
        if index is not None:  # one task: its output as it is
            target = writer.targets[name]
            target.write(text)
            target.flush()
        else:
            writer(step_, index_, attempt, name, text)

    follower = LogFollower(client.stack.artifacts, run.id, write, step=step, index=index)
    try:
        while True:
            running = run.refresh().record.status == "running"
            follower.poll()
            if not running:
                break
            time.sleep(FLUSH_INTERVAL)
    finally:
        writer.close()
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    diff = _client(args).diff(args.run_a, args.run_b)
    if args.json:
        print(json.dumps(diff.to_dict(), indent=2))
    else:
        print(diff.render())
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    import shutil

    from lamina.client import StepResult, Task

    target = _client(args).get(args.ref)
    if isinstance(target, StepResult):
        if len(target.tasks) != 1:
            from lamina.errors import LaminaError

            where = f"step '{target.name}' of run {target.run.id}"
            if not target.tasks:
                raise LaminaError(f"{where} ran no task", hint=f"lamina show {target.run.id}")
            raise LaminaError(
                f"{where} has {len(target.tasks)} tasks; name one",
                hint=f"lamina get {target.run.id}/{target.name}/0 -o FILE",
            )
        target = target.task
    if not isinstance(target, Task):
        from lamina.errors import LaminaError

        raise LaminaError(f"{args.ref!r} is a run; name a step (RUN/STEP) or a task (RUN/STEP/INDEX)")
    store = target.run.client.stack.artifacts
    ref = target.ref
    if args.output == "-":
        with open(store.verify(ref.key, size=ref.size, name=target.id), "rb") as src:
            shutil.copyfileobj(src, sys.stdout.buffer)
        return 0
    _check_output(args.output, force=args.force)
    path = store.verify(ref.key, size=ref.size, name=target.id)
    try:
        shutil.copyfile(path, args.output)
    except OSError as exc:
        from lamina.errors import LaminaError

        raise LaminaError(f"lamina get: cannot write {args.output!r}: {exc.strerror or exc}",
                          hint="give -o a file path in a folder you can write to") from None
    from lamina.datastore.hashing import ALGORITHM

    print(f"wrote {args.output}: {ref.serializer}, {ref.size:,} bytes ({ALGORITHM} {ref.key})")
    return 0


def _check_output(output: str, *, force: bool = False) -> None:
    """Refuse an ``-o`` that cannot be the file written: empty, a folder, in a folder
    that does not exist, or a file that exists (unless ``force``)."""
    import os

    from lamina.errors import LaminaError

    problem = ""
    if not output.strip():
        problem = "-o is empty"
    elif os.path.isdir(output):
        problem = f"-o {output!r} is a folder"
    elif not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        problem = f"-o {output!r}: the folder {os.path.dirname(output) or '.'!r} does not exist"
    if problem:
        raise LaminaError(f"lamina get: {problem}; it must name the file to write",
                          hint="e.g. -o model.pkl (or -o - for standard output)")
    if not force and os.path.exists(output):
        raise LaminaError(f"lamina get: {output!r} exists; nothing was written",
                          hint="add --force to replace it, or name another file with -o")


def cmd_tag(args: argparse.Namespace) -> int:
    run = _client(args).run(args.run)
    if args.remove:
        run.remove_tags(*args.tags)
    else:
        run.add_tags(*args.tags)
    print(f"{run.id}: tags {', '.join(run.tags) or '(none)'}")
    return 0


def register(subparsers: Any) -> None:
    from lamina.cli.main import add_namespace_arguments

    p = subparsers.add_parser("runs", help="list runs, newest first")
    p.add_argument("flow", nargs="?", help="only runs of this flow")
    p.add_argument("--status", help="succeeded, failed, running, interrupted, crashed")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--limit", type=int, default=20, help="at most this many runs (default: 20)")
    p.add_argument("--json", action="store_true", help="print the run records as JSON")
    p.add_argument("--delete", metavar="RUN",
                   help="delete this run's records (refused, naming the reason, when it is "
                   "running, tagged with a protected tag, production, deployed, registered, "
                   "or reused by another run); its objects go at the next `lamina gc`")
    p.add_argument("--force", action="store_true",
                   help="with --delete: delete it even when something keeps it (never a "
                   "running run)")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_runs)

    p = subparsers.add_parser("show", help="a run, a step or a task: status, timings, results, errors")
    p.add_argument("ref", help=f"RUN, RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS}); or FLOW.py "
                   "for the flow's steps, edges and parameters without running it")
    p.add_argument("--json", action="store_true", help="print the run record (or task records) as JSON")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_show)

    p = subparsers.add_parser("logs", help="what a run's tasks printed")
    p.add_argument("ref", help=f"RUN, RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS})")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--stdout", action="store_true", help="only standard output")
    group.add_argument("--stderr", action="store_true", help="only standard error")
    add_namespace_arguments(p)
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep showing what the tasks print until the run ends (lines of "
                   "several tasks are prefixed with STEP[INDEX])")
    p.add_argument("--attempt", type=int, metavar="N",
                   help="only attempt N of each task (default: every attempt, labelled)")
    p.set_defaults(handler=cmd_logs)

    p = subparsers.add_parser("diff", help="what changed between two runs")
    p.add_argument("run_a", help=f"the run to compare from ({RUN_FORMS})")
    p.add_argument("run_b", help="the run to compare to (the same forms)")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_diff)

    p = subparsers.add_parser("get", help="copy a step's stored result to a file")
    p.add_argument("ref", help=f"RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS})")
    p.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    p.add_argument("--force", action="store_true", help="replace the file if it exists")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_get)

    p = subparsers.add_parser("tag", help="add tags to a run (or remove them)")
    p.add_argument("run", help=f"the run ({RUN_FORMS})")
    p.add_argument("tags", nargs="+", help="one or more tags")
    p.add_argument("--remove", action="store_true", help="remove these tags instead")
    add_namespace_arguments(p)
    p.set_defaults(handler=cmd_tag)
