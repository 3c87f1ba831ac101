"""Drive a run one command at a time, for engines that schedule the tasks themselves.

An external scheduler (Airflow, Argo...) cannot call the in-process scheduler: it runs
separate commands and passes small values between them. A run then takes

1. :func:`start_run`: record the run (run record in the metadata store, manifest in the
   datastore) from a *deployed* code snapshot and the engine's parameters;
2. per step, :func:`prepare_step`: resolve its foreach elements and write the step plan
   that ``python -m lamina task`` reads; it returns the number of tasks, which the engine
   fans out over;
3. per task, ``python -m lamina task --datastore URL --run RUN --step S --index I``;
4. :func:`finish_run`: copy every task's outcome from the datastore to the metadata store
   and close the run (succeeded or failed), so ``lamina runs/show/diff``, the Client and
   ``resume`` see an ordinary run.

Each function reuses the local runtime's pieces (code snapshot, manifest, foreach fan-out,
task records), so a run driven this way is recorded exactly like a local one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError
from lamina.logs import get_logger
from lamina.records import ArtifactRef, RunRecord, TaskRecord
from lamina.runtime.layout import step_plan_key, task_record_key

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.stack import Stack

log = get_logger("lamina.stepwise")


# -- start ------------------------------------------------------------------------------


def load_deployment(artifacts: ArtifactStore, flow: str, deployment_id: str) -> dict[str, Any]:
    """The record :func:`lamina.deploy.build_deployment_plan` stored for a deployment."""
    from lamina.deploy import deployment_record_key

    key = deployment_record_key(flow, deployment_id)
    record = artifacts.get_json(key)
    if record is None:
        raise LaminaError(
            f"flow '{flow}' has no deployment {deployment_id} in the datastore at "
            f"{artifacts.datastore.url} (no record {key})",
            hint="deploy the flow again (`lamina deploy FLOW.py --stack S`) and make sure the "
            "engine's tasks use the same datastore",
        )
    return record


def deployment_stack(datastore_spec: str, flow: str, deployment_id: str) -> Stack:
    """The stack a deployment recorded, rebuilt from the datastore the engine's task
    names (``--datastore-spec``): how a process of the engine (a Kubernetes pod) starts a
    run without the deploying machine's config file. A deployment recorded before stacks
    were recorded runs on its datastore's stack."""
    from lamina.config.recorded import parse_datastore_spec
    from lamina.stack import Stack

    boot = Stack.from_manifest(parse_datastore_spec(datastore_spec))
    record = load_deployment(boot.artifacts, flow, deployment_id).get("stack_record")
    return Stack.from_manifest(record, plugins=boot.plugins) if record else boot


