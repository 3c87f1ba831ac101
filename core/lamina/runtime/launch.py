"""Start a run: validate the flow, snapshot its code and environment, record the run,
hand it to the stack's orchestrator, and return the finished run. ``resume`` is the same
with an earlier run's successful tasks offered for reuse."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.config.recorded import datastore_spec, record_stack
from lamina.errors import LaminaError, RunFailedError, RunInterruptedError
from lamina.flow.files import file_param_hashes, with_stored_files
from lamina.logs import get_logger
from lamina.namespaces import Branch, branch_to_dict, resolve_branch
from lamina.records import RunRecord
from lamina.runtime.context import RunContext
from lamina.runtime.envs import manifest_envs, prepare_envs, recorded_locks
from lamina.runtime.layout import run_manifest_key, task_records_prefix
from lamina.runtime.livelogs import EchoLogs

if TYPE_CHECKING:
    from lamina.client import Run
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.runtime.pull import Origin
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
    from lamina.versioning.code import code_hash

    flow_file = flow_file_of(flow)
    if not flow_file:
        return "", {}, ""
    root, sources = code_sources(flow_file, str(stack.project_root))
    files = {rel: artifacts.put_bytes(data) for rel, data in sorted(sources.items())}
    return os.path.relpath(flow_file, root), files, code_hash(files)


def code_sources(flow_file: str, project_root: str) -> tuple[str, dict[str, bytes]]:
    """The snapshot root and the files of a flow's code snapshot (the flow file and the
    local modules it imports), by path relative to that root."""
    from lamina.versioning.code import local_modules, snapshot_files

    root = project_root
    if not flow_file.startswith(root.rstrip(os.sep) + os.sep):
        root = os.path.dirname(flow_file)
    return root, snapshot_files(local_modules(flow_file, root), root)


def stale_code_note(stack: Stack, run: RunRecord) -> str:
    """A one-line note when the flow file here no longer holds the code ``run`` executed
    (its code snapshot), saying that a deployed flow keeps running its snapshot until it is
    deployed again; "" when they match or the flow file is not here."""
    from lamina.datastore.hashing import bytes_digest
    from lamina.versioning.code import code_hash

    if not run.code_hash or not run.flow_file:
        return ""
    manifest = stack.artifacts.get_json(run_manifest_key(run.run_id)) or {}
    path = manifest.get("flow_path") or str(Path(stack.project_root) / run.flow_file)
    if not Path(path).is_file():
        return ""
    _, sources = code_sources(path, str(stack.project_root))
    here = code_hash({rel: bytes_digest(data) for rel, data in sorted(sources.items())})
    if here == run.code_hash:
        return ""
    note = (f"the flow's code here ({path}, {here[:12]}) differs from the snapshot run "
            f"{run.run_id} executed ({run.code_hash[:12]})")
    deployed = manifest.get("deployment_id")
    if deployed:
        note += (f"; the deployed flow ({run.orchestrator or 'its engine'}) keeps running "
                 f"snapshot {deployed} until you `lamina deploy` it again")
    return note


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


def run_branch(
    flow: Flow, stack: Stack, *, branch: str | None = None, production: bool = False
) -> Branch:
    """The branch a run of ``flow`` on ``stack`` belongs to: the stack's own
    (``stack.branch``: the CLI's ``--branch``/``--production``, else the user's own branch
    of the config's project) unless the flow has a project of its own (``Flow(...,
    project=)`` wins over the config's) or ``branch``/``production`` choose another."""
    project = flow.project or stack.branch.project
    if branch is None and not production and project == stack.branch.project:
        return stack.branch
    return resolve_branch(
        user=stack.branch.user, project=project, branch=branch, production=production
    )


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
    branch: str | None = None,
    production: bool = False,
    echo: bool = False,
    recorded_envs: tuple[Mapping[str, Any], Mapping[str, str]] | None = None,
) -> Run:
    """Run ``flow`` to the end and return the finished :class:`lamina.client.Run`.

    The run is recorded in the namespace of its branch (:func:`run_branch`); while it
    runs, ``stack.branch`` is that branch, so every layer a step touches names what it
    writes for it.

    :param echo: stream the tasks' output to this process's stdout and stderr while they
        run, each line prefixed with ``STEP[INDEX]`` (:class:`lamina.runtime.livelogs.EchoLogs`).
    :param recorded_envs: an earlier run's manifest ``envs`` and their locks (``resume``):
        a step whose environment request is unchanged reuses that lock, unresolved.
    """
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    chosen = run_branch(flow, stack, branch=branch, production=production)
    previous, stack.branch = stack.branch, chosen
    try:
        return _launch(flow, stack, params=params, tags=tags, cache=cache,
                       raise_on_failure=raise_on_failure, reuse=reuse,
                       resumed_from=resumed_from, echo=echo, recorded_envs=recorded_envs)
    finally:
        stack.branch = previous


