"""``python -m lamina task --datastore-spec JSON --run RUN --step STEP [--index I]``.

The one entry point every remote compute backend launches. Given only the datastore (the
stack's datastore component and its recorded options; a bare ``--datastore URL`` is the
fallback) it reads the run manifest, rebuilds the run's own stack from what the run
recorded (every component, secrets re-read from the environment), materializes the run's
code snapshot (not whatever is on the machine's disk), resolves the task's inputs from its
upstream tasks' outcome records, runs the step and writes the outcome back. Exit code 0
if the task succeeded.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import ArtifactNotFoundError, ConfigError, LaminaError
from lamina.records import ArtifactRef, TaskOutcome, TaskSpec
from lamina.runtime.layout import run_manifest_key, step_plan_key, task_record_key

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.stack import Stack


def read_manifest(artifacts: ArtifactStore, run_id: str) -> dict[str, Any]:
    """The run's manifest (flow, code snapshot, steps, params) from the datastore; what a
    process that was given only the datastore and a run id starts from."""
    manifest = artifacts.get_json(run_manifest_key(run_id))
    if manifest is None:
        raise ArtifactNotFoundError(
            f"run {run_id} has no manifest in the datastore at {_public_url(artifacts)}",
            hint="check --datastore-spec (or --datastore) and --run: the task must see the "
            "datastore the run was launched with",
        )
    return manifest


def materialize_code(artifacts: ArtifactStore, manifest: dict[str, Any]) -> Path:
    """Write the run's code snapshot to a folder keyed by its content, once per machine."""
    files: dict[str, str] = manifest.get("code_files") or {}
    if not files:
        raise LaminaError(
            f"run {manifest['run_id']} has no code snapshot (it was launched from a notebook)",
            hint="launch flows that run remotely from a .py file",
        )
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / "lamina-code" / digest
    if not (root / ".complete").exists():
        for rel, key in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifacts.get_bytes(key, name=f"code snapshot {rel}"))
        (root / ".complete").write_text("ok")
    return root


def load_snapshot_flow(artifacts: ArtifactStore, manifest: dict[str, Any]) -> Flow:
    """The run's flow, imported from its code snapshot in the datastore (never from
    whatever is on this machine's disk)."""
    from lamina.flow.loader import load_flow_file
    from lamina.runtime.task import register_code_root

    root = materialize_code(artifacts, manifest)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    flow_path, flow_file = manifest.get("flow_path") or "", manifest["flow_file"]
    if flow_path.endswith(flow_file):  # where the run was launched from: errors name it
        register_code_root(str(root), flow_path[: -len(flow_file)])
    flow = load_flow_file(str(root / manifest["flow_file"]))
    if flow.name != manifest["flow"]:
        raise LaminaError(
            f"the code snapshot of run {manifest['run_id']} defines flow '{flow.name}', "
            f"not '{manifest['flow']}'"
        )
    return flow


def task_output(artifacts: ArtifactStore, run_id: str, step: str, index: int) -> ArtifactRef:
    """The result reference of a finished upstream task, from its outcome record; a clear
    error while that task has not succeeded."""
    data = artifacts.get_json(task_record_key(run_id, step, index))
    if not data or data.get("status") != "succeeded" or not data.get("output"):
        raise LaminaError(
            f"task {run_id}/{step}/{index} has no successful result yet",
            hint="run the upstream tasks first: the orchestrator launches tasks in DAG order",
        )
    return ArtifactRef.from_dict(data["output"])


def _plan(artifacts: ArtifactStore, run_id: str, step: str) -> dict[str, Any]:
    plan = artifacts.get_json(step_plan_key(run_id, step))
    if plan is None:
        raise LaminaError(
            f"step '{step}' of run {run_id} was not launched (no step plan in the datastore)",
            hint="the orchestrator writes the plan of a step before its tasks start",
        )
    return plan


def build_spec(
    artifacts: ArtifactStore, manifest: dict[str, Any], step: str, index: int, attempt: int
) -> TaskSpec:
    """The :class:`TaskSpec` the orchestrator would have sent, rebuilt from records."""
    from lamina.runtime.cache import cache_key

    run_id = manifest["run_id"]
    info = manifest["steps"].get(step)
    if info is None:
        raise LaminaError(
            f"run {run_id} has no step '{step}'", hint=f"steps: {', '.join(manifest['steps'])}"
        )
    inputs: dict[str, Any] = {}
    for param, (source, kind) in info["inputs"].items():
        if kind == "value":
            inputs[param] = task_output(artifacts, run_id, source, 0)
        elif kind in ("list", "groups", "group"):
            plan = _plan(artifacts, run_id, source)
            refs = [task_output(artifacts, run_id, source, i) for i in range(plan["count"])]
            if kind == "list":
                inputs[param] = refs
                continue
            from lamina.runtime.scheduler import split_groups

            groups = split_groups(refs, (plan.get("nested") or {}).get("sizes") or [])
            inputs[param] = groups if kind == "groups" else groups[index]
    elements: dict[str, ArtifactRef] = {}
    names = info["foreach"]
    if names:
        plan = _plan(artifacts, run_id, step)
        if not 0 <= index < plan["count"]:
            raise LaminaError(
                f"step '{step}' of run {run_id} has no task {index}",
                hint=f"task indexes are 0..{plan['count'] - 1}",
            )
        rest = index
        for name in reversed(names):
            refs = plan["foreach"][name]
            rest, position = divmod(rest, len(refs))
            elements[name] = ArtifactRef.from_dict(refs[position])
    params = {p: manifest["params"][p] for p in info["params"]}
    key = cache_key(
        flow=manifest["flow"], step=step, code_hash=info["code"], inputs=inputs,
        elements=elements, params=params,
    )
    return TaskSpec(
        run_id=run_id, flow=manifest["flow"], step=step, index=index, attempt=attempt,
        datastore_url=_public_url(artifacts), inputs=inputs, elements=elements,
        params=params, cache_key=key,
    )