def coerce_params(flow: Flow, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters from an engine (JSON values, or strings typed in a UI form) parsed by
    each parameter's annotation, as ``--set`` does."""
    from lamina.flow.graph import NO_ANNOTATION, flow_parameters, parse_param_value

    known = flow_parameters(flow)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        fp = known.get(name)
        annotation = fp.annotation if fp else NO_ANNOTATION
        if isinstance(value, str) and annotation not in (str, NO_ANNOTATION):
            try:
                value = parse_param_value(value, annotation)
            except (ValueError, TypeError) as err:
                from lamina.errors import ParameterError

                raise ParameterError(
                    f"parameter {name}={value!r} of flow '{flow.name}': {err}",
                    hint=f"give '{name}' a value of type {getattr(annotation, '__name__', annotation)}",
                ) from None
        values[name] = value
    return values


def start_run(
    stack: Stack,
    *,
    flow: str,
    deployment_id: str,
    params: Mapping[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    orchestrator: str = "",
    orchestrator_run_id: str = "",
) -> str:
    """Record a new run of a deployed code snapshot and return its run id.

    :param flow: the flow's name.
    :param deployment_id: the snapshot (from :class:`lamina.deploy.DeploymentPlan`).
    :param params: flow parameters given by the engine (defaults fill the rest).
    :param tags: labels recorded with the run (the engine's DAG and run ids...).
    :param orchestrator: the engine's name, recorded on the run.
    :param orchestrator_run_id: the engine's id of this run.

    The run is recorded on the branch the deployment was made for (its record's
    ``project``/``branch``/``production``/``deployed_by``): ``stack.branch`` is set from
    it, and the run's manifest carries it to every task.
    """
    from lamina.flow.files import with_stored_files
    from lamina.namespaces import branch_from_dict
    from lamina.runtime.envs import manifest_envs, prepare_envs
    from lamina.runtime.launch import capture_environment, flow_file_of, record_run
    from lamina.runtime.remote import load_snapshot_flow
    from lamina.versioning.ids import new_run_id

    artifacts = stack.artifacts
    deployment = load_deployment(artifacts, flow, deployment_id)
    # the run belongs to the branch that deployed it, not to whoever the engine runs as
    stack.branch = branch_from_dict(deployment) or stack.branch
    loaded = load_snapshot_flow(artifacts, {**deployment, "run_id": f"deployment {deployment_id}"})
    graph = with_stored_files(loaded.graph(coerce_params(loaded, params or {})), artifacts)
    # per-step environments: resolved (or taken from the lock cache) and built here, their
    # locks recorded; each task builds its step's from the recorded lock where it runs
    step_envs = prepare_envs(loaded, graph.order, base_dir=os.path.dirname(flow_file_of(loaded)) or ".")
    extra: dict[str, Any] = {"envs": manifest_envs(loaded, step_envs, artifacts)} if step_envs else {}
    run_id = new_run_id()
    env = capture_environment(artifacts, "")
    env["git_commit"] = deployment.get("git_commit", "")
    env["git_dirty"] = deployment.get("git_dirty")
    record_run(
        stack, loaded, graph, run_id, flow_file=deployment["flow_file"],
        flow_path=deployment.get("flow_path", ""), code_files=deployment["code_files"],
        code_hash=deployment["code_hash"], env=env, tags=tags,
        pid=0,  # no local process drives the run: never report it as crashed
        orchestrator=orchestrator, orchestrator_run_id=orchestrator_run_id,
        deployment_id=deployment_id, branch=stack.branch, **extra,
    )
    return run_id


# -- prepare ----------------------------------------------------------------------------


def prepare_step(artifacts: ArtifactStore, run_id: str, step: str) -> int:
    """Write the plan of ``step`` (its task count and foreach elements) once its upstream
    steps succeeded, and return the task count (0 for a foreach over an empty list)."""
    from lamina.runtime.remote import read_manifest, task_output

    manifest = read_manifest(artifacts, run_id)
    info = manifest["steps"].get(step)
    if info is None:
        raise LaminaError(
            f"run {run_id} has no step '{step}'", hint=f"steps: {', '.join(manifest['steps'])}"
        )
    names: list[str] = info["foreach"]
    if not names:
        artifacts.put_json(step_plan_key(run_id, step), {"step": step, "count": 1, "foreach": {}})
        return 1
    results: dict[str, list[ArtifactRef | None]] = {}
    for name in names:
        if manifest["steps"][name]["foreach"]:
            upstream = artifacts.get_json(step_plan_key(run_id, name))
            if upstream is None:
                raise LaminaError(
                    f"step '{step}' of run {run_id} fans out over '{name}', which has not run",
                    hint=f"prepare and run '{name}' first: steps follow the flow's DAG",
                )
            count = upstream["count"]
            results[name] = [task_output(artifacts, run_id, name, i) for i in range(count)]
        else:
            results[name] = [task_output(artifacts, run_id, name, 0)]
    scheduler = _scheduler_for(artifacts, manifest)
    scheduler.results = results
    from lamina.runtime.scheduler import ForeachError

    try:
        element_lists = scheduler.foreach_elements(step)
    except ForeachError as err:
        _record_step_failure(artifacts, run_id, step, str(err), scheduler.ctx.flow)
        raise LaminaError(str(err), hint="fix the step the foreach fans out over") from None
    count = 1
    for name in names:
        count *= len(element_lists[name])
    plan: dict[str, Any] = {
        "step": step,
        "count": count,
        "foreach": {n: [ref.to_dict() for ref, _ in element_lists[n]] for n in names},
        "shown": {n: [_shown(v) for _, v in element_lists[n]] for n in names},
    }
    nesting = scheduler.nest_plan(step)
    if nesting is not None:
        plan["nested"] = nesting
    artifacts.put_json(step_plan_key(run_id, step), plan)
    return count


def _shown(value: Any) -> str:
    return repr(value)  # an ElementText's repr is its text


def _scheduler_for(artifacts: ArtifactStore, manifest: dict[str, Any]) -> Any:
    """A scheduler over the run's snapshot flow, to reuse its foreach fan-out."""
    from lamina.runtime.context import RunContext
    from lamina.runtime.remote import load_snapshot_flow
    from lamina.runtime.scheduler import Scheduler
    from lamina.stack import Stack

    flow = load_snapshot_flow(artifacts, manifest)
    graph = flow.graph(coerce_params(flow, manifest["params"]))
    # the stack the artifacts belong to (the run's recorded one); a bare store gets the URL's
    stack = artifacts.stack or Stack.for_datastore_url(artifacts.datastore.url)
    record = RunRecord(run_id=manifest["run_id"], flow=flow.name, status="running", started_at=0.0)
    ctx = RunContext(
        run_id=manifest["run_id"], flow=flow, graph=graph, stack=stack, artifacts=artifacts,
        record=record, step_code={n: i["code"] for n, i in manifest["steps"].items()},
    )
    return Scheduler(ctx, stage_elements=False)  # its plan's elements are read by tasks elsewhere


def _record_step_failure(
    artifacts: ArtifactStore, run_id: str, step: str, message: str, flow: Flow
) -> None:
    now = time.time()
    artifacts.put_json(step_plan_key(run_id, step), {"step": step, "count": 0, "foreach": {},
                                                     "failed": message})
    artifacts.put_json(task_record_key(run_id, step, 0), {
        "run_id": run_id, "step": step, "index": 0, "attempt": 1, "status": "failed",
        "started_at": now, "finished_at": now, "output": None, "error": message,
        "error_type": "ForeachError", "location": flow.steps[step].where,
        "exit_reason": "foreach", "host": socket.gethostname(),
    })


# -- finish -----------------------------------------------------------------------------


def _element_text(plan: dict[str, Any], names: list[str], index: int) -> str:
    shown = plan.get("shown") or {}
    if not names or not shown:
        return ""
    parts = []
    rest = index
    for name in reversed(names):
        values = shown.get(name) or []
        if not values:
            return ""
        rest, position = divmod(rest, len(values))
        parts.append(f"{name}={values[position]}")
    text = ", ".join(reversed(parts))
    return text if len(text) <= 200 else text[:197] + "..."


def collect_task_records(
    artifacts: ArtifactStore, run_id: str, *, live: bool = False
) -> tuple[list[TaskRecord], bool]:
    """Every task of the run as a metadata record, read from the datastore, and whether
    every step ran all its tasks successfully. A task that was planned but left no
    outcome (killed on a timeout, its worker lost) is recorded as failed; with ``live``
    (the run is still going) it is left out: it may be running."""
    from lamina.runtime.remote import build_spec, read_manifest

    manifest = read_manifest(artifacts, run_id)
    records: list[TaskRecord] = []
    complete = True
    for step, info in manifest["steps"].items():
        plan = artifacts.get_json(step_plan_key(run_id, step))
        if plan is None:
            complete = False
            continue
        count = max(plan["count"], 1 if plan.get("failed") else 0)
        for index in range(count):
            data = artifacts.get_json(task_record_key(run_id, step, index))
            if data is None:
                complete = False
                if live:
                    continue
                records.append(TaskRecord(
                    run_id=run_id, step=step, index=index, status="failed",
                    error="the task left no outcome: it was killed (a timeout?) or its "
                    "worker was lost", error_type="TaskLost", exit_reason="killed",
                    element=_element_text(plan, info["foreach"], index),
                ))
                continue
            if data.get("status") != "succeeded":
                complete = False
            inputs: dict[str, Any] = {}
            if not plan.get("failed"):
                try:
                    inputs = build_spec(
                        artifacts, manifest, step, index, int(data.get("attempt", 1))
                    ).input_keys()
                except LaminaError:
                    pass
            output = data.get("output")
            records.append(TaskRecord(
                run_id=run_id, step=step, index=index, status=data["status"],
                attempt=int(data.get("attempt", 1)), started_at=data.get("started_at"),
                finished_at=data.get("finished_at"),
                output=ArtifactRef.from_dict(output) if output else None, inputs=inputs,
                element=_element_text(plan, info["foreach"], index),
                error=data.get("error", ""), error_type=data.get("error_type", ""),
                location=data.get("location", ""), traceback=data.get("traceback", ""),
                exit_reason=data.get("exit_reason", ""), stdout_key=data.get("stdout_key", ""),
                stderr_key=data.get("stderr_key", ""), cache_key=data.get("cache_key", ""),
                reused_from=data.get("reused_from", ""), metrics=dict(data.get("metrics") or {}),
                data_inputs=list(data.get("data_inputs") or []),
            ))
    return records, complete


def finish_run(stack: Stack, run_id: str) -> RunRecord:
    """Record every task of ``run_id`` in the metadata store and close the run:
    ``succeeded`` when every step ran all its tasks successfully, else ``failed``. A run
    that is already closed is returned as it is."""
    from lamina.errors import RunFailedError

    metadata = stack.metadata
    current = metadata.get_run(run_id)
    if current.status != "running":
        return current
    records, complete = collect_task_records(stack.artifacts, run_id)
    if records:
        metadata.record_tasks(records)
    failures = [r for r in records if r.status != "succeeded"]
    status = "succeeded" if complete and not failures else "failed"
    error = ""
    if status == "failed":
        error = "; ".join(
            f"{t.step}[{t.index}] {t.error} ({t.location})" for t in failures[:3]
        ) or "some steps did not run"
    metadata.finish_run(run_id, status=status, finished_at=time.time(), error=error)
    final = metadata.get_run(run_id)
    log.info("run finished", flow=final.flow, run=run_id, status=status)
    if status == "succeeded":
        stack.hook.lamina_after_run(run=final, stack=stack)
    else:
        failure = RunFailedError(
            f"run {run_id} of flow '{final.flow}' failed: {error}",
            hint=f"lamina show {run_id}   (then fix and: lamina resume {run_id})",
        )
        stack.hook.lamina_on_run_error(run=final, error=failure, stack=stack)
    return final


def task_indexes(count: int) -> list[int]:
    """What an engine maps a step's tasks over."""
    return list(range(count))


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = [
    "coerce_params",
    "collect_task_records",
    "finish_run",
    "load_deployment",
    "prepare_step",
    "start_run",
    "task_indexes",
]