def _launch(
    flow: Flow,
    stack: Stack,
    *,
    params: Mapping[str, Any] | None,
    tags: tuple[str, ...],
    cache: bool,
    raise_on_failure: bool,
    reuse: dict[str, dict[str, Any]] | None,
    resumed_from: str,
    echo: bool = False,
    recorded_envs: tuple[Mapping[str, Any], Mapping[str, str]] | None = None,
) -> Run:
    from lamina.client import Client
    from lamina.versioning.ids import new_run_id

    graph = flow.graph(dict(params or {}))
    problems = stack.validate(for_run=True)
    if problems:
        raise LaminaError(
            f"stack '{stack.name}' is not usable: " + "; ".join(problems),
            hint="lamina stack check",
        )
    artifacts = stack.artifacts
    # per-step environments: resolved and built before anything is recorded or run
    step_envs = prepare_envs(
        flow, graph.order, base_dir=os.path.dirname(flow_file_of(flow)) or os.getcwd(),
        recorded=recorded_envs[0] if recorded_envs else None,
        recorded_locks=recorded_envs[1] if recorded_envs else None,
    )
    extra: dict[str, Any] = {"envs": manifest_envs(flow, step_envs, artifacts)} if step_envs else {}
    graph = with_stored_files(graph, artifacts)  # lamina.File parameters: bytes stored now
    run_id = new_run_id()
    flow_file, code_files, code_hash = snapshot_code(flow, stack, artifacts)
    env = capture_environment(artifacts, flow_file_of(flow))
    recorded_stack = record_stack(stack)
    record = record_run(
        stack, flow, graph, run_id, flow_file=flow_file, flow_path=flow_file_of(flow),
        code_files=code_files, code_hash=code_hash, env=env, tags=tags, pid=os.getpid(),
        orchestrator=running_orchestrator(stack), resumed_from=resumed_from,
        stack_record=recorded_stack, **extra,
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
        envs=step_envs,
    )
    try:
        with EchoLogs(artifacts, run_id) if echo else contextlib.nullcontext():
            final = stack.orchestrator.run(ctx, stack)
    except RunInterruptedError as err:
        stack.hook.lamina_on_run_error(run=stack.metadata.get_run(run_id), error=err, stack=stack)
        raise
    except BaseException as err:
        stack.metadata.finish_run(
            run_id, status="failed", finished_at=time.time(), error=f"{type(err).__name__}: {err}"
        )
        stack.hook.lamina_on_run_error(run=stack.metadata.get_run(run_id), error=err, stack=stack)
        _attach_run(err, stack, run_id)
        raise
    run = Client(stack, namespace=stack.branch.namespace).run(run_id)
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