def task_stack(
    run_id: str,
    *,
    datastore_spec: str = "",
    datastore_url: str = "",
    env: Mapping[str, str] | None = None,
    plugins: Any = None,
) -> tuple[Stack, dict[str, Any]]:
    """The run's own stack, rebuilt from its manifest, and the manifest: what a process
    given only the task command runs a task on.

    The manifest is read through the datastore the command names: ``datastore_spec`` (the
    stack's datastore component and its recorded options, what the launcher passes as
    ``--datastore-spec``), or, as the fallback, ``datastore_url`` served by the plain
    component for its scheme. Then every component is rebuilt from the stack the run
    recorded, the datastore included, so a task never bypasses the stack's own datastore
    plugin. A run recorded before stacks were recorded runs on the URL's stack. The
    stack's ``branch`` is the run's (from the manifest).

    :raises lamina.errors.ConfigError: neither datastore was given, or a recorded
        datastore option cannot be rebuilt here (a secret not recorded, a variable unset).
    """
    from lamina.config.recorded import parse_datastore_spec
    from lamina.kernel.pluginmanager import PluginManager
    from lamina.namespaces import branch_from_dict
    from lamina.stack import Stack

    plugins = plugins or PluginManager()
    if datastore_spec:
        boot = Stack.from_manifest(parse_datastore_spec(datastore_spec), env=env, plugins=plugins)
    elif datastore_url:
        boot = Stack.for_datastore_url(datastore_url, env=env, plugins=plugins)
    else:
        raise ConfigError(
            "a task needs the run's datastore: neither --datastore-spec nor --datastore "
            "was given",
            hint="launch tasks with the command lamina.compute.remote_common.task_command "
            "builds (it passes --datastore-spec)",
        )
    manifest = read_manifest(boot.artifacts, run_id)
    record = manifest.get("stack")
    if not record:  # a run recorded before its stack was
        stack = boot
    else:
        boot.close()
        stack = Stack.from_manifest(record, env=env, plugins=plugins)
    branch = branch_from_dict(manifest.get("branch"))
    if branch is not None:  # the run's branch: every layer a task touches names for it
        stack.branch = branch
    return stack, manifest


def _public_url(artifacts: ArtifactStore) -> str:
    """The datastore's URL with each ``${VAR}`` the stack expanded written back."""
    url = str(artifacts.datastore.url)
    return artifacts.stack.redact(url) if artifacts.stack is not None else url


def check_task_arguments(run_id: str, step: str, index: int, attempt: int) -> None:
    """Refuse a task address no run can have: an empty run id, a step name a flow cannot
    define, a negative index, an attempt below 1.

    :raises lamina.errors.LaminaError: the first bad argument, named with the fix.
    """
    from lamina.flow.names import name_problem

    problem = ""
    if not run_id or "/" in run_id or run_id.strip() != run_id:
        problem, hint = f"--run {run_id!r} is not a run id", "give the id `lamina runs` shows"
    elif name_problem(step):
        problem = f"--step {step!r} {name_problem(step)}"
        hint = "give the step's name as the flow defines it"
    elif index < 0:
        problem, hint = f"--index {index} is negative", "task indexes start at 0"
    elif attempt < 1:
        problem, hint = f"--attempt {attempt} is below 1", "attempts are numbered from 1"
    if problem:
        raise LaminaError(f"lamina task: {problem}", hint=hint)


def run_remote_task(
    datastore_url: str,
    run_id: str,
    step: str,
    index: int = 0,
    attempt: int = 1,
    *,
    datastore_spec: str = "",
) -> TaskOutcome:
    """Run one task from what is in the datastore; return its (recorded) outcome.

    The task runs on the run's own stack (:func:`task_stack`): ``datastore_spec`` says
    how to reach the datastore; ``datastore_url`` alone is the fallback for a stack whose
    datastore is the plain component for the URL's scheme.
    """
    from lamina.runtime.task import check_not_finished, execute_task, read_outcome

    check_task_arguments(run_id, step, index, attempt)
    stack, manifest = task_stack(run_id, datastore_spec=datastore_spec, datastore_url=datastore_url)
    try:
        artifacts = stack.artifacts
        check_not_finished(read_outcome(artifacts, run_id, step, index), f"{run_id}/{step}/{index}")
        if step in (manifest.get("envs") or {}):  # the step's own environment: run it there
            from lamina.runtime.envs import run_task_in_env

            spec = attrs.evolve(build_spec(artifacts, manifest, step, index, attempt),
                                datastore_spec=datastore_spec)
            in_env = run_task_in_env(spec, artifacts, manifest)
            if in_env is not None:
                return in_env
        flow = load_snapshot_flow(artifacts, manifest)
        if step not in flow.steps:
            raise LaminaError(
                f"flow '{flow.name}' of run {run_id} has no step '{step}'",
                hint=f"steps: {', '.join(flow.steps)}",
            )
        spec = build_spec(artifacts, manifest, step, index, attempt)
        spec = attrs.evolve(spec, datastore_spec=datastore_spec)
        return execute_task(spec, flow.steps[step].fn, stack)
    finally:
        stack.close()
