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


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped: do not squeeze tables into 80 columns
        console = Console(highlight=False, soft_wrap=True, width=max(console.width, 200))
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
    from lamina.cli.main import load_stack_from_args
    from lamina.client import Client

    return Client(load_stack_from_args(args))


_STATUS_STYLE = {
    "succeeded": "green", "reused": "cyan", "failed": "red", "running": "yellow",
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
    from rich.table import Table

    console = console or _console()
    r = run.record
    console.print(f"[bold]run[/] {escape(r.run_id)}  flow [bold]{escape(r.flow)}[/]  "
                  f"{_status(run.status)}")
    console.print(escape(
        f"  started {_when(r.started_at)}  duration {_secs(r.duration)}  user {r.user}@{r.host}"
        f"  stack {r.stack}"
    ))
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
    for task_id, notes in run.notes().items():
        for note in notes:
            console.print(f"[yellow]note[/] {escape(task_id)}: {escape(note)}")
    for t in run.failed_tasks()[:5]:
        console.print(f"\n[red bold]{escape(t.id)} failed[/] at "
                      f"{escape(f'{t.record.location}: {t.error}')}")
        if t.record.traceback:
            console.print(t.record.traceback.rstrip(), markup=False)
    if run.status == "failed":
        console.print(f"\nfix the step, then: [bold]lamina resume {escape(r.run_id)}[/]")
    elif run.status in ("interrupted", "crashed"):
        console.print(f"\ncontinue with: [bold]lamina resume {escape(r.run_id)}[/]")


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.table import Table

    runs = _client(args).runs(args.flow, status=args.status, tag=args.tag, limit=args.limit)
    if args.json:
        print(json.dumps([_run_json(r) for r in runs], indent=2, default=str))
        return 0
    table = Table(box=None, pad_edge=False)
    for col in ("run", "flow", "status", "started", "duration", "user", "params", "tags"):
        table.add_column(col)
    for run in runs:
        r = run.record
        params = ", ".join(f"{k}={v!r}" for k, v in r.params.items())
        table.add_row(escape(r.run_id), escape(r.flow), _status(r.status), _when(r.started_at),
                      _secs(r.duration), escape(r.user), escape(params[:60]),
                      escape(",".join(r.tags)))
    console = _console()
    if runs:
        console.print(table)
        return 0
    filters = [
        f for f in (args.flow, args.status and f"--status {args.status}",
                    args.tag and f"--tag {args.tag}") if f
    ]
    if filters:
        console.print(f"no runs match {' '.join(filters)}: lamina runs lists them all", markup=False)
    else:
        console.print("no runs yet: lamina run FLOW.py", markup=False)
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


def cmd_show(args: argparse.Namespace) -> int:
    from lamina.client import Run, StepResult

    target = _client(args).get(args.ref)
    console = _console()
    if isinstance(target, Run):
        if args.json:
            print(json.dumps(_run_json(target), indent=2, default=str))
        else:
            print_run(target, console)
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
        if r.metrics:
            console.print(escape("  metrics " + ", ".join(f"{k}={v:g}" for k, v in r.metrics.items())))
        if r.error:
            console.print(f"  [red]error[/] at {escape(f'{r.location}: {r.error}')}")
            if r.traceback:
                console.print(r.traceback.rstrip(), markup=False)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from lamina.client import Run, StepResult

    target = _client(args).get(args.ref)
    if isinstance(target, Run):
        tasks = target.tasks()
    elif isinstance(target, StepResult):
        tasks = target.tasks
    else:
        tasks = [target]
    for t in tasks:
        out = "" if args.stderr else t.stdout
        err = "" if args.stdout else t.stderr
        if not (out or err):
            continue
        if len(tasks) > 1:
            print(f"==> {t.id} <==")
        sys.stdout.write(out)
        sys.stdout.write(err)
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
    _check_output(args.output)
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


def _check_output(output: str) -> None:
    """Refuse an ``-o`` that cannot be the file written: empty, a folder, or in a folder
    that does not exist."""
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


def cmd_tag(args: argparse.Namespace) -> int:
    run = _client(args).run(args.run)
    run.add_tags(*args.tags)
    print(f"{run.id}: tags {', '.join(run.tags)}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="list runs, newest first")
    p.add_argument("flow", nargs="?", help="only runs of this flow")
    p.add_argument("--status", help="succeeded, failed, running, interrupted, crashed")
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--limit", type=int, default=20, help="at most this many runs (default: 20)")
    p.add_argument("--json", action="store_true", help="print the run records as JSON")
    p.set_defaults(handler=cmd_runs)

    p = subparsers.add_parser("show", help="a run, a step or a task: status, timings, results, errors")
    p.add_argument("ref", help=f"RUN, RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS})")
    p.add_argument("--json", action="store_true", help="print the run record (or task records) as JSON")
    p.set_defaults(handler=cmd_show)

    p = subparsers.add_parser("logs", help="what a run's tasks printed")
    p.add_argument("ref", help=f"RUN, RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS})")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--stdout", action="store_true", help="only standard output")
    group.add_argument("--stderr", action="store_true", help="only standard error")
    p.set_defaults(handler=cmd_logs)

    p = subparsers.add_parser("diff", help="what changed between two runs")
    p.add_argument("run_a", help=f"the run to compare from ({RUN_FORMS})")
    p.add_argument("run_b", help="the run to compare to (the same forms)")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(handler=cmd_diff)

    p = subparsers.add_parser("get", help="copy a step's stored result to a file")
    p.add_argument("ref", help=f"RUN/STEP or RUN/STEP/INDEX ({RUN_FORMS})")
    p.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    p.set_defaults(handler=cmd_get)

    p = subparsers.add_parser("tag", help="add tags to a run")
    p.add_argument("run", help=f"the run ({RUN_FORMS})")
    p.add_argument("tags", nargs="+", help="one or more tags")
    p.set_defaults(handler=cmd_tag)
