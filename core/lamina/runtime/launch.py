"""Start a run: validate the flow, snapshot its code and environment, record the run,
hand it to the stack's orchestrator, and return the finished run. ``resume`` is the same
with an earlier run's successful tasks offered for reuse."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.client.refs import resolve_run
from lamina.config.recorded import datastore_spec, record_stack
from lamina.errors import LaminaError, RunFailedError, RunInterruptedError
from lamina.logs import get_logger
from lamina.records import RunRecord
from lamina.runtime.context import RunContext
from lamina.runtime.layout import run_manifest_key, task_records_prefix

if TYPE_CHECKING:
    from lamina.client import Run
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.stack import Stack

log = get_logger("lamina.run")


def flow_file_of(flow: Flow) -> str:
    """The file that defines the flow's steps, or "" for a notebook / interactive flow."""
    for step in flow.steps.values():
        if os.path.isfile(step.file):
            return os.path.abspath(step.file)
    return ""


def snapshot_code(flow: Flow, stack: Stack, artifacts: ArtifactStore) -> tuple[str, dict[str, str], str]:
    """Store the flow file and the local modules it imports; return (relative flow file,
    {relative path: object key}, code hash)."""
    from lamina.versioning.code import code_hash, local_modules, snapshot_files

    flow_file = flow_file_of(flow)
    if not flow_file:
        return "", {}, ""
    root = str(stack.project_root)
    if not flow_file.startswith(root.rstrip(os.sep) + os.sep):
        root = os.path.dirname(flow_file)
    sources = snapshot_files(local_modules(flow_file, root), root)
    files = {rel: artifacts.put_bytes(data) for rel, data in sorted(sources.items())}
    return os.path.relpath(flow_file, root), files, code_hash(files)


def capture_environment(artifacts: ArtifactStore, flow_file: str) -> dict[str, Any]:
    """What a run records about where it ran: Python, platform, installed packages, git
    state of the flow's folder (the package list stored once as an object)."""
    from lamina.versioning import environment

    packages = environment.installed_packages()
    commit, dirty = environment.git_state(os.path.dirname(flow_file) if flow_file else os.getcwd())
    return {
        "python_version": environment.python_version(),
        "packages_key": artifacts.put_bytes(json.dumps(packages, sort_keys=True).encode()),
        "git_commit": commit,
        "git_dirty": dirty,
        "user": environment.current_user(),
        "host": environment.hostname(),
    }


def launch_run(
    flow: Flow,
    *,
    stack: Stack | str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    cache: bool = False,
    raise_on_failure: bool = True,
    reuse: dict[str, dict[str, Any]] | None = None,
    resumed_from: str = "",
) -> Run:
    """Run ``flow`` to the end and return the finished :class:`lamina.client.Run`."""
    from lamina.client import Client
    from lamina.stack import resolve_stack
    from lamina.versioning.ids import new_run_id

    stack = resolve_stack(stack)
    graph = flow.graph(dict(params or {}))
    problems = stack.validate(for_run=True)
    if problems:
        raise LaminaError(
            f"stack '{stack.name}' is not usable: " + "; ".join(problems),
            hint="lamina stack check",
        )
    artifacts = stack.artifacts
    run_id = new_run_id()
    flow_file, code_files, code_hash = snapshot_code(flow, stack, artifacts)
    env = capture_environment(artifacts, flow_file_of(flow))
    recorded_stack = record_stack(stack)
    record = record_run(
        stack, flow, graph, run_id, flow_file=flow_file, flow_path=flow_file_of(flow),
        code_files=code_files, code_hash=code_hash, env=env, tags=tags, pid=os.getpid(),
        orchestrator=stack.spec("orchestrator").name, resumed_from=resumed_from,
        stack_record=recorded_stack,
    )
    step_code = record.step_code
    ctx = RunContext(
        run_id=run_id,
        flow=flow,
        graph=graph,
        stack=stack,
        artifacts=artifacts,
        record=record,
        step_code=step_code,
        cache=cache,
        reuse=reuse or {},
        reused_from_run=resumed_from,
        datastore_spec=datastore_spec(recorded_stack),
    )
    try:
        final = stack.orchestrator.run(ctx, stack)
    except RunInterruptedError as err:
        stack.hook.lamina_on_run_error(run=stack.metadata.get_run(run_id), error=err, stack=stack)
        raise
    except BaseException as err:
        stack.metadata.finish_run(
            run_id, status="failed", finished_at=time.time(), error=f"{type(err).__name__}: {err}"
        )
        stack.hook.lamina_on_run_error(run=stack.metadata.get_run(run_id), error=err, stack=stack)
        raise
    run = Client(stack).run(run_id)
    log.info("run finished", flow=flow.name, run=run_id, status=final.status)
    if final.status == "succeeded":
        stack.hook.lamina_after_run(run=final, stack=stack)
        return run
    error = RunFailedError(
        f"run {run_id} of flow '{flow.name}' failed: {final.error}",
        run=run,
        hint=f"lamina show {run_id}   (then fix and: lamina resume {run_id})",
    )
    stack.hook.lamina_on_run_error(run=final, error=error, stack=stack)
    if raise_on_failure:
        raise error
    return run