def running_orchestrator(stack: Stack) -> str:
    """The orchestrator recorded on a run ``stack`` launches here: the stack's, unless
    its ``run`` drives the in-process scheduler (an engine that only compiles, such as
    Airflow, sets ``runs_as = "local"``): a run is recorded with what actually ran it."""
    return str(getattr(stack.orchestrator, "runs_as", "") or stack.spec("orchestrator").name)


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
    branch: Branch | None = None,
    **manifest_extra: Any,
) -> RunRecord:
    """Open a run: write its manifest to the datastore (what tasks anywhere read), create
    its record in the metadata store and call ``lamina_before_run``. One path for runs
    launched here and runs an orchestrator starts (:func:`lamina.runtime.stepwise.start_run`).

    The manifest records the stack (:func:`lamina.config.recorded.record_stack`, or
    ``stack_record`` when the caller made it already), so that ``python -m lamina task``
    rebuilds the run's own components, secrets re-read from its environment.

    The run belongs to ``branch`` (default ``stack.branch``): its record carries the
    namespace, project, branch and production flag, and its manifest the branch and
    tags, so every task (``lamina.current``) and every reader knows where it lives."""
    from lamina.versioning.code import function_code_hash

    branch = branch if branch is not None else stack.branch
    run_tags = tuple(dict.fromkeys(tags))
    step_code = {name: function_code_hash(step.fn) for name, step in flow.steps.items()}
    record = RunRecord(
        run_id=run_id,
        flow=flow.name,
        status="running",
        started_at=time.time(),
        params=dict(graph.params),
        tags=run_tags,
        pid=pid,
        namespace=branch.namespace,
        project=branch.project,
        branch=branch.name,
        production=branch.production,
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
        branch=branch_to_dict(branch), tags=list(run_tags), user=record.user,
        **manifest_extra,
    )
    stack.artifacts.put_json(run_manifest_key(run_id), manifest, exclusive=True)
    stack.metadata.create_run(record)
    log.info("run started", flow=flow.name, run=run_id, stack_name=stack.name,
             namespace=branch.namespace,
             **{k: v for k, v in manifest_extra.items() if k != "envs"})
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
    origin: Stack | str | None = None,
    flow: Flow | None = None,
    tags: tuple[str, ...] = (),
    cache: bool = True,
    raise_on_failure: bool = True,
    snapshot: bool = False,
    echo: bool = False,
    **params: Any,
) -> Run:
    """Resume a failed, interrupted or crashed run: ``lamina.resume(run_id, alpha=0.2)``.

    ``run_id`` is any run reference: an id or a unique prefix, ``latest`` (the newest run
    of any flow) or ``FLOW/latest`` (the newest successful one). Starts a new run that
    reuses every successful task of ``run_id`` whose code, inputs and parameters are
    unchanged, and runs the rest. Keyword arguments change flow parameters.

    :param stack: where the new run runs and is recorded (default: the configured stack).
    :param origin: the stack whose metadata store holds ``run_id`` when it ran elsewhere
        (production back to the laptop: ``resume(run, origin="team", stack="local")``);
        its results and code snapshot are read from the datastore the run recorded, and
        the results the new run reuses are copied into ``stack``'s datastore.
    :param flow: the flow to run; by default the run's flow file in this project when
        it is there (a fix made since is picked up), else the run's code snapshot. A run
        launched from a notebook has neither: pass its flow.
    :param snapshot: load the flow from the run's code snapshot even when the file is here.
    :param echo: stream the tasks' output to this process's stdout and stderr while they
        run, each line prefixed with ``STEP[INDEX]`` (as ``flow.run(echo=True)``).
    """
    from lamina.runtime.pull import copy_objects, open_origin
    from lamina.stack import resolve_stack

    stack = resolve_stack(stack)
    # latest / FLOW/latest: in the resuming user's namespace on the same stack, in every
    # namespace of another (--from) stack; a run named by id is found anywhere
    found = open_origin(run_id, stack if origin is None else resolve_stack(origin),
                        namespace=stack.branch.namespace if origin is None else None)
    if flow is None:
        flow = resume_flow(found, stack, snapshot=snapshot)
    note = stale_code_note(stack, found.record) if origin is None and not snapshot else ""
    if note:
        log.warning(note)
    merged = dict(found.record.params)
    merged.update(params)
    reuse = previous_outcomes(found.artifacts, found.record.run_id)
    if found.artifacts.datastore.url.rstrip("/") != stack.datastore.url.rstrip("/"):
        copy_objects(found.artifacts, stack.artifacts,
                     [*(o["output"]["key"] for o in reuse.values()),
                      *file_param_hashes(merged)])
    return launch_run(
        flow,
        stack=stack,
        params=merged,
        tags=tuple(dict.fromkeys((*carried_tags(found.record), *tags))),
        cache=cache,
        raise_on_failure=raise_on_failure,
        reuse=reuse,
        resumed_from=found.record.run_id,
        echo=echo,
        recorded_envs=(found.manifest.get("envs") or {}, recorded_locks(found.artifacts, found.manifest)),
    )


def carried_tags(origin: RunRecord) -> list[str]:
    """The tags a resumed run takes over from ``origin``: all but the engine's own labels
    of the run it made (``airflow-dag:...``, ``airflow-run:...`` for a run an Airflow
    DAG started), which describe that engine's run, not the new one."""
    engine = origin.orchestrator
    if not engine or engine == "local":
        return list(origin.tags)
    return [t for t in origin.tags if not (t.startswith(f"{engine}-") and ":" in t)]


def resume_flow(found: Origin, stack: Stack, *, snapshot: bool = False) -> Flow:
    """The flow a resume of ``found`` runs: the run's flow file in this project when it is
    there (unless ``snapshot``), else the run's code snapshot from its datastore."""
    from lamina.flow.loader import load_flow_file
    from lamina.runtime.remote import load_snapshot_flow

    record = found.record
    if not record.flow_file:
        raise LaminaError(
            f"run {record.run_id} was launched from a notebook and has no flow file to load",
            hint="resume from Python, where the flow is defined: lamina.resume(run_id, flow=flow)",
        )
    if not snapshot:
        for path in (found.manifest.get("flow_path") or "",
                     str(Path(stack.project_root) / record.flow_file)):
            if path and Path(path).is_file():
                return load_flow_file(path)
    if not found.manifest.get("code_files"):
        raise LaminaError(
            f"the flow file of run {record.run_id} ({record.flow_file}) is not in this "
            f"project and its code snapshot is not in {found.artifacts.datastore.url}",
            hint="run `lamina resume` from the project where the flow was launched, or "
            "name the stack the run ran on: --from STACK",
        )
    return load_snapshot_flow(found.artifacts, {**found.manifest, "run_id": record.run_id})


def _attach_run(err: BaseException, stack: Stack, run_id: str) -> None:
    """Hang the run an error ended on the error (``err.lamina_run``), so a caller can show
    it: the CLI prints the run's summary before the one line of the cause."""
    from lamina.client import Client

    try:
        err.lamina_run = Client(stack).run(run_id)  # type: ignore[attr-defined]
    except Exception:  # the metadata store is down too: the cause alone is shown
        pass