def record_run(
    stack: Stack,
    flow: Flow,
    graph: Any,
    run_id: str,
    *,
    flow_file: str,
    flow_path: str,
    code_files: Mapping[str, str],
    code_hash: str,
    env: Mapping[str, Any],
    tags: Sequence[str],
    pid: int,
    orchestrator: str,
    orchestrator_run_id: str = "",
    resumed_from: str = "",
    stack_record: Mapping[str, Any] | None = None,
    **manifest_extra: Any,
) -> RunRecord:
    """Open a run: write its manifest to the datastore (what tasks anywhere read), create
    its record in the metadata store and call ``lamina_before_run``. One path for runs
    launched here and runs an orchestrator starts (:func:`lamina.runtime.stepwise.start_run`).

    The manifest records the stack (:func:`lamina.config.recorded.record_stack`, or
    ``stack_record`` when the caller made it already), so that ``python -m lamina task``
    rebuilds the run's own components, secrets re-read from its environment."""
    from lamina.versioning.code import function_code_hash

    step_code = {name: function_code_hash(step.fn) for name, step in flow.steps.items()}
    record = RunRecord(
        run_id=run_id,
        flow=flow.name,
        status="running",
        started_at=time.time(),
        params=dict(graph.params),
        tags=tuple(dict.fromkeys(tags)),
        pid=pid,
        stack=stack.name,
        datastore_url=stack.redact(stack.datastore.url),  # ${VAR} kept, never its value
        flow_file=flow_file,
        code_hash=code_hash,
        code_files=dict(code_files),
        step_code=step_code,
        resumed_from=resumed_from,
        orchestrator=orchestrator,
        orchestrator_run_id=orchestrator_run_id,
        steps=graph.order,
        **env,
    )
    manifest = run_manifest(
        run_id, flow, graph, step_code, flow_file=flow_file, flow_path=flow_path,
        code_files=code_files, resumed_from=resumed_from,
        stack=dict(stack_record) if stack_record is not None else record_stack(stack),
        **manifest_extra,
    )
    stack.artifacts.put_json(run_manifest_key(run_id), manifest, exclusive=True)
    stack.metadata.create_run(record)
    log.info("run started", flow=flow.name, run=run_id, stack_name=stack.name,
             **manifest_extra)
    stack.hook.lamina_before_run(run=record, stack=stack)
    return record


def run_manifest(
    run_id: str,
    flow: Flow,
    graph: Any,
    step_code: Mapping[str, str],
    *,
    flow_file: str,
    flow_path: str,
    code_files: Mapping[str, str],
    resumed_from: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """The run manifest a task reads from the datastore to run anywhere (``python -m lamina
    task``): one shape for runs launched here and runs started by an orchestrator."""
    return {
        "run_id": run_id,
        "flow": flow.name,
        "flow_file": flow_file,
        "flow_path": flow_path,
        "code_files": dict(code_files),
        "params": _jsonable(graph.params),
        "steps": {
            name: {
                "foreach": list(flow.steps[name].options.foreach),
                "inputs": {p: [i.source, i.kind] for p, i in graph.inputs[name].items()},
                "params": list(graph.step_params[name]),
                "code": step_code[name],
            }
            for name in graph.order
        },
        "resumed_from": resumed_from,
        **extra,
    }


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(values), default=repr))


def previous_outcomes(artifacts: ArtifactStore, run_id: str) -> dict[str, dict[str, Any]]:
    """Successful task outcomes of ``run_id`` by cache key, read from the datastore (the
    truth even when the runtime was killed before it recorded them)."""
    reuse: dict[str, dict[str, Any]] = {}
    prefix = task_records_prefix(run_id)
    for key in artifacts.list(prefix):
        data = artifacts.get_json(key)
        if data and data.get("status") == "succeeded" and data.get("cache_key") and data.get("output"):
            reuse[data["cache_key"]] = data
    return reuse


def resume(
    run_id: str,
    *,
    stack: Stack | str | None = None,
    flow: Flow | None = None,
    tags: tuple[str, ...] = (),
    cache: bool = True,
    raise_on_failure: bool = True,
    **params: Any,
) -> Run:
    """Resume a failed, interrupted or crashed run: ``lamina.resume(run_id, alpha=0.2)``.

    ``run_id`` is any run reference: an id or a unique prefix, ``latest`` (the newest run
    of any flow) or ``FLOW/latest`` (the newest successful one). Starts a new run that reuses every successful task of ``run_id`` whose code, inputs
    and parameters are unchanged, and runs the rest. ``flow`` is needed only for a run
    launched from a notebook (it has no flow file to load). Keyword arguments change flow
    parameters.
    """
    from lamina.flow.loader import load_flow_file
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    origin = resolve_run(stack.metadata, run_id)
    if flow is None:
        if not origin.flow_file:
            raise LaminaError(
                f"run {origin.run_id} was launched from a notebook and has no flow file to load",
                hint="resume from Python, where the flow is defined: lamina.resume(run_id, flow=flow)",
            )
        manifest = stack.artifacts.get_json(run_manifest_key(origin.run_id)) or {}
        path = Path(manifest.get("flow_path") or Path(stack.project_root) / origin.flow_file)
        if not path.is_file():
            raise LaminaError(
                f"the flow file of run {origin.run_id} ({path}) is gone",
                hint="run `lamina resume` from the project where the flow was launched",
            )
        flow = load_flow_file(str(path))
    merged = dict(origin.params)
    merged.update(params)
    return launch_run(
        flow,
        stack=stack,
        params=merged,
        tags=tuple(dict.fromkeys((*origin.tags, *tags))),
        cache=cache,
        raise_on_failure=raise_on_failure,
        reuse=previous_outcomes(stack.artifacts, origin.run_id),
        resumed_from=origin.run_id,
    )
